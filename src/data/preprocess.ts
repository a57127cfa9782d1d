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

export function applyStandardizer(data: Float32Array, st: Standardizer): Float32Array {
  const d = st.mean.length;
  const out = new Float32Array(data.length);
  const inv = st.std.map((s) => 1 / s);
  for (let i = 0; i < data.length; i += d) {
    for (let j = 0; j < d; j++) out[i + j] = (data[i + j] - st.mean[j]) * inv[j];
  }
  return out;
}

export function fitPreprocessing(split: SplitData, modalities: Record<string, ModalitySpec>): Record<string, Standardizer> {
  const out: Record<string, Standardizer> = {};
  for (const m of Object.keys(modalities).sort()) out[m] = fitStandardizer(split.features[m], modalities[m], split.n);
  return out;
}
