/**
 * The registry entries of every built-in method, one file per family; importing this
 * module registers them all. A new family is one file here and one line below.
 */
import './simple.js';
import './tensor.js';
import './attention.js';
import './coordinated.js';
import './generative.js';

export { SIMPLE_METHODS } from './simple.js';
export { TENSOR_METHODS } from './tensor.js';
export { ATTENTION_METHODS, MFN_PRESET_HIDDEN } from './attention.js';
export { COORDINATED_METHODS } from './coordinated.js';
export { GENERATIVE_METHODS } from './generative.js';
