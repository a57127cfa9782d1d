/**
 * `TensorFusion` (TFN; Zadeh et al., EMNLP 2017): append 1 to every modality's vector and
 *   take the outer product over all modalities, flattened. Row-major over the modalities in
 *   layer order, so entry 0 is the constant 1, the last `d_M` entries after it are h_M, and
 *   every unimodal, bimodal, ... term appears as a sub-block. With `units > 0` the layer
 *   also applies the first linear layer of the post-fusion network (same function as
 *   flat tensor -> Dense) with a hand-written gradient that uses only un-transposed matrix
 *   products: on the wasm backend the transposed products that the generic Dense gradient
 *   needs are an order of magnitude slower, and the fused tensor is large.
 */
import { tf, tfl } from '../backend/index.js';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { asShapes, asTensors, FusionLayer, type FusionArgs, type LayerCost, type Shape } from './base.js';
import { type T2, lastDim, withOne, outerFlat, outerPrefixT, sumLeading, tfnCost } from './tensor_ops.js';

// TFN

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

tf.serialization.registerClass(TensorFusion);
