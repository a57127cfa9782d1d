/**
 * Decision-level (late) fusion of per-modality predictions.
 *
 * Inputs are per-modality outputs in the task's raw space: logits for classification and
 * multi-label, values for regression. The output is in the same raw space, so the same
 * loss and metrics apply to every method:
 * - mean:    average of probabilities (softmax / sigmoid) or of values;
 * - vote:    majority vote of the per-modality decisions (ties broken by mean probability;
 *            median for regression); not differentiable, so its heads learn from their own
 *            losses only;
 * - learned: softmax-normalised learned weight per modality (or per source in `hybrid`).
 * `LateStack` is stacking: a learned linear meta-model over every modality's output in a space
 * where averaging is meaningful (log-probabilities for classification, logits for multi-label,
 * values for regression). Its kernel starts as the block identity / M, so an untrained
 * stacker is the product of experts (the mean of values for regression) and training moves
 * it from there; a random start made the meta-model lag far behind the heads.
 */
import { tf, tfl } from '../backend/index.js';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import type { TaskKind } from '../data/types.js';
import { asShapes, asTensors, FusionLayer, type FusionArgs, type LayerCost, type Shape } from './base.js';

export type LateMode = 'mean' | 'vote' | 'learned';
const EPS = 1e-7;

export interface LateArgs extends FusionArgs {
  mode: LateMode;
  task: TaskKind;
}

/** Probabilities (or values) from raw outputs. */
function toProb(x: tf.Tensor, task: TaskKind): tf.Tensor {
  if (task === 'classification') return tf.softmax(x);
  if (task === 'multilabel') return tf.sigmoid(x);
  return x;
}

/** Raw outputs from probabilities (inverse of toProb up to a constant for softmax). */
function fromProb(p: tf.Tensor, task: TaskKind): tf.Tensor {
  if (task === 'classification') return tf.log(tf.add(p, EPS));
  if (task === 'multilabel') return tf.sub(tf.log(tf.add(p, EPS)), tf.log(tf.add(tf.sub(1, p), EPS)));
  return p;
}

/** Cost of combining `m` sources of width `k` (a learned weight per source in `learned` mode). */
export function lateCombineCost(m: number, k: number, mode: LateMode): LayerCost & { params: number; outWidth: number } {
  return { params: mode === 'learned' ? m : 0, flops: m * k * 6 + k * 2, activations: (m + 1) * k, outWidth: k };
}

/** Cost of stacking sources of widths `widths` through a linear meta-model of `units` outputs. */
export function lateStackCost(widths: number[], units: number): LayerCost & { params: number; outWidth: number } {
  const inWidth = widths.reduce((a, b) => a + b, 0);
  return { params: inWidth * units + units, flops: 2 * inWidth * units + units + 4 * inWidth, activations: inWidth + units, outWidth: units };
}

export class LateCombine extends FusionLayer {
  static readonly className = 'ModalfuseLateCombine';
  readonly mode: LateMode;
  readonly task: TaskKind;
  private logits: LayerVariable | null = null;

  constructor(args: LateArgs) {
    super(args);
    this.mode = args.mode;
    this.task = args.task;
  }

  override build(inputShape: Shape | Shape[]): void {
    if (this.mode === 'learned') {
      const n = asShapes(inputShape).length;
      this.logits = this.addWeight('source_logits', [n], 'float32', tfl.initializers.zeros());
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return asShapes(inputShape)[0];
  }

  /** The learned per-source weights (softmax), or uniform weights. */
  sourceWeights(): number[] {
    if (!this.logits) return this.modalities.map(() => 1 / this.modalities.length);
    return Array.from(tf.tidy(() => tf.softmax(this.logits!.read())).dataSync());
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const xs = asTensors(inputs);
      const st = tf.stack(xs.map((x) => toProb(x, this.task)), 0); // [M, B, K]
      if (this.mode === 'mean') return fromProb(tf.mean(st, 0), this.task);
      if (this.mode === 'learned') {
        const w = tf.reshape(tf.softmax(this.logits!.read()), [xs.length, 1, 1]);
        return fromProb(tf.sum(tf.mul(st, w), 0), this.task);
      }
      // vote
      if (this.task === 'regression') {
        // median over modalities
        const sorted = tf.topk(tf.transpose(st, [1, 2, 0]), xs.length).values; // [B, K, M] descending
        const m = xs.length;
        const lo = tf.gather(sorted, [Math.floor((m - 1) / 2)], 2);
        const hi = tf.gather(sorted, [Math.ceil((m - 1) / 2)], 2);
        return tf.squeeze(tf.div(tf.add(lo, hi), 2), [2]);
      }
      const meanP = tf.mean(st, 0);
      if (this.task === 'multilabel') {
        const votes = tf.mean(tf.cast(tf.greater(st, 0.5), 'float32'), 0);
        // ties (votes == 0.5) fall back to the mean probability
        const p = tf.add(tf.mul(votes, 1 - 1e-3), tf.mul(meanP, 1e-3));
        return fromProb(p, this.task);
      }
      const k = xs[0].shape[1] as number;
      const onehots = xs.map((x) => tf.oneHot(tf.argMax(x, 1), k));
      const votes = tf.div(tf.addN(onehots), xs.length);
      const p = tf.add(tf.mul(tf.cast(votes, 'float32'), 1 - 1e-3), tf.mul(meanP, 1e-3));
      return fromProb(p, this.task);
    });
  }

  costPerSample(shapes: Shape[]): LayerCost {
    return lateCombineCost(shapes.length, shapes[0][shapes[0].length - 1] as number, this.mode);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mode: this.mode, task: this.task };
  }
}

export interface StackArgs extends FusionArgs {
  task: TaskKind;
  units: number;
}

/** Stacking: raw output = [s_1; ...; s_M] W + b, s_m = log-probabilities / logits / values. */
export class LateStack extends FusionLayer {
  static readonly className = 'ModalfuseLateStack';
  readonly task: TaskKind;
  readonly units: number;
  private kernel: LayerVariable | null = null;
  private bias: LayerVariable | null = null;

  constructor(args: StackArgs) {
    super(args);
    this.task = args.task;
    this.units = args.units;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = asShapes(inputShape);
    const inWidth = shapes.reduce((a, s) => a + (s[s.length - 1] as number), 0);
    const identityStart = shapes.every((s) => s[s.length - 1] === this.units);
    this.kernel = this.addWeight('kernel', [inWidth, this.units], 'float32', identityStart ? tfl.initializers.zeros() : this.glorot());
    this.bias = this.addWeight('bias', [this.units], 'float32', tfl.initializers.zeros());
    if (identityStart) {
      const m = shapes.length;
      const eye = tf.tidy(() => tf.div(tf.concat(shapes.map(() => tf.eye(this.units)), 0), m));
      this.kernel.write(eye);
      eye.dispose();
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return [asShapes(inputShape)[0][0], this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const feats = asTensors(inputs).map((x) => (this.task === 'classification' ? tf.logSoftmax(x) : x));
      return tf.add(tf.matMul(tf.concat(feats, -1), this.kernel!.read()), this.bias!.read());
    });
  }

  costPerSample(shapes: Shape[]): LayerCost {
    return lateStackCost(shapes.map((s) => s[s.length - 1] as number), this.units);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), task: this.task, units: this.units };
  }
}

tf.serialization.registerClass(LateCombine);
tf.serialization.registerClass(LateStack);
