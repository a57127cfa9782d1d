/**
 * `HierarchicalPolynomialFusion` (HPFN): PTP nodes on local windows over time steps and
 *   modalities, stacked in layers; the last layer pools everything into one vector.
 */
import { tf } from '../backend/index.js';
import { asShapes, asTensors, type FusionArgs, type LayerCost, type Shape } from './base.js';
import { type FusionCost, lastDim, ptpCost } from './tensor_ops.js';
import { type PtpOptions, PTP_DEFAULTS, type PtpNode, ptpNode, PtpLayer, pickPtp } from './ptp_base.js';

// HPFN

export interface HpfnPlanLayer {
  /** Time windows [start, end) over this layer's input steps. */
  timeWindows: [number, number][];
  /** Modality windows: indices of this layer's input sequences. */
  modalWindows: number[][];
  /** Input width of each node's PTP, by [modality window][time window]. */
  inWidths: number[][];
  /** Output width of every node of this layer. */
  units: number;
}

export interface HpfnStructure {
  /** Time window of every layer but the last (which covers everything). */
  timeWindow: number;
  /** Modality window of every layer but the last; circular windows when 1 < w < count. */
  modalWindow: number;
  layers: number;
  /** Width of the nodes of the hidden layers. */
  hiddenUnits: number;
}

function modalWindowsOf(count: number, w: number): number[][] {
  if (w >= count) return [Array.from({ length: count }, (_, i) => i)];
  if (w <= 1) return Array.from({ length: count }, (_, i) => [i]);
  return Array.from({ length: count }, (_, s) => Array.from({ length: w }, (_, k) => (s + k) % count));
}

/** The windows and widths of every HPFN layer for inputs of `steps` steps and `widths` features. */
export function hpfnPlan(steps: number, widths: number[], st: HpfnStructure, units: number): HpfnPlanLayer[] {
  const plan: HpfnPlanLayer[] = [];
  let T = steps;
  let ws = widths;
  for (let l = 0; l < st.layers; l++) {
    const last = l === st.layers - 1;
    const tw = last ? T : Math.max(1, Math.min(st.timeWindow, T));
    const timeWindows: [number, number][] = [];
    for (let t = 0; t < T; t += tw) timeWindows.push([t, Math.min(T, t + tw)]);
    const modalWindows = modalWindowsOf(ws.length, last ? ws.length : st.modalWindow);
    const inWidths = modalWindows.map((mw) => timeWindows.map(([a, b]) => (b - a) * mw.reduce((s, m) => s + ws[m], 0)));
    const u = last ? units : st.hiddenUnits;
    plan.push({ timeWindows, modalWindows, inWidths, units: u });
    T = timeWindows.length;
    ws = modalWindows.map(() => u);
  }
  return plan;
}

export function hpfnCost(steps: number, widths: number[], st: HpfnStructure, o: PtpOptions): FusionCost {
  const plan = hpfnPlan(steps, widths, st, o.units);
  let params = 0;
  let flops = 0;
  let activations = 0;
  for (const layer of plan) {
    for (const row of layer.inWidths) {
      for (const inW of row) {
        const c = ptpCost(inW, o.rank, layer.units, o.order, o.signedSqrt, o.l2norm);
        params += c.params;
        flops += c.flops;
        activations += c.activations + inW;
      }
    }
  }
  return { params, flops, activations, outWidth: o.units };
}

export type HierarchicalPolynomialFusionArgs = FusionArgs & Partial<PtpOptions> & Partial<HpfnStructure>;

export const HPFN_DEFAULTS: HpfnStructure = { timeWindow: 4, modalWindow: 2, layers: 2, hiddenUnits: 32 };

/**
 * HPFN over M sequence inputs [B, T, d_m] (same T). Layer l turns its input sequences into
 * one output sequence per modality window, one PTP node (own weights) per time window; the
 * last layer has one window over everything and returns [B, units].
 */
export class HierarchicalPolynomialFusion extends PtpLayer {
  static readonly className = 'ModalfuseHierarchicalPolynomialFusion';
  readonly ptpOpts: PtpOptions;
  readonly structure: HpfnStructure;
  private plan: HpfnPlanLayer[] = [];
  private nodes: PtpNode[][][] = [];

  constructor(args: HierarchicalPolynomialFusionArgs) {
    super(args);
    this.ptpOpts = { ...PTP_DEFAULTS, ...pickPtp(args) };
    this.structure = {
      timeWindow: args.timeWindow ?? HPFN_DEFAULTS.timeWindow,
      modalWindow: args.modalWindow ?? HPFN_DEFAULTS.modalWindow,
      layers: args.layers ?? HPFN_DEFAULTS.layers,
      hiddenUnits: args.hiddenUnits ?? HPFN_DEFAULTS.hiddenUnits,
    };
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = asShapes(inputShape);
    for (const s of shapes) if (s.length !== 3) throw new Error(`HierarchicalPolynomialFusion needs [batch, steps, features] inputs, got [${s}]`);
    const T = shapes[0][1] as number;
    this.plan = hpfnPlan(T, shapes.map(lastDim), this.structure, this.ptpOpts.units);
    let k = 0;
    this.nodes = this.plan.map((layer, l) =>
      layer.inWidths.map((row, mi) =>
        row.map((inW, ti) => this.addPtpNode({ ...this.ptpOpts, units: layer.units }, `l${l + 1}_m${mi}_t${ti}_`, inW, k++)),
      ),
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return [asShapes(inputShape)[0][0], this.ptpOpts.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      let seqs = asTensors(inputs) as tf.Tensor3D[];
      const B = seqs[0].shape[0];
      this.plan.forEach((layer, l) => {
        const layerOpts = { ...this.ptpOpts, units: layer.units };
        seqs = layer.modalWindows.map((mw, mi) => {
          const outs = layer.timeWindows.map(([a, b], ti) => {
            const parts = mw.map((m) => {
              const s = seqs[m];
              const win = a === 0 && b === s.shape[1] ? s : tf.slice(s, [0, a, 0], [-1, b - a, -1]);
              return tf.reshape(win, [B, (b - a) * s.shape[2]]);
            });
            const x = parts.length === 1 ? parts[0] : tf.concat(parts, 1);
            return ptpNode(x, this.nodes[l][mi][ti], layerOpts);
          });
          return (outs.length === 1 ? tf.expandDims(outs[0], 1) : tf.stack(outs, 1)) as tf.Tensor3D;
        });
      });
      return tf.reshape(seqs[0], [B, this.ptpOpts.units]);
    });
  }

  costPerSample(shapes: Shape[]): LayerCost {
    const c = hpfnCost(shapes[0][1] as number, shapes.map(lastDim), this.structure, this.ptpOpts);
    return { flops: c.flops, activations: c.activations };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.ptpOpts, ...this.structure };
  }
}

tf.serialization.registerClass(HierarchicalPolynomialFusion);
