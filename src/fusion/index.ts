/** Every fusion layer; importing this module registers them all for serialization. */
export * from './base.js';
export * from './simple.js';
export * from './pixel.js';
export * from './late.js';
export * from './tensor_ops.js';
export * from './tfn.js';
export * from './lmf.js';
export * from './ptp_base.js';
export * from './ptp.js';
export * from './hpfn.js';
export * from './mfn.js';
export * from './modal_attention.js';
export * from './dfg.js';
export * from './rrf.js';
export * from './learned_scale.js';
export * from './presence.js';
