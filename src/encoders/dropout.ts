/**
 * Dropout whose masks are reproducible from a seed yet differ from call to call.
 * tfjs-layers' Dropout passes its fixed seed to every call, so a seeded Dropout there
 * drops the same units on every batch; this one advances a counter per training call.
 */
import { tf, tfl } from '../backend/index.js';

export interface SeededDropoutArgs {
  rate: number;
  seed: number;
  name?: string;
}

export class SeededDropout extends tfl.layers.Layer {
  static readonly className = 'ModalfuseSeededDropout';
  readonly rate: number;
  readonly seed: number;
  private calls = 0;

  constructor(args: SeededDropoutArgs & Record<string, unknown>) {
    super(args as never);
    this.rate = args.rate;
    this.seed = args.seed;
    this.supportsMasking = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (!kwargs.training || this.rate <= 0) return tf.clone(x);
    const seed = (this.seed + 7919 * ++this.calls) % 2147483647;
    return tf.dropout(x, this.rate, undefined, seed);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed };
  }
}
tf.serialization.registerClass(SeededDropout);
