/**
 * Layers for methods that handle missing modalities themselves (`handlesMissing`), reading
 * the presence mask [batch, modalities] (1 present, 0 missing, sorted modality order):
 * - ModalityDropMask: in training, also hides each present modality of a sample with
 *   probability `rate` (never every present one), so the model learns to do without it;
 *   at inference it passes the mask through. Seeded, and different on every call.
 * - PresenceFill: concatenates per-modality features with each missing modality's features
 *   zeroed, or, given one replacement per modality (e.g. its reconstruction), replaced by it.
 * - StopGradient: identity whose gradient is zero (a fixed target inside the model).
 */
import { tf, tfl } from '../backend/index.js';
import { asShapes, asTensors, type Shape } from './base.js';

export class ModalityDropMask extends tfl.layers.Layer {
  static readonly className = 'ModalfuseModalityDropMask';
  readonly rate: number;
  readonly seed: number;
  private calls = 0;

  constructor(args: { rate: number; seed: number; name?: string }) {
    super({ name: args.name } as never);
    this.rate = args.rate;
    this.seed = args.seed;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return asShapes(inputShape)[0];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    return tf.tidy(() => {
      const p = asTensors(inputs)[0];
      if (!kwargs.training || this.rate <= 0) return tf.clone(p);
      const seed = (this.seed + 7919 * ++this.calls) % 2147483647;
      const keep = tf.cast(tf.greaterEqual(tf.randomUniform(p.shape, 0, 1, 'float32', seed), this.rate), 'float32');
      const kept = tf.mul(p, keep);
      const any = tf.greater(tf.sum(kept, -1, true), 0);
      return tf.where(tf.tile(any, [1, p.shape[1]!]), kept, p);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }
}
tf.serialization.registerClass(ModalityDropMask);

/** Inputs: M features, [M replacements,] the mask [batch, M]; output: the concatenation. */
export class PresenceFill extends tfl.layers.Layer {
  static readonly className = 'ModalfusePresenceFill';
  readonly modalities: string[];
  readonly fill: boolean;

  constructor(args: { modalities: string[]; fill: boolean; name?: string }) {
    super({ name: args.name } as never);
    this.modalities = [...args.modalities];
    this.fill = args.fill;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = asShapes(inputShape).slice(0, this.modalities.length);
    return [s[0][0], s.reduce((a, x) => a + (x[x.length - 1] as number), 0)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const xs = asTensors(inputs);
      const m = this.modalities.length;
      const mask = xs[xs.length - 1];
      const parts = this.modalities.map((_, j) => {
        const pj = tf.slice(mask, [0, j], [-1, 1]);
        const kept = tf.mul(xs[j], pj);
        return this.fill ? tf.add(kept, tf.mul(xs[m + j], tf.sub(1, pj))) : kept;
      });
      return tf.concat(parts, -1);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), modalities: this.modalities, fill: this.fill };
  }
}
tf.serialization.registerClass(PresenceFill);

export class StopGradient extends tfl.layers.Layer {
  static readonly className = 'ModalfuseStopGradient';

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return asShapes(inputShape)[0];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = asTensors(inputs)[0];
    const f = tf.customGrad(((v: tf.Tensor) => ({ value: tf.clone(v), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as never);
    return f(x) as tf.Tensor;
  }
}
tf.serialization.registerClass(StopGradient);
