/**
 * Tensor (matrix) fusion: TFN, LMF, PTP and HPFN.
 *
 * - `TensorFusion` (TFN; Zadeh et al., EMNLP 2017): append 1 to every modality's vector and
 *   take the outer product over all modalities, flattened. Row-major over the modalities in
 *   layer order, so entry 0 is the constant 1, the last `d_M` entries after it are h_M, and
 *   every unimodal, bimodal, ... term appears as a sub-block. With `units > 0` the layer
 *   also applies the first linear layer of the post-fusion network (same function as
 *   flat tensor -> Dense) with a hand-written gradient that uses only un-transposed matrix
 *   products: on the wasm backend the transposed products that the generic Dense gradient
 *   needs are an order of magnitude slower, and the fused tensor is large.
 * - `LowRankFusion` (LMF; Liu et al., ACL 2018): the same function with the weight tensor in
 *   rank-r CP form, h = sum_i w_i prod_m ([1; z_m] W_m^(i)) + b, never forming the tensor.
 *   As in the official code, each rank component has a full (d_m+1) x units factor per
 *   modality and a learned weight w_i combines the components; rank and output width are
 *   independent (there the output width is the task output, here the head follows).
 * - `PolynomialTensorPooling` (PTP; Hou et al., NeurIPS 2019): an order-P polynomial of the
 *   concatenation [c; z_1; ...; z_M] through one shared rank-r factor (the symmetric CP form
 *   of the P-th tensor power), with the constant c = 0.5 and the optional signed-square-root
 *   and L2 normalisations of the official code.
 * - `HierarchicalPolynomialFusion` (HPFN): PTP nodes on local windows over time steps and
 *   modalities, stacked in layers; the last layer pools everything into one vector.
 *
 * Every layer also states its cost (parameters, FLOPs, kept activations) as pure functions
 * of the input widths, so the registry can report it before anything is built.
 */
import { tf, tfl } from '../backend/index.js';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { asShapes, asTensors, FusionLayer, type FusionArgs, type LayerCost, type Shape } from './base.js';

type T2 = tf.Tensor2D;

/** Cost of a fusion layer: parameters, FLOPs per sample, floats kept per sample. */
export interface FusionCost extends LayerCost {
  params: number;
  /** Per-sample output width. */
  outWidth: number;
}

function lastDim(s: Shape): number {
  return s[s.length - 1] as number;
}

/** [1, h]: prepend a constant column (one PadV2 op). */
function withOne(h: tf.Tensor, value = 1): T2 {
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
function outerPrefixT(qTs: tf.Tensor[]): T2[] {
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
function sumLeading(x: tf.Tensor, n: number, rest: number): T2 {
  return tf.matMul(tf.ones([1, n]), tf.reshape(x, [n, rest]));
}

// ---------------------------------------------------------------------------- costs

/** Dense layer cost (the same formula as eval/cost.ts). */
export function denseCost(inW: number, units: number, activation: string, rows = 1): FusionCost {
  const act = activation !== 'linear' ? units * rows : 0;
  return { params: inW * units + units, flops: rows * (2 * inW * units + units) + act, activations: units * rows, outWidth: units * rows };
}

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

// ---------------------------------------------------------------------------- TFN

export interface TensorFusionArgs extends FusionArgs {
  /** 0: output the flattened tensor; > 0: also apply the first post-fusion linear layer. */
  units?: number;
  /** Activation of the fused linear layer ('linear' or 'relu'). */
  activation?: 'linear' | 'relu';
}

/**
 * Column width of the blocks the fused TFN kernel is stored in. The wasm matmul (XNNPACK)
 * repacks its right operand whenever it changes, i.e. every training step for a weight;
 * for a 70,785 x 64 kernel that packing costs ~5x the product itself, for 16-column blocks
 * it is a small fraction, so the kernel is kept as blocks of 16 columns.
 */
export const TFN_KERNEL_BLOCK = 16;

/** TFN: flatten(outer_m [1; h_m]), optionally followed by act(. W + b) in the same layer. */
export class TensorFusion extends FusionLayer {
  static readonly className = 'ModalfuseTensorFusion';
  readonly units: number;
  readonly activation: 'linear' | 'relu';
  /** Column blocks of the kernel W [P, units]: `kernel_0` holds columns 0..15, and so on. */
  kernels: LayerVariable[] = [];
  bias: LayerVariable | null = null;
  private fusedOp: ((...args: tf.Tensor[]) => tf.Tensor) | null = null;

  constructor(args: TensorFusionArgs) {
    super(args);
    this.units = args.units ?? 0;
    this.activation = args.activation ?? 'linear';
    if (this.activation !== 'linear' && this.activation !== 'relu') throw new Error(`TensorFusion: unsupported activation ${this.activation}`);
  }

  /** Width of the flattened tensor for input widths. */
  static tensorWidth(widths: number[]): number {
    return widths.reduce((a, d) => a * (d + 1), 1);
  }

  override build(inputShape: Shape | Shape[]): void {
    const widths = asShapes(inputShape).map(lastDim);
    if (widths.length < 2) throw new Error('TensorFusion needs at least two inputs');
    if (this.units > 0) {
      const P = TensorFusion.tensorWidth(widths);
      // glorot-uniform limit of the whole [P, units] kernel, for every block
      const lim = Math.sqrt(6 / (P + this.units));
      for (let c = 0, i = 0; c < this.units; c += TFN_KERNEL_BLOCK, i++) {
        const w = Math.min(TFN_KERNEL_BLOCK, this.units - c);
        const init = tfl.initializers.randomUniform({ minval: -lim, maxval: lim, seed: (this.seed + 7919 * (i + 1)) % 2147483647 });
        this.kernels.push(this.addWeight(`kernel_${i}`, [P, w], 'float32', init));
      }
      this.bias = this.addWeight('bias', [this.units], 'float32', tfl.initializers.zeros());
      this.fusedOp = this.makeFusedOp(widths.length, this.kernels.length);
    }
    this.built = true;
  }

  /** The whole kernel W [P, units] (a copy). */
  kernelMatrix(): tf.Tensor2D {
    return tf.tidy(() => (this.kernels.length === 1 ? tf.clone(this.kernels[0].read()) : tf.concat(this.kernels.map((k) => k.read()), 1)) as tf.Tensor2D);
  }

  /** Sets the kernel from a whole W [P, units] (and the bias when given). */
  setKernelMatrix(W: tf.Tensor2D, bias?: tf.Tensor1D): void {
    tf.tidy(() => {
      this.kernels.forEach((k, i) => {
        const c = i * TFN_KERNEL_BLOCK;
        k.write(tf.slice(W, [0, c], [-1, k.shape[1] as number]));
      });
      if (bias) this.bias!.write(bias);
    });
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shapes = asShapes(inputShape);
    return [shapes[0][0], this.units > 0 ? this.units : TensorFusion.tensorWidth(shapes.map(lastDim))];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const hs = asTensors(inputs);
      if (this.units <= 0) return outerFlat(hs.map((h) => withOne(h)));
      return this.fusedOp!(...hs, ...this.kernels.map((k) => k.read()), this.bias!.read());
    });
  }

  /**
   * y = act(z W + b), z = flatten(outer [1; h_m]), W in column blocks W_k, with a gradient
   * built from un-transposed GEMMs only (the transposed ones take a slow path on wasm):
   * dW_k = z^T dpre_k with z^T formed directly from the transposed factors, and
   * dz^T = sum_k W_k dpre_k^T contracted against the factors mode by mode for the h_m.
   */
  private makeFusedOp(M: number, nBlocks: number) {
    const relu = this.activation === 'relu';
    return tf.customGrad((...args: unknown[]) => {
      const save = args[M + nBlocks + 1] as tf.GradSaveFunc;
      const hs = args.slice(0, M) as tf.Tensor[];
      // The kernel blocks (the layer's variables, alive until the optimizer updates them
      // after the backward pass) are used from this closure: saving would copy them.
      const Ws = args.slice(M, M + nBlocks) as T2[];
      const b = args[M + nBlocks] as tf.Tensor1D;
      const qs = hs.map((h) => withOne(h));
      const z = outerFlat(qs);
      const parts = Ws.map((W) => tf.matMul(z, W));
      const pre = tf.add(parts.length === 1 ? parts[0] : tf.concat(parts, 1), b);
      const y = relu ? tf.relu(pre) : pre;
      save([...qs, y]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const qs2 = saved.slice(0, M) as T2[];
          const y2 = saved[M];
          const B = qs2[0].shape[0];
          const dpre = (relu ? tf.mul(dy, tf.step(y2)) : dy) as T2;
          const db = tf.sum(dpre, 0);
          const qTs = qs2.map((q) => tf.transpose(q));
          const prefix = outerPrefixT(qTs);
          const zT = prefix[M - 1];
          const dpreT = tf.transpose(dpre);
          const dWs: tf.Tensor[] = [];
          const dzParts: tf.Tensor[] = [];
          let c = 0;
          for (const W of Ws) {
            const w = W.shape[1];
            const dpreK = nBlocks === 1 ? dpre : tf.slice(dpre, [0, c], [B, w]);
            const dpreTK = nBlocks === 1 ? dpreT : tf.slice(dpreT, [c, 0], [w, B]);
            dWs.push(tf.matMul(zT, dpreK));
            dzParts.push(tf.matMul(W, dpreTK));
            c += w;
          }
          const dhs: tf.Tensor[] = new Array(M);
          // S: gradient w.r.t. the (transposed) outer product of modalities 0..m
          let S: tf.Tensor = dzParts.length === 1 ? dzParts[0] : tf.addN(dzParts);
          for (let m = M - 1; m >= 1; m--) {
            const Pm = prefix[m - 1].shape[0];
            const pm = qTs[m].shape[0];
            const S3 = tf.reshape(S, [Pm, pm, B]);
            const dqT = tf.reshape(sumLeading(tf.mul(S3, tf.reshape(prefix[m - 1], [Pm, 1, B])), Pm, pm * B), [pm, B]);
            dhs[m] = tf.transpose(tf.slice(dqT, [1, 0], [pm - 1, B]));
            S = tf.sum(tf.mul(S3, tf.reshape(qTs[m], [1, pm, B])), 1);
          }
          const p0 = qTs[0].shape[0];
          dhs[0] = tf.transpose(tf.slice(S as T2, [1, 0], [p0 - 1, B]));
          return [...dhs, ...dWs, db];
        },
      };
    }) as unknown as (...args: tf.Tensor[]) => tf.Tensor;
  }

  costPerSample(shapes: Shape[]): LayerCost {
    const c = tfnCost(shapes.map(lastDim), this.units, this.activation);
    return { flops: c.flops, activations: c.activations };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units, activation: this.activation };
  }
}

// ---------------------------------------------------------------------------- LMF

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

// ---------------------------------------------------------------------------- PTP

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
interface PtpNode {
  factor: LayerVariable;
  factorConst: LayerVariable;
  rankWeight: LayerVariable;
  bias: LayerVariable;
}

const SSQRT_EPS = 1e-4;

/**
 * One PTP node on x [B, D]: u = [c; x] F (shared rank-r factor, F = [F_c; F_x]),
 * v = u^P, optional signed square root and L2 normalisation, y = sum_r w_r v[:, :, r] + b.
 */
function ptpNode(x: tf.Tensor, node: PtpNode, o: PtpOptions): T2 {
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
abstract class PtpLayer extends FusionLayer {
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

export type PolynomialTensorPoolingArgs = FusionArgs & Partial<PtpOptions>;

/** PTP over the concatenation of the (vector) modalities. */
export class PolynomialTensorPooling extends PtpLayer {
  static readonly className = 'ModalfusePolynomialTensorPooling';
  readonly ptpOpts: PtpOptions;
  private node: PtpNode | null = null;

  constructor(args: PolynomialTensorPoolingArgs) {
    super(args);
    this.ptpOpts = { ...PTP_DEFAULTS, ...pickPtp(args) };
  }

  override build(inputShape: Shape | Shape[]): void {
    const D = asShapes(inputShape).reduce((a, s) => a + lastDim(s), 0);
    this.node = this.addPtpNode(this.ptpOpts, '', D, 0);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return [asShapes(inputShape)[0][0], this.ptpOpts.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const xs = asTensors(inputs);
      return ptpNode(xs.length === 1 ? xs[0] : tf.concat(xs, -1), this.node!, this.ptpOpts);
    });
  }

  costPerSample(shapes: Shape[]): LayerCost {
    const o = this.ptpOpts;
    const D = shapes.reduce((a, s) => a + lastDim(s), 0);
    const c = ptpCost(D, o.rank, o.units, o.order, o.signedSqrt, o.l2norm);
    return { flops: c.flops + D, activations: c.activations + D };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.ptpOpts };
  }
}

function pickPtp(a: Partial<PtpOptions>): Partial<PtpOptions> {
  const out: Partial<PtpOptions> = {};
  for (const k of Object.keys(PTP_DEFAULTS) as (keyof PtpOptions)[]) if (a[k] !== undefined) (out as Record<string, unknown>)[k] = a[k];
  return out;
}

// ---------------------------------------------------------------------------- HPFN

export interface HpfnPlanLayer {
  /** Time windows [start, end) over this layer's input steps. */
  timeWindows: [number, number][];
  /** Modality windows: indices of this layer's input sequences. */
  modalWindows: number[][];
  /** Input width of each node's PTP, by [modality window][time window]. */
  inWidths: number[][];
  /** Output width of every node of this layer. */
  units: number;
}

export interface HpfnStructure {
  /** Time window of every layer but the last (which covers everything). */
  timeWindow: number;
  /** Modality window of every layer but the last; circular windows when 1 < w < count. */
  modalWindow: number;
  layers: number;
  /** Width of the nodes of the hidden layers. */
  hiddenUnits: number;
}

function modalWindowsOf(count: number, w: number): number[][] {
  if (w >= count) return [Array.from({ length: count }, (_, i) => i)];
  if (w <= 1) return Array.from({ length: count }, (_, i) => [i]);
  return Array.from({ length: count }, (_, s) => Array.from({ length: w }, (_, k) => (s + k) % count));
}

/** The windows and widths of every HPFN layer for inputs of `steps` steps and `widths` features. */
export function hpfnPlan(steps: number, widths: number[], st: HpfnStructure, units: number): HpfnPlanLayer[] {
  const plan: HpfnPlanLayer[] = [];
  let T = steps;
  let ws = widths;
  for (let l = 0; l < st.layers; l++) {
    const last = l === st.layers - 1;
    const tw = last ? T : Math.max(1, Math.min(st.timeWindow, T));
    const timeWindows: [number, number][] = [];
    for (let t = 0; t < T; t += tw) timeWindows.push([t, Math.min(T, t + tw)]);
    const modalWindows = modalWindowsOf(ws.length, last ? ws.length : st.modalWindow);
    const inWidths = modalWindows.map((mw) => timeWindows.map(([a, b]) => (b - a) * mw.reduce((s, m) => s + ws[m], 0)));
    const u = last ? units : st.hiddenUnits;
    plan.push({ timeWindows, modalWindows, inWidths, units: u });
    T = timeWindows.length;
    ws = modalWindows.map(() => u);
  }
  return plan;
}

export function hpfnCost(steps: number, widths: number[], st: HpfnStructure, o: PtpOptions): FusionCost {
  const plan = hpfnPlan(steps, widths, st, o.units);
  let params = 0;
  let flops = 0;
  let activations = 0;
  for (const layer of plan) {
    for (const row of layer.inWidths) {
      for (const inW of row) {
        const c = ptpCost(inW, o.rank, layer.units, o.order, o.signedSqrt, o.l2norm);
        params += c.params;
        flops += c.flops;
        activations += c.activations + inW;
      }
    }
  }
  return { params, flops, activations, outWidth: o.units };
}

export type HierarchicalPolynomialFusionArgs = FusionArgs & Partial<PtpOptions> & Partial<HpfnStructure>;

export const HPFN_DEFAULTS: HpfnStructure = { timeWindow: 4, modalWindow: 2, layers: 2, hiddenUnits: 32 };

/**
 * HPFN over M sequence inputs [B, T, d_m] (same T). Layer l turns its input sequences into
 * one output sequence per modality window, one PTP node (own weights) per time window; the
 * last layer has one window over everything and returns [B, units].
 */
export class HierarchicalPolynomialFusion extends PtpLayer {
  static readonly className = 'ModalfuseHierarchicalPolynomialFusion';
  readonly ptpOpts: PtpOptions;
  readonly structure: HpfnStructure;
  private plan: HpfnPlanLayer[] = [];
  private nodes: PtpNode[][][] = [];

  constructor(args: HierarchicalPolynomialFusionArgs) {
    super(args);
    this.ptpOpts = { ...PTP_DEFAULTS, ...pickPtp(args) };
    this.structure = {
      timeWindow: args.timeWindow ?? HPFN_DEFAULTS.timeWindow,
      modalWindow: args.modalWindow ?? HPFN_DEFAULTS.modalWindow,
      layers: args.layers ?? HPFN_DEFAULTS.layers,
      hiddenUnits: args.hiddenUnits ?? HPFN_DEFAULTS.hiddenUnits,
    };
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = asShapes(inputShape);
    for (const s of shapes) if (s.length !== 3) throw new Error(`HierarchicalPolynomialFusion needs [batch, steps, features] inputs, got [${s}]`);
    const T = shapes[0][1] as number;
    this.plan = hpfnPlan(T, shapes.map(lastDim), this.structure, this.ptpOpts.units);
    let k = 0;
    this.nodes = this.plan.map((layer, l) =>
      layer.inWidths.map((row, mi) =>
        row.map((inW, ti) => this.addPtpNode({ ...this.ptpOpts, units: layer.units }, `l${l + 1}_m${mi}_t${ti}_`, inW, k++)),
      ),
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return [asShapes(inputShape)[0][0], this.ptpOpts.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      let seqs = asTensors(inputs) as tf.Tensor3D[];
      const B = seqs[0].shape[0];
      this.plan.forEach((layer, l) => {
        const layerOpts = { ...this.ptpOpts, units: layer.units };
        seqs = layer.modalWindows.map((mw, mi) => {
          const outs = layer.timeWindows.map(([a, b], ti) => {
            const parts = mw.map((m) => {
              const s = seqs[m];
              const win = a === 0 && b === s.shape[1] ? s : tf.slice(s, [0, a, 0], [-1, b - a, -1]);
              return tf.reshape(win, [B, (b - a) * s.shape[2]]);
            });
            const x = parts.length === 1 ? parts[0] : tf.concat(parts, 1);
            return ptpNode(x, this.nodes[l][mi][ti], layerOpts);
          });
          return (outs.length === 1 ? tf.expandDims(outs[0], 1) : tf.stack(outs, 1)) as tf.Tensor3D;
        });
      });
      return tf.reshape(seqs[0], [B, this.ptpOpts.units]);
    });
  }

  costPerSample(shapes: Shape[]): LayerCost {
    const c = hpfnCost(shapes[0][1] as number, shapes.map(lastDim), this.structure, this.ptpOpts);
    return { flops: c.flops, activations: c.activations };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.ptpOpts, ...this.structure };
  }
}

tf.serialization.registerClass(TensorFusion);
tf.serialization.registerClass(LowRankFusion);
tf.serialization.registerClass(PolynomialTensorPooling);
tf.serialization.registerClass(HierarchicalPolynomialFusion);
