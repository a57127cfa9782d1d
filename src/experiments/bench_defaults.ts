/** Defaults of the benchmark (`runBench`, `modalfuse bench`, `npm start`); a module of its own so that the CLI's help can show them without loading TensorFlow.js. */
export const BENCH_DEFAULTS = {
  datasets: ['synthetic'],
  /** 15 epochs with patience 5: the default suite finishes in about 3-4 minutes on 2 cores. */
  epochs: 15,
  patience: 5,
  batchSize: 64,
  lr: 1e-3,
  seeds: [1],
  /** Epochs under `quick` (small data, for tests and smoke runs) when `epochs` is not given. */
  quickEpochs: 3,
};

/** Data sets `modalfuse data build` (experiments/workflows.ts buildDataset) knows; here so that the CLI's help needs no TensorFlow.js. */
export const BUILDABLE = ['avmnist'];
