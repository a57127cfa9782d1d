/**
 * Sequence steps with valid lengths (padding at the end): `LastValidStep` picks each row's
 * state at its last valid step from [batch, T, U] states and [batch, 1] lengths, and
 * `MaskPadding` sets the padded steps of [batch, T, D] to 0 (the training mean after
 * standardisation). With a causal recurrence before it, `LastValidStep` makes padded steps
 * change nothing; lengths outside 1..T are clipped into it.
 */
import { tf, tfl } from '../backend/index.js';

function stepMask(len: tf.Tensor, T: number): tf.Tensor {
  const steps = tf.range(0, T, 1, 'float32').reshape([1, T]);
  return tf.cast(tf.less(steps, tf.clipByValue(len, 1, T)), 'float32'); // [B, T]
}

export class LastValidStep extends tfl.layers.Layer {
  static readonly className = 'ModalfuseLastValidStep';

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const s = (inputShape as tfl.Shape[])[0];
    return [s[0], s[2]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [h, len] = inputs as tf.Tensor[];
      const T = h.shape[1] as number;
      const last = tf.sub(tf.clipByValue(len, 1, T), 1).reshape([-1]); // [B]
      const pick = tf.oneHot(tf.cast(last, 'int32'), T).expandDims(2); // [B, T, 1]
      return tf.sum(tf.mul(h, pick), 1);
    });
  }
}
tf.serialization.registerClass(LastValidStep);

export class MaskPadding extends tfl.layers.Layer {
  static readonly className = 'ModalfuseMaskPadding';

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return (inputShape as tfl.Shape[])[0];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [x, len] = inputs as tf.Tensor[];
      return tf.mul(x, stepMask(len, x.shape[1] as number).expandDims(2));
    });
  }
}
tf.serialization.registerClass(MaskPadding);

/**
 * The `constant` baseline's output: a learned row `value` [width] repeated for every
 * sample of the (otherwise unread) input.
 */
export class ConstantRow extends tfl.layers.Layer {
  static readonly className = 'ModalfuseConstantRow';
  readonly width: number;
  value: tfl.LayerVariable | null = null;

  constructor(args: { width: number; name?: string }) {
    super(args as never);
    this.width = args.width;
  }

  override build(): void {
    this.value = this.addWeight('value', [this.width], 'float32', tfl.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return [s[0], this.width];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.tile(this.value!.read().reshape([1, this.width]), [x.shape[0] as number, 1]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), width: this.width };
  }
}
tf.serialization.registerClass(ConstantRow);
