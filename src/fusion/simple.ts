/**
 * Early (feature-level) fusion of encoded modalities: concatenation, sum after a learned
 * projection to a common width, and element-wise product after the same projection.
 */
import { tf, tfl } from '../backend/index.js';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { asShapes, asTensors, FusionLayer, perSample, type FusionArgs, type LayerCost, type Shape } from './base.js';

/** [h_1; h_2; ...]: concatenation along the feature axis. */
export class ConcatFusion extends FusionLayer {
  static readonly className = 'ModalfuseConcatFusion';

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shapes = asShapes(inputShape);
    return [shapes[0][0], shapes.reduce((a, s) => a + (s[s.length - 1] as number), 0)];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.concat(asTensors(inputs), -1));
  }

  costPerSample(shapes: Shape[]): LayerCost {
    return { flops: 0, activations: shapes.reduce((a, s) => a + perSample(s), 0) };
  }
}

export interface ProjectedArgs extends FusionArgs {
  units: number;
}

/** Cost of `sum` / `product` over encoded widths: a projection per modality, then M-1 element-wise ops. */
export function projectedCost(widths: number[], units: number): LayerCost & { params: number; outWidth: number } {
  const proj = widths.reduce((a, w) => a + 2 * w * units + units, 0);
  return { params: widths.reduce((a, w) => a + w * units + units, 0), flops: proj + (widths.length - 1) * units, activations: (widths.length + 1) * units, outWidth: units };
}

/** Shared machinery of `sum` and `product`: z_m = h_m W_m + b_m for every modality. */
abstract class ProjectedFusion extends FusionLayer {
  readonly units: number;
  protected kernels: LayerVariable[] = [];
  protected biases: LayerVariable[] = [];

  constructor(args: ProjectedArgs) {
    super(args);
    this.units = args.units;
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = asShapes(inputShape);
    this.kernels = shapes.map((s, i) =>
      this.addWeight(`${this.modalities[i]}_kernel`, [s[s.length - 1] as number, this.units], 'float32', this.glorot(i)),
    );
    this.biases = shapes.map((_, i) =>
      this.addWeight(`${this.modalities[i]}_bias`, [this.units], 'float32', this.biasInit()),
    );
    this.built = true;
  }

  protected abstract biasInit(): ReturnType<typeof tfl.initializers.zeros>;

  protected projections(inputs: tf.Tensor[]): tf.Tensor[] {
    return inputs.map((x, i) => tf.add(tf.matMul(x, this.kernels[i].read()), this.biases[i].read()));
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return [asShapes(inputShape)[0][0], this.units];
  }

  costPerSample(shapes: Shape[]): LayerCost {
    return projectedCost(shapes.map((s) => s[s.length - 1] as number), this.units);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units };
  }
}

/** sum_m (h_m W_m + b_m). */
export class SumFusion extends ProjectedFusion {
  static readonly className = 'ModalfuseSumFusion';

  protected biasInit() {
    return tfl.initializers.zeros();
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.addN(this.projections(asTensors(inputs))));
  }
}

/** prod_m (h_m W_m + b_m), element-wise; biases start at 1 so the product starts well-scaled. */
export class ProductFusion extends ProjectedFusion {
  static readonly className = 'ModalfuseProductFusion';

  protected biasInit() {
    return tfl.initializers.ones();
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => this.projections(asTensors(inputs)).reduce((a, b) => tf.mul(a, b)));
  }
}

tf.serialization.registerClass(ConcatFusion);
tf.serialization.registerClass(SumFusion);
tf.serialization.registerClass(ProductFusion);
