/** Data: the dataset type, its checks and the file formats. */
export * from './types.js';
export * from './validate.js';
export * from './npy.js';
export * from './folder.js';
export * from './csv.js';
export * from './hdf5.js';
