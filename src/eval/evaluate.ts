/** Evaluation of a trained model on a split: metrics, confusion matrix and inference speed. */
import type { Dataset, SplitName } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import type { FusionModel } from '../models/fusion_model.js';
import { checkTrainingData } from '../train/train.js';
import { computeMetrics, type Metrics } from './metrics.js';

export interface EvaluateOptions {
  split?: SplitName;
  batchSize?: number;
  sentiment?: boolean;
}

export interface Evaluation {
  split: SplitName;
  n: number;
  metrics: Metrics;
  confusion?: number[][];
  inferSamplesPerSec: number;
  /** Raw outputs [n, outWidth] (logits or values). */
  raw: Float32Array;
}

export function evaluate(fm: FusionModel, data: Dataset, opts: EvaluateOptions = {}): Evaluation {
  const split = opts.split ?? 'test';
  const s = data.splits[split];
  if (!s || s.n === 0) {
    throw new ModalfuseError(`the data set has no "${split}" split`, { expected: split, found: Object.keys(data.splits) });
  }
  checkTrainingData(fm, { ...data, splits: { [split]: s } });
  const pre = fm.preprocess(s.features);
  const t0 = performance.now();
  const raw = fm.predictPreprocessed(pre, s.n, opts.batchSize ?? 256);
  const secs = (performance.now() - t0) / 1000;
  const r = computeMetrics(fm.meta.task, raw, s.labels, { sentiment: opts.sentiment });
  return { split, n: s.n, metrics: r.metrics, confusion: r.confusion, inferSamplesPerSec: secs > 0 ? s.n / secs : 0, raw };
}
