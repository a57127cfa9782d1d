/** Evaluation of a trained model on a split: metrics, confusion matrix and inference speed. */
import type { Dataset, SplitName } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import type { FusionModel } from '../models/fusion_model.js';
import type { Metrics } from '../tasks/index.js';
import { checkDataFitsModel } from '../models/fit_check.js';
import { validateDataset } from '../data/validate.js';

export interface EvaluateOptions {
  split?: SplitName;
  batchSize?: number;
  sentiment?: boolean;
  /**
   * Modalities to treat as missing: a method that handles missing modalities gets them in
   * its presence mask; for every method their input is the training mean.
   */
  missing?: string[];
  /** Retrieval: also rank gallery -> query (`reverse*` keys). */
  reverse?: boolean;
}

export interface Evaluation {
  split: SplitName;
  n: number;
  metrics: Metrics;
  confusion?: number[][];
  /** Multi-target regression: MAE and r per target (DESIGN.md `metricsPerTarget`). */
  metricsPerTarget?: Record<string, Metrics>;
  inferSamplesPerSec: number;
  /** Raw prediction outputs [n, outWidth] (logits or values); empty for retrieval. */
  raw: Float32Array;
  /** Every output the task reads, by name. */
  outputs: Record<string, Float32Array>;
}

export function evaluate(fm: FusionModel, data: Dataset, opts: EvaluateOptions = {}): Evaluation {
  const split = opts.split ?? 'test';
  const s = data.splits[split];
  if (!s || s.n === 0) {
    throw new ModalfuseError(`the data set has no "${split}" split`, { expected: split, found: Object.keys(data.splits) });
  }
  const one = { ...data, splits: { [split]: s } };
  validateDataset(one);
  checkDataFitsModel(fm, one, `data set "${data.name}"`);
  const task = fm.task;
  const missing = fm.checkMissing(opts.missing);
  const pre = fm.preprocess(s.features, missing, s.lengths);
  const t0 = performance.now();
  const outs = fm.outputsPreprocessed(pre, s.n, { batchSize: opts.batchSize ?? 256, names: task.reads, missing });
  const secs = (performance.now() - t0) / 1000;
  const r = task.evaluate(outs, s.labels, { sentiment: opts.sentiment, reverse: opts.reverse ?? task.kind === 'retrieval' });
  return {
    split,
    n: s.n,
    metrics: r.metrics,
    confusion: r.confusion,
    ...(r.metricsPerTarget ? { metricsPerTarget: r.metricsPerTarget } : {}),
    inferSamplesPerSec: secs > 0 ? s.n / secs : 0,
    raw: outs.values.main ?? new Float32Array(0),
    outputs: outs.values,
  };
}
