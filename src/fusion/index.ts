/** Every fusion layer; importing this module registers them all for serialization. */
export * from './base.js';
export * from './simple.js';
export * from './pixel.js';
export * from './late.js';
export * from './tensor.js';
