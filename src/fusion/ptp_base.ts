/**
 * The node shared by PTP (./ptp.ts) and HPFN (./hpfn.ts): an order-P polynomial of its
 * input through one shared rank-r factor.
 */
import { tf, tfl } from '../backend/index.js';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { FusionLayer } from './base.js';
import { type T2 } from './tensor_ops.js';

// PTP

export interface PtpOptions {
  rank: number;
  units: number;
  /** Polynomial degree P: the number of copies of the shared projection multiplied. */
  order: number;
  /** The constant prepended to the concatenation (0.5 in the official code). */
  constant: number;
  /** Signed square root after pooling (the official `poly_norm=1`). */
  signedSqrt: boolean;
  /** L2 normalisation of each rank component over the units (the official `euclid_norm`). */
  l2norm: boolean;
}

export const PTP_DEFAULTS: PtpOptions = { rank: 4, units: 32, order: 3, constant: 0.5, signedSqrt: true, l2norm: false };

/** Weights of one PTP node. */
export interface PtpNode {
  factor: LayerVariable;
  factorConst: LayerVariable;
  rankWeight: LayerVariable;
  bias: LayerVariable;
}

export const SSQRT_EPS = 1e-4;

/**
 * One PTP node on x [B, D]: u = [c; x] F (shared rank-r factor, F = [F_c; F_x]),
 * v = u^P, optional signed square root and L2 normalisation, y = sum_r w_r v[:, :, r] + b.
 */
export function ptpNode(x: tf.Tensor, node: PtpNode, o: PtpOptions): T2 {
  const B = x.shape[0];
  const r = o.rank;
  const u = tf.fused.matMul({ a: x as T2, b: node.factor.read() as T2, bias: tf.mul(node.factorConst.read(), o.constant) });
  let v: tf.Tensor = u;
  for (let k = 1; k < o.order; k++) v = tf.mul(v, u);
  // signed square root, smoothed at 0 so its gradient stays finite: v / sqrt(|v| + eps)
  if (o.signedSqrt) v = tf.div(v, tf.sqrt(tf.add(tf.abs(v), SSQRT_EPS)));
  const v3 = tf.reshape(v, [B, o.units, r]);
  let vn: tf.Tensor = v3;
  if (o.l2norm) vn = tf.div(v3, tf.add(tf.sqrt(tf.sum(tf.square(v3), 1, true)), 1e-8));
  return tf.add(tf.reshape(tf.matMul(tf.reshape(vn, [B * o.units, r]), node.rankWeight.read() as T2), [B, o.units]), node.bias.read()) as T2;
}

/** Shared base of the PTP layers: creates the weights of one PTP node. */
export abstract class PtpLayer extends FusionLayer {
  protected addPtpNode(o: PtpOptions, prefix: string, inW: number, seedOffset: number): PtpNode {
    const R = o.rank * o.units;
    const seed = (this.seed + 104729 * (seedOffset + 1)) % 2147483647;
    const lim = Math.sqrt(6 / (inW + 1 + R));
    return {
      factor: this.addWeight(`${prefix}factor`, [inW, R], 'float32', tfl.initializers.glorotUniform({ seed })),
      factorConst: this.addWeight(`${prefix}factor_const`, [R], 'float32', tfl.initializers.randomUniform({ minval: -lim, maxval: lim, seed: seed + 1 })),
      rankWeight: this.addWeight(`${prefix}rank_weight`, [o.rank, 1], 'float32', tfl.initializers.glorotUniform({ seed: seed + 2 })),
      bias: this.addWeight(`${prefix}bias`, [o.units], 'float32', tfl.initializers.zeros()),
    };
  }
}


export function pickPtp(a: Partial<PtpOptions>): Partial<PtpOptions> {
  const out: Partial<PtpOptions> = {};
  for (const k of Object.keys(PTP_DEFAULTS) as (keyof PtpOptions)[]) if (a[k] !== undefined) (out as Record<string, unknown>)[k] = a[k];
  return out;
}
