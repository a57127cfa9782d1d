/**
 * Modal attention (the Taobao video fusion of the survey: a softmax over modalities
 * predicted from their concatenated features re-weights each modality before fusing).
 * Inputs: M feature vectors [batch, d_m]. w = softmax([f_1; ...; f_M] W + b) ([batch, M]);
 * outputs: [M w_1 f_1; ...; M w_M f_M] ([batch, Σd], scaled by M so that uniform weights
 * leave the features as they were) and w itself, for explanation (no loss reads it).
 */
import { tf, tfl } from '../backend/index.js';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { asShapes, asTensors, FusionLayer, type LayerCost, type Shape } from './base.js';

export class ModalAttention extends FusionLayer {
  static readonly className = 'ModalfuseModalAttention';
  private kernel: LayerVariable | null = null;
  private bias: LayerVariable | null = null;

  override build(inputShape: Shape | Shape[]): void {
    const dims = asShapes(inputShape).map((s) => s[s.length - 1] as number);
    const d = dims.reduce((a, b) => a + b, 0);
    this.kernel = this.addWeight('attention_kernel', [d, this.modalities.length], 'float32', this.glorot(1));
    this.bias = this.addWeight('attention_bias', [this.modalities.length], 'float32', tfl.initializers.zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape[] {
    const shapes = asShapes(inputShape);
    const d = shapes.reduce((a, s) => a + (s[s.length - 1] as number), 0);
    return [
      [shapes[0][0], d],
      [shapes[0][0], this.modalities.length],
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    return tf.tidy(() => {
      const xs = asTensors(inputs);
      const M = xs.length;
      const w = tf.softmax(tf.add(tf.matMul(tf.concat(xs, 1), this.kernel!.read()), this.bias!.read()));
      const parts = tf.split(w, M, 1);
      const fused = tf.concat(xs.map((x, i) => tf.mul(x, tf.mul(parts[i], M))), 1);
      return [fused, w];
    });
  }

  costPerSample(shapes: Shape[]): LayerCost {
    const d = shapes.reduce((a, s) => a + (s[s.length - 1] as number), 0);
    const M = this.modalities.length;
    return { flops: 2 * d * M + 4 * M + 2 * d, activations: d + 2 * M };
  }
}
tf.serialization.registerClass(ModalAttention);
