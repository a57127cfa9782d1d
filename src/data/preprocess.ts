/**
 * Per-modality standardisation fitted on the training split: mean and standard deviation
 * per feature of the last axis (per channel for images, per feature for vectors and
 * sequences). Stored in the model folder and applied identically by every loader.
 */
import type { ModalitySpec, SplitData } from './types.js';
import { sizeOf } from './types.js';

export interface Standardizer {
  kind: 'standardize';
  mean: number[];
  std: number[];
}

export function fitStandardizer(data: Float32Array, spec: ModalitySpec, n: number): Standardizer {
  const d = spec.shape[spec.shape.length - 1];
  const rows = (n * sizeOf(spec.shape)) / d;
  const sum = new Float64Array(d);
  const sq = new Float64Array(d);
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    for (let j = 0; j < d; j++) {
      const v = data[o + j];
      sum[j] += v;
      sq[j] += v * v;
    }
  }
  const mean: number[] = [];
  const std: number[] = [];
  for (let j = 0; j < d; j++) {
    const m = rows > 0 ? sum[j] / rows : 0;
    const v = rows > 0 ? Math.max(0, sq[j] / rows - m * m) : 1;
    const s = Math.sqrt(v);
    mean.push(m);
    std.push(s > 1e-6 ? s : 1);
  }
  return { kind: 'standardize', mean, std };
}

/**
 * Scaling by the training maximum absolute value per feature (mean 0, std = max |x|; 1
 * where a feature is all zeros), as the MFN code scales its video features.
 */
export function fitMaxAbs(data: Float32Array, spec: ModalitySpec, n: number): Standardizer {
  const d = spec.shape[spec.shape.length - 1];
  const rows = (n * sizeOf(spec.shape)) / d;
  const max = new Float64Array(d);
  for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) max[j] = Math.max(max[j], Math.abs(data[r * d + j]));
  return { kind: 'standardize', mean: new Array(d).fill(0), std: Array.from(max, (v) => (v > 0 ? v : 1)) };
}

export function applyStandardizer(data: Float32Array, st: Standardizer): Float32Array {
  const d = st.mean.length;
  const out = new Float32Array(data.length);
  const inv = st.std.map((s) => 1 / s);
  for (let i = 0; i < data.length; i += d) {
    for (let j = 0; j < d; j++) out[i + j] = (data[i + j] - st.mean[j]) * inv[j];
  }
  return out;
}

export function fitPreprocessing(
  split: SplitData,
  modalities: Record<string, ModalitySpec>,
  scaling: (modality: string, spec: ModalitySpec) => 'standardize' | 'maxabs' = () => 'standardize',
): Record<string, Standardizer> {
  const out: Record<string, Standardizer> = {};
  for (const m of Object.keys(modalities).sort()) {
    const fit = scaling(m, modalities[m]) === 'maxabs' ? fitMaxAbs : fitStandardizer;
    out[m] = fit(split.features[m], modalities[m], split.n);
  }
  return out;
}
