/**
 * Pixel-level fusion: stack aligned raw inputs of equal spatial shape along the channel
 * axis, before any encoder (e.g. RGB + depth images -> 4 channels). Vector inputs of
 * equal width become channels of a [width, modalities] array, flattened.
 */
import { tf } from '../backend/index.js';
import { asShapes, asTensors, FusionLayer, perSample, type LayerCost, type Shape } from './base.js';

export class PixelStack extends FusionLayer {
  static readonly className = 'ModalfusePixelStack';

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shapes = asShapes(inputShape);
    const first = shapes[0];
    if (first.length === 2) return [first[0], (first[1] as number) * shapes.length];
    const channels = shapes.reduce((a, s) => a + (s[s.length - 1] as number), 0);
    return [...first.slice(0, -1), channels];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const xs = asTensors(inputs);
      if (xs[0].rank === 2) {
        // [B, D] x M -> [B, D, M] -> [B, D*M]: channel-interleaved, as a pixel stack is
        const st = tf.stack(xs, 2);
        return tf.reshape(st, [xs[0].shape[0], -1]);
      }
      return tf.concat(xs, -1);
    });
  }

  costPerSample(shapes: Shape[]): LayerCost {
    return { flops: 0, activations: shapes.reduce((a, s) => a + perSample(s), 0) };
  }
}

tf.serialization.registerClass(PixelStack);
