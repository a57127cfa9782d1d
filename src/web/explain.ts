/**
 * Prediction for one sample with modalities switched off, each modality's contribution,
 * and the fusion weights a model exposes. No `node:` import: the demo page's worker and
 * Node use this same code, so their numbers agree.
 *
 * A modality is "removed" by setting its standardised input to zero, i.e. to the training
 * mean of every feature (the only neutral value a fusion network has seen on average).
 */
import type { FusionModel } from '../models/fusion_model.js';
import { rawToOutput } from '../models/fusion_model.js';
import { ModalfuseError } from '../errors.js';
import { sizeOf } from '../data/types.js';
import { checkFeatures } from '../models/input_check.js';

/** Weights a fusion layer puts on its sources (late-learned, hybrid, ...). */
export interface FusionWeights {
  /** Layer name in the network. */
  layer: string;
  /** Combination mode where the layer has one (`learned`, `mean`, `vote`). */
  mode?: string;
  /** Source names, in the order of `values` (modalities; `early` for hybrid's early head). */
  sources: string[];
  values: number[];
}

export interface Explanation {
  /** The model's output for the sample: probabilities (classification, multi-label) or values. */
  probs: number[];
  /** Index of the largest output (the predicted class; for regression the first target). */
  predicted: number;
  /** Modalities switched off in this prediction. */
  disabled: string[];
  /**
   * modality -> output[predicted] with the current inputs minus output[predicted] with this
   * modality removed as well (positive: the modality pushes toward the prediction);
   * null for a modality already switched off.
   */
  contributions: Record<string, number | null>;
  /** Weights of the model's fusion layers that have them. */
  weights: FusionWeights[];
}

interface WeightedLayer {
  name: string;
  mode?: unknown;
  modalities?: unknown;
  sourceWeights(): number[];
}

/** Weights of every layer that exposes `sourceWeights()` (LateCombine, later attention layers). */
export function fusionWeights(fm: FusionModel): FusionWeights[] {
  const out: FusionWeights[] = [];
  for (const layer of fm.model.layers as unknown as WeightedLayer[]) {
    if (typeof layer.sourceWeights !== 'function') continue;
    const values = layer.sourceWeights().map(Number);
    const sources = Array.isArray(layer.modalities) ? (layer.modalities as string[]) : values.map((_, i) => `source${i + 1}`);
    out.push({ layer: layer.name, mode: typeof layer.mode === 'string' ? layer.mode : undefined, sources, values });
  }
  return out;
}

function checkDisabled(fm: FusionModel, disabled: string[]): void {
  for (const m of disabled) {
    if (!fm.inputModalities.includes(m)) {
      throw new ModalfuseError('cannot switch off a modality the model does not read', { modality: m, expected: fm.inputModalities, found: m });
    }
  }
}

/**
 * Outputs (probabilities or values, row-major [n, outWidth]) for `n` samples of raw
 * features with the modalities in `disabled` removed (standardised input set to zero).
 */
export function predictWithout(fm: FusionModel, features: Record<string, Float32Array>, n: number, disabled: string[] = []): Float32Array {
  checkDisabled(fm, disabled);
  checkFeatures(features, n, fm.inputModalities, fm.meta.modalities);
  const pre = fm.preprocess(features);
  for (const m of disabled) pre[m].fill(0);
  const raw = fm.predictPreprocessed(pre, n);
  return rawToOutput(raw, fm.meta.task.kind, fm.outWidth);
}

function argMax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

/**
 * Prediction for one sample (raw features of one row per modality) with `disabled` switched
 * off, and the contribution of every modality still on. One batched forward pass: row 0 is
 * the prediction, row 1 + i has modality i removed as well.
 */
export function explainSample(fm: FusionModel, features: Record<string, Float32Array>, disabled: string[] = []): Explanation {
  checkDisabled(fm, disabled);
  const mods = fm.inputModalities;
  const active = mods.filter((m) => !disabled.includes(m));
  const rows = 1 + active.length;
  checkFeatures(features, 1, mods, fm.meta.modalities);
  const pre = fm.preprocess(features);
  const batch: Record<string, Float32Array> = {};
  for (const m of mods) {
    const size = sizeOf(fm.meta.modalities[m].shape);
    if (pre[m].length !== size) {
      throw new ModalfuseError('explainSample takes one sample per modality', { modality: m, expected: size, found: pre[m].length });
    }
    const b = new Float32Array(rows * size);
    for (let r = 0; r < rows; r++) {
      const off = disabled.includes(m) || (r > 0 && active[r - 1] === m);
      if (!off) b.set(pre[m], r * size);
    }
    batch[m] = b;
  }
  const k = fm.outWidth;
  const out = rawToOutput(fm.predictPreprocessed(batch, rows), fm.meta.task.kind, k);
  const probs = Array.from(out.subarray(0, k));
  const predicted = argMax(probs);
  const contributions: Record<string, number | null> = {};
  for (const m of mods) {
    const i = active.indexOf(m);
    contributions[m] = i < 0 ? null : probs[predicted] - out[(1 + i) * k + predicted];
  }
  return { probs, predicted, disabled: [...disabled], contributions, weights: fusionWeights(fm) };
}
