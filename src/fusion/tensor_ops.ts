/**
 * Shared parts of the tensor fusion layers (./tfn.ts, ./lmf.ts, ./ptp.ts, ./hpfn.ts): outer
 * products with a prepended 1, and every layer's cost (parameters, FLOPs, kept activations)
 * as pure functions of the input widths, so the registry can report it before anything is
 * built.
 */
import { tf } from '../backend/index.js';
import { type LayerCost, type Shape } from './base.js';
import { denseCost } from '../encoders/cost_rules.js';

export { denseCost };

export type T2 = tf.Tensor2D;

/** Cost of a fusion layer: parameters, FLOPs per sample, floats kept per sample. */
export interface FusionCost extends LayerCost {
  params: number;
  /** Per-sample output width. */
  outWidth: number;
}

export function lastDim(s: Shape): number {
  return s[s.length - 1] as number;
}

/** [1, h]: prepend a constant column (one PadV2 op). */
export function withOne(h: tf.Tensor, value = 1): T2 {
  return tf.pad(h as T2, [[0, 0], [1, 0]], value);
}

/** Flattened outer product of [B, p_m] tensors, first modality slowest. */
export function outerFlat(qs: tf.Tensor[]): T2 {
  const B = qs[0].shape[0];
  let z = qs[0] as T2;
  for (let m = 1; m < qs.length; m++) {
    const P = z.shape[1];
    const p = qs[m].shape[1] as number;
    z = tf.reshape(tf.mul(tf.reshape(z, [B, P, 1]), tf.reshape(qs[m], [B, 1, p])), [B, P * p]);
  }
  return z;
}

/** Prefix outer products in transposed (batch-last) layout: out[m] = (q_1 x ... x q_m)^T. */
export function outerPrefixT(qTs: tf.Tensor[]): T2[] {
  const B = qTs[0].shape[1] as number;
  const out: T2[] = [qTs[0] as T2];
  for (let m = 1; m < qTs.length; m++) {
    const prev = out[m - 1];
    const P = prev.shape[0];
    const p = qTs[m].shape[0];
    out.push(tf.reshape(tf.mul(tf.reshape(prev, [P, 1, B]), tf.reshape(qTs[m], [1, p, B])), [P * p, B]));
  }
  return out;
}

/** Sum over the leading axis of [n, rest...] as a GEMV with ones (a fast, transpose-free path). */
export function sumLeading(x: tf.Tensor, n: number, rest: number): T2 {
  return tf.matMul(tf.ones([1, n]), tf.reshape(x, [n, rest]));
}

// costs

/** Dense layer cost (the same formula as eval/cost.ts). */

export function tfnCost(widths: number[], units = 0, activation = 'linear'): FusionCost {
  const P = widths.reduce((a, d) => a * (d + 1), 1);
  // outer product: one multiply per entry of every partial product
  let flops = 0;
  let partial = widths[0] + 1;
  for (let m = 1; m < widths.length; m++) {
    partial *= widths[m] + 1;
    flops += partial;
  }
  if (units <= 0) return { params: 0, flops, activations: P, outWidth: P };
  const d = denseCost(P, units, activation);
  return { params: d.params, flops: flops + d.flops, activations: P + units, outWidth: units };
}

export function lmfCost(widths: number[], rank: number, units: number): FusionCost {
  const R = rank * units;
  const params = widths.reduce((a, d) => a + (d + 1) * R, 0) + rank + units;
  const proj = widths.reduce((a, d) => a + 2 * d * R + R, 0);
  const flops = proj + (widths.length - 1) * R + 2 * R + units;
  return { params, flops, activations: (widths.length + 1) * R + units, outWidth: units };
}

/** One PTP node over an input of width `inW`. */
export function ptpCost(inW: number, rank: number, units: number, order: number, signedSqrt: boolean, l2norm: boolean): FusionCost {
  const R = rank * units;
  const params = (inW + 1) * R + rank + units;
  let flops = 2 * inW * R + R + (order - 1) * R + 2 * R + units;
  if (signedSqrt) flops += 4 * R;
  if (l2norm) flops += 4 * R;
  return { params, flops, activations: (order + 2) * R + units, outWidth: units };
}
