/**
 * `PolynomialTensorPooling` (PTP; Hou et al., NeurIPS 2019): an order-P polynomial of the
 *   concatenation [c; z_1; ...; z_M] through one shared rank-r factor (the symmetric CP form
 *   of the P-th tensor power), with the constant c = 0.5 and the optional signed-square-root
 *   and L2 normalisations of the official code.
 */
import { tf } from '../backend/index.js';
import { asShapes, asTensors, type FusionArgs, type LayerCost, type Shape } from './base.js';
import { lastDim, ptpCost } from './tensor_ops.js';
import { type PtpOptions, PTP_DEFAULTS, type PtpNode, ptpNode, PtpLayer, pickPtp } from './ptp_base.js';

export type PolynomialTensorPoolingArgs = FusionArgs & Partial<PtpOptions>;

/** PTP over the concatenation of the (vector) modalities. */
export class PolynomialTensorPooling extends PtpLayer {
  static readonly className = 'ModalfusePolynomialTensorPooling';
  readonly ptpOpts: PtpOptions;
  private node: PtpNode | null = null;

  constructor(args: PolynomialTensorPoolingArgs) {
    super(args);
    this.ptpOpts = { ...PTP_DEFAULTS, ...pickPtp(args) };
  }

  override build(inputShape: Shape | Shape[]): void {
    const D = asShapes(inputShape).reduce((a, s) => a + lastDim(s), 0);
    this.node = this.addPtpNode(this.ptpOpts, '', D, 0);
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return [asShapes(inputShape)[0][0], this.ptpOpts.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const xs = asTensors(inputs);
      return ptpNode(xs.length === 1 ? xs[0] : tf.concat(xs, -1), this.node!, this.ptpOpts);
    });
  }

  costPerSample(shapes: Shape[]): LayerCost {
    const o = this.ptpOpts;
    const D = shapes.reduce((a, s) => a + lastDim(s), 0);
    const c = ptpCost(D, o.rank, o.units, o.order, o.signedSqrt, o.l2norm);
    return { flops: c.flops + D, activations: c.activations + D };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.ptpOpts };
  }
}

tf.serialization.registerClass(PolynomialTensorPooling);
