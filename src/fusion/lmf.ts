/**
 * `LowRankFusion` (LMF; Liu et al., ACL 2018): the same function with the weight tensor in
 *   rank-r CP form, h = sum_i w_i prod_m ([1; z_m] W_m^(i)) + b, never forming the tensor.
 *   As in the official code, each rank component has a full (d_m+1) x units factor per
 *   modality and a learned weight w_i combines the components; rank and output width are
 *   independent (there the output width is the task output, here the head follows).
 */
import { tf, tfl } from '../backend/index.js';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { asShapes, asTensors, FusionLayer, type FusionArgs, type LayerCost, type Shape } from './base.js';
import { type T2, lastDim, lmfCost } from './tensor_ops.js';

// LMF

export interface LowRankFusionArgs extends FusionArgs {
  rank: number;
  units: number;
}

/**
 * LMF. Weights per modality m: `{m}_factor` [d_m, units*rank] and `{m}_factor_const`
 * [units*rank] (the row that multiplies the appended 1), columns ordered (unit, rank) with
 * rank fastest; `rank_weight` [rank, 1]; `bias` [units]. The TFN weight tensor they stand
 * for is W[i_1, ..., i_M, o] = sum_r w_r prod_m W_m[i_m, o, r] with W_m = [const; factor].
 */
export class LowRankFusion extends FusionLayer {
  static readonly className = 'ModalfuseLowRankFusion';
  readonly rank: number;
  readonly units: number;
  factors: LayerVariable[] = [];
  consts: LayerVariable[] = [];
  rankWeight: LayerVariable | null = null;
  bias: LayerVariable | null = null;
  private op: ((...args: tf.Tensor[]) => tf.Tensor) | null = null;

  constructor(args: LowRankFusionArgs) {
    super(args);
    this.rank = args.rank;
    this.units = args.units;
  }

  override build(inputShape: Shape | Shape[]): void {
    const widths = asShapes(inputShape).map(lastDim);
    const R = this.rank * this.units;
    this.factors = widths.map((d, i) => this.addWeight(`${this.modalities[i]}_factor`, [d, R], 'float32', this.glorot(i)));
    // the constant row: glorot-scaled like a row of the full [d+1, R] factor
    this.consts = widths.map((d, i) => {
      const lim = Math.sqrt(6 / (d + 1 + R));
      return this.addWeight(`${this.modalities[i]}_factor_const`, [R], 'float32', tfl.initializers.randomUniform({ minval: -lim, maxval: lim, seed: this.seed + 31 * (i + 1) }));
    });
    this.rankWeight = this.addWeight('rank_weight', [this.rank, 1], 'float32', this.glorot(widths.length + 1));
    this.bias = this.addWeight('bias', [this.units], 'float32', tfl.initializers.zeros());
    this.op = this.makeOp(widths.length);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return [asShapes(inputShape)[0][0], this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const hs = asTensors(inputs);
      return this.op!(...hs, ...this.factors.map((f) => f.read()), ...this.consts.map((c) => c.read()), this.rankWeight!.read(), this.bias!.read());
    });
  }

  /** Forward: M GEMMs with bias, M-1 products, one GEMV over the rank; backward by hand. */
  private makeOp(M: number) {
    const r = this.rank;
    const o = this.units;
    return tf.customGrad((...args: unknown[]) => {
      const save = args[3 * M + 2] as tf.GradSaveFunc;
      const hs = args.slice(0, M) as T2[];
      const Fs = args.slice(M, 2 * M) as T2[];
      const cs = args.slice(2 * M, 3 * M) as tf.Tensor1D[];
      const w = args[3 * M] as T2;
      const b = args[3 * M + 1] as tf.Tensor1D;
      const B = hs[0].shape[0];
      const ps = hs.map((h, m) => tf.fused.matMul({ a: h, b: Fs[m], bias: cs[m] }));
      // prefix products: pre[m] = p_0 * ... * p_m
      const pre: tf.Tensor[] = [ps[0]];
      for (let m = 1; m < M; m++) pre.push(tf.mul(pre[m - 1], ps[m]));
      const prod = pre[M - 1];
      const y = tf.add(tf.reshape(tf.matMul(tf.reshape(prod, [B * o, r]), w), [B, o]), b);
      save([...hs, ...Fs, ...ps, ...pre, w]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const hs2 = saved.slice(0, M) as T2[];
          const Fs2 = saved.slice(M, 2 * M) as T2[];
          const ps2 = saved.slice(2 * M, 3 * M);
          const pre2 = saved.slice(3 * M, 4 * M);
          const w2 = saved[4 * M] as T2;
          const prod2 = pre2[M - 1];
          const db = tf.sum(dy, 0);
          const dw = tf.reshape(tf.matMul(tf.reshape(dy, [1, B * o]), tf.reshape(prod2, [B * o, r])), [r, 1]);
          const dprod = tf.reshape(tf.mul(tf.reshape(dy, [B, o, 1]), tf.reshape(w2, [1, 1, r])), [B, o * r]);
          // suffix products from the right: suf = p_{m+1} * ... * p_{M-1}
          const dFs: tf.Tensor[] = new Array(M);
          const dcs: tf.Tensor[] = new Array(M);
          const dhs: tf.Tensor[] = new Array(M);
          let suf: tf.Tensor | null = null;
          for (let m = M - 1; m >= 0; m--) {
            let others: tf.Tensor | null = m > 0 ? pre2[m - 1] : null;
            if (suf) others = others ? tf.mul(others, suf) : suf;
            const dp = (others ? tf.mul(dprod, others) : dprod) as T2;
            dFs[m] = tf.matMul(tf.transpose(hs2[m]), dp);
            dcs[m] = tf.sum(dp, 0);
            dhs[m] = tf.matMul(dp, tf.transpose(Fs2[m]));
            suf = suf ? tf.mul(suf, ps2[m]) : ps2[m];
          }
          return [...dhs, ...dFs, ...dcs, dw, db];
        },
      };
    }) as unknown as (...args: tf.Tensor[]) => tf.Tensor;
  }

  /** Full factor of modality i ([d_i + 1, units, rank]; row 0 multiplies the constant 1). */
  fullFactor(i: number): tf.Tensor3D {
    return tf.tidy(() => {
      const F = this.factors[i].read();
      const c = this.consts[i].read();
      return tf.reshape(tf.concat([tf.reshape(c, [1, -1]), F], 0), [-1, this.units, this.rank]) as tf.Tensor3D;
    });
  }

  costPerSample(shapes: Shape[]): LayerCost {
    const c = lmfCost(shapes.map(lastDim), this.rank, this.units);
    return { flops: c.flops, activations: c.activations };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rank: this.rank, units: this.units };
  }
}

tf.serialization.registerClass(LowRankFusion);
