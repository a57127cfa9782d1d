/**
 * A learned positive scalar (DSSM's smoothing factor gamma when it is learned), kept as its
 * logarithm so it stays positive: the output is [batch, 1] filled with exp(logScale),
 * clipped to [1, maxScale]. Its input only gives the batch size.
 */
import { tf, tfl } from '../backend/index.js';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import type { Shape } from './base.js';

export interface LearnedScaleArgs {
  initial: number;
  maxScale?: number;
  name?: string;
}

export class LearnedScale extends tfl.layers.Layer {
  static readonly className = 'ModalfuseLearnedScale';
  readonly initial: number;
  readonly maxScale: number;
  private logScale: LayerVariable | null = null;

  constructor(args: LearnedScaleArgs) {
    super({ name: args.name } as never);
    this.initial = args.initial;
    this.maxScale = args.maxScale ?? 100;
  }

  override build(): void {
    this.logScale = this.addWeight('log_scale', [1], 'float32', tfl.initializers.constant({ value: Math.log(this.initial) }));
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [s[0], 1];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const g = tf.clipByValue(tf.exp(this.logScale!.read()), 1, this.maxScale);
      return tf.mul(tf.ones([x.shape[0]!, 1]), g);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), initial: this.initial, maxScale: this.maxScale };
  }
}
tf.serialization.registerClass(LearnedScale);
