/**
 * Recurrent residual fusion (RRF), as the survey describes it for DSSM towers: one residual
 * block h -> relu(h + W2 relu(W1 h + b1) + b2) applied `steps` times (default 3) with shared
 * weights; the `steps` outputs are concatenated with the block's input and fused by a dense
 * layer of `units` (relu). Input and output are feature vectors [batch, d] -> [batch, units].
 */
import { tf, tfl } from '../backend/index.js';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { perSample, type LayerCost, type Shape } from './base.js';

export interface RrfArgs {
  units: number;
  steps?: number;
  seed?: number;
  name?: string;
}

export class RecurrentResidualFusion extends tfl.layers.Layer {
  static readonly className = 'ModalfuseRecurrentResidualFusion';
  readonly units: number;
  readonly steps: number;
  readonly seed: number;
  private w: LayerVariable[] = [];

  constructor(args: RrfArgs) {
    super({ name: args.name } as never);
    this.units = args.units;
    this.steps = args.steps ?? 3;
    this.seed = args.seed ?? 0;
  }

  private init(offset: number) {
    return tfl.initializers.glorotUniform({ seed: (this.seed + offset * 7919) % 2147483647 });
  }

  override build(inputShape: Shape | Shape[]): void {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const d = s[s.length - 1] as number;
    const zeros = tfl.initializers.zeros();
    this.w = [
      this.addWeight('block_kernel1', [d, d], 'float32', this.init(1)),
      this.addWeight('block_bias1', [d], 'float32', zeros),
      this.addWeight('block_kernel2', [d, d], 'float32', this.init(2)),
      this.addWeight('block_bias2', [d], 'float32', zeros),
      this.addWeight('fuse_kernel', [d * (this.steps + 1), this.units], 'float32', this.init(3)),
      this.addWeight('fuse_bias', [this.units], 'float32', zeros),
    ];
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [s[0], this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const [k1, b1, k2, b2, kf, bf] = this.w.map((v) => v.read());
      const outs: tf.Tensor[] = [x];
      let h = x;
      for (let t = 0; t < this.steps; t++) {
        const r = tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(h, k1), b1)), k2), b2);
        h = tf.relu(tf.add(h, r));
        outs.push(h);
      }
      return tf.relu(tf.add(tf.matMul(tf.concat(outs, -1), kf), bf));
    });
  }

  /** FLOPs and kept activations per sample for an input of `inputShape`. */
  costPerSample(inputShape: Shape): LayerCost {
    const d = perSample(inputShape);
    return { flops: this.steps * (4 * d * d + 4 * d) + 2 * d * (this.steps + 1) * this.units, activations: this.steps * 2 * d + this.units };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units, steps: this.steps, seed: this.seed };
  }
}
tf.serialization.registerClass(RecurrentResidualFusion);
