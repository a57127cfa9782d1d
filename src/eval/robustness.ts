/**
 * Robustness of a trained model to a corrupted modality (DESIGN.md results `robustness`):
 * - `missing`: the modality is absent: its preprocessed input is all zeros, i.e. every
 *   sample gets the modality's (training) mean input. `level` is 1 (all samples).
 * - `noise`: Gaussian noise added to the modality's raw input, of standard deviation
 *   `level` times the modality's feature standard deviation (per channel, as fitted on the
 *   training split by the model's preprocessing), so level 1 is noise as strong as the signal.
 *
 * `corrupt` applies the same corruptions to raw features (for `eval --missing audio` and
 * `eval --noise audio=0.5`); `robustnessSweep` evaluates a model under each modality and
 * level. Predictors other than a FusionModel (e.g. fusion on frozen encoders) plug in
 * through `robustnessSweepWith`.
 */
import { applyStandardizer, fitStandardizer, type Standardizer } from '../data/preprocess.js';
import { sizeOf, type Dataset, type ModalitySpec, type SplitName, type TaskSpec } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import type { FusionModel } from '../models/fusion_model.js';
import { Rng } from '../util/rng.js';
import { computeMetrics, getTask, type Metrics, type OutputArrays } from '../tasks/index.js';

/** Metrics under a corrupted modality (written by robustness sweeps). */
export interface RobustnessEntry {
  modality: string;
  corruption: string;
  level: number;
  metrics: Metrics;
}

export type CorruptionKind = 'missing' | 'noise';

/** Metrics under a corrupted modality (written by robustness sweeps). */
export interface RobustnessEntry {
  modality: string;
  corruption: string;
  level: number;
  metrics: Metrics;
}

/** One point of a robustness sweep (the `robustness` entries of results.json). */
export interface RobustnessPoint extends RobustnessEntry {
  modality: string;
  corruption: CorruptionKind;
  level: number;
  metrics: Metrics;
}

/** Default noise levels (noise std / feature std). */
export const ROBUSTNESS_LEVELS = [0.25, 0.5, 1, 2];

export interface CorruptOptions {
  /** Modalities to replace by their mean input. */
  missing?: string[];
  /** Modality -> noise level (noise std relative to the modality's feature std). */
  noise?: Record<string, number>;
  /** Seed of the noise (default 0). */
  seed?: number;
  /**
   * Per-channel mean and std of every modality (e.g. a model's `meta.preprocessing`, fitted
   * on the training split). Default: computed from the given features.
   */
  stats?: Record<string, Standardizer>;
}

/** A stable 32-bit number for a modality name (noise seeds). */
function nameHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Seed of the noise for a modality and level. */
export function noiseSeed(seed: number, modality: string, level: number): number {
  return (Math.imul(seed + 0x9e37, 0x85ebca6b) ^ nameHash(modality) ^ Math.round(level * 1e6)) >>> 0;
}

function checkLevel(m: string, level: number): void {
  if (!Number.isFinite(level) || level < 0) {
    throw new ModalfuseError(`bad noise level for modality "${m}"`, { modality: m, expected: 'a number >= 0 (noise std / feature std)', found: level });
  }
}

function statsFor(m: string, x: Float32Array, spec: ModalitySpec, given?: Record<string, Standardizer>): Standardizer {
  const st = given?.[m];
  const d = spec.shape[spec.shape.length - 1];
  if (st) {
    if (st.mean.length !== d) {
      throw new ModalfuseError(`statistics of modality "${m}" do not match its shape`, { modality: m, expected: `${d} channels`, found: st.mean.length });
    }
    return st;
  }
  return fitStandardizer(x, spec, x.length / sizeOf(spec.shape));
}

/**
 * Corrupted copies of the named modalities (others are passed through unchanged, not
 * copied): `missing` ones become their per-channel mean, `noise` ones get Gaussian noise
 * of std level x per-channel std.
 */
export function corrupt(
  features: Record<string, Float32Array>,
  spec: { modalities: Record<string, ModalitySpec> },
  opts: CorruptOptions = {},
): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = { ...features };
  const known = Object.keys(spec.modalities).sort();
  const check = (m: string) => {
    if (!(m in spec.modalities) || !features[m]) {
      throw new ModalfuseError(`cannot corrupt unknown modality "${m}"`, { modality: m, expected: known, found: m });
    }
  };
  const seed = opts.seed ?? 0;
  for (const m of opts.missing ?? []) {
    check(m);
    const st = statsFor(m, features[m], spec.modalities[m], opts.stats);
    const d = st.mean.length;
    const x = new Float32Array(features[m].length);
    for (let i = 0; i < x.length; i += d) for (let j = 0; j < d; j++) x[i + j] = st.mean[j];
    out[m] = x;
  }
  for (const [m, level] of Object.entries(opts.noise ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    check(m);
    checkLevel(m, level);
    if ((opts.missing ?? []).includes(m)) continue; // a missing modality stays missing
    const st = statsFor(m, features[m], spec.modalities[m], opts.stats);
    const d = st.mean.length;
    const src = features[m];
    const x = new Float32Array(src.length);
    const rng = new Rng(noiseSeed(seed, m, level));
    for (let i = 0; i < x.length; i += d) for (let j = 0; j < d; j++) x[i + j] = src[i + j] + level * st.std[j] * rng.normal();
    out[m] = x;
  }
  return out;
}

/** Parses "audio=0.5,image=1" (or ["audio=0.5", "image=1"]) into { audio: 0.5, image: 1 }. */
export function parseNoiseSpec(spec: string | string[]): Record<string, number> {
  const parts = (Array.isArray(spec) ? spec : [spec]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  const out: Record<string, number> = {};
  for (const p of parts) {
    const m = /^([^=]+)=(.+)$/.exec(p);
    const v = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(v) || v < 0) {
      throw new ModalfuseError('bad noise specification', { expected: 'modality=level pairs, e.g. audio=0.5 (level: noise std / feature std, >= 0)', found: p });
    }
    out[m[1].trim()] = v;
  }
  return out;
}

/** What a robustness sweep needs from a model. */
export interface RobustPredictor {
  task: TaskSpec;
  /** Modalities the predictor reads (those the sweep corrupts by default). */
  modalities: string[];
  /** Per-channel training statistics of every modality (noise std and mean input). */
  stats: Record<string, Standardizer>;
  /** Raw outputs [n, outWidth] for raw features; `missing` modalities get all-zero preprocessed inputs. */
  predictRaw(features: Record<string, Float32Array>, n: number, missing: string[]): Float32Array;
  /** The outputs the task reads (when there is more than the raw prediction, e.g. retrieval embeddings); wins over `predictRaw`. */
  predictOutputs?(features: Record<string, Float32Array>, n: number, missing: string[]): OutputArrays;
}

/** A FusionModel as a RobustPredictor. */
export function fusionModelPredictor(fm: FusionModel, batchSize = 256): RobustPredictor {
  return {
    task: fm.meta.task,
    modalities: fm.inputModalities,
    stats: fm.meta.preprocessing,
    predictRaw(features, n, missing) {
      return fm.predictRaw(features, n, batchSize, { missing });
    },
    predictOutputs(features, n, missing) {
      return fm.predictOutputs(features, n, { batchSize, missing, names: fm.task.reads });
    },
  };
}

export interface RobustnessOptions {
  /** Noise levels (default ROBUSTNESS_LEVELS). */
  levels?: number[];
  /** Modalities to corrupt (default: every modality the model reads). */
  modalities?: string[];
  /** Split to evaluate (default test). */
  split?: SplitName;
  /** Which corruptions (default both). */
  corruptions?: CorruptionKind[];
  /** Seed of the noise (default 0). */
  seed?: number;
  batchSize?: number;
}

/** The (modality, corruption, level) conditions of a sweep, in output order. */
export function sweepConditions(modalities: string[], levels: number[] = ROBUSTNESS_LEVELS, corruptions: CorruptionKind[] = ['missing', 'noise']): { modality: string; corruption: CorruptionKind; level: number }[] {
  const out: { modality: string; corruption: CorruptionKind; level: number }[] = [];
  for (const m of [...modalities].sort()) {
    if (corruptions.includes('missing')) out.push({ modality: m, corruption: 'missing', level: 1 });
    if (corruptions.includes('noise')) for (const l of levels) out.push({ modality: m, corruption: 'noise', level: l });
  }
  return out;
}

/** Robustness sweep of any predictor. */
export function robustnessSweepWith(pred: RobustPredictor, data: Dataset, opts: RobustnessOptions = {}): RobustnessPoint[] {
  const split = opts.split ?? 'test';
  const s = data.splits[split];
  if (!s || s.n === 0) throw new ModalfuseError(`the data set has no "${split}" split`, { expected: split, found: Object.keys(data.splits) });
  const levels = opts.levels ?? ROBUSTNESS_LEVELS;
  levels.forEach((l) => checkLevel('*', l));
  const mods = opts.modalities ?? pred.modalities;
  for (const m of mods) {
    if (!pred.modalities.includes(m)) throw new ModalfuseError(`the model does not read modality "${m}"`, { modality: m, expected: pred.modalities, found: m });
  }
  const out: RobustnessPoint[] = [];
  for (const c of sweepConditions(mods, levels, opts.corruptions)) {
    const features = c.corruption === 'missing' ? s.features : corrupt(s.features, data, { noise: { [c.modality]: c.level }, seed: opts.seed, stats: pred.stats });
    const missing = c.corruption === 'missing' ? [c.modality] : [];
    const metrics = pred.predictOutputs
      ? getTask(pred.task).evaluate(pred.predictOutputs(features, s.n, missing), s.labels).metrics
      : computeMetrics(pred.task, pred.predictRaw(features, s.n, missing), s.labels).metrics;
    out.push({ ...c, metrics });
  }
  return out;
}

/**
 * Test metrics of `fm` with each modality missing and with Gaussian noise of each level on
 * each modality: [{ modality, corruption: 'missing' | 'noise', level, metrics }].
 */
export function robustnessSweep(fm: FusionModel, data: Dataset, opts: RobustnessOptions = {}): RobustnessPoint[] {
  return robustnessSweepWith(fusionModelPredictor(fm, opts.batchSize), data, opts);
}

/** Zero (= mean input) the preprocessed features of `missing` modalities; a helper for predictors. */
export function standardizeWithMissing(features: Record<string, Float32Array>, stats: Record<string, Standardizer>, names: string[], missing: string[]): Record<string, Float32Array> {
  const out: Record<string, Float32Array> = {};
  for (const m of names) out[m] = missing.includes(m) ? new Float32Array(features[m].length) : applyStandardizer(features[m], stats[m]);
  return out;
}
