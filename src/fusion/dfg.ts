/**
 * Dynamic Fusion Graph (Zadeh, Liang, Poria, Cambria, Morency. ACL 2018): a fusion layer
 * over M >= 2 feature vectors [batch, d_m] (M <= 5). Vertices: one per non-empty subset of
 * the modalities (unimodal v_m = relu(f_m W_m + b_m) of width `units`; a subset S of two or
 * more gets v_S = relu([α_{s→S} v_s for every proper subset s of S] W_S + b_S)) and the
 * output vertex τ = relu([α_{v→τ} v for every vertex v] W_τ + b_τ). The efficacies α (one
 * scalar per edge, in (0, 1)) are predicted from all inputs: α = sigmoid(D_α([f_1; ...; f_M]))
 * with D_α = dense(`units`, relu) -> dense(edges). Outputs: τ [batch, units] and α
 * [batch, edges] (`DynamicFusionGraph.edgeNames(modalities)` names the columns), the latter
 * for explanation only.
 */
import { tf, tfl } from '../backend/index.js';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { asShapes, asTensors, FusionLayer, type FusionArgs, type LayerCost, type Shape } from './base.js';

export interface DfgArgs extends FusionArgs {
  units: number;
}

/** Subsets as bit masks, by size then value; the edges into each subset of size >= 2 and into τ. */
export function graphOf(M: number): { subsets: number[]; edges: Array<[number, number]> } {
  const subsets = Array.from({ length: (1 << M) - 1 }, (_, i) => i + 1).sort((a, b) => popcount(a) - popcount(b) || a - b);
  const edges: Array<[number, number]> = [];
  for (const S of subsets) {
    if (popcount(S) < 2) continue;
    for (const s of subsets) if (s !== S && (s & S) === s) edges.push([s, S]);
  }
  for (const s of subsets) edges.push([s, -1]);
  return { subsets, edges };
}

function popcount(x: number): number {
  let c = 0;
  for (; x; x &= x - 1) c++;
  return c;
}

/** The graph's weights for inputs of widths `dims`: name, shape, and whether it starts at zero (biases). */
export function dfgWeightSpecs(dims: number[], units: number): Array<{ name: string; shape: number[]; zero: boolean }> {
  const { subsets, edges } = graphOf(dims.length);
  const u = units;
  const out: Array<{ name: string; shape: number[]; zero: boolean }> = [];
  const add = (name: string, shape: number[], zero = false) => out.push({ name, shape, zero });
  dims.forEach((d, i) => {
    add(`v${1 << i}_kernel`, [d, u]);
    add(`v${1 << i}_bias`, [u], true);
  });
  for (const S of subsets) {
    if (popcount(S) < 2) continue;
    add(`v${S}_kernel`, [edges.filter((e) => e[1] === S).length * u, u]);
    add(`v${S}_bias`, [u], true);
  }
  add('out_kernel', [subsets.length * u, u]);
  add('out_bias', [u], true);
  add('efficacy_kernel', [dims.reduce((a, b) => a + b, 0), u]);
  add('efficacy_bias', [u], true);
  add('efficacy_out_kernel', [u, edges.length]);
  add('efficacy_out_bias', [edges.length], true);
  return out;
}

/** The graph on M inputs: [τ [batch, units], efficacies [batch, edges]]; `w(name)` reads a weight of `dfgWeightSpecs`. */
export function dfgForward(xs: tf.Tensor[], w: (name: string) => tf.Tensor): [tf.Tensor, tf.Tensor] {
  const { subsets, edges } = graphOf(xs.length);
  const lin = (x: tf.Tensor, n: string) => tf.add(tf.matMul(x, w(`${n}_kernel`)), w(`${n}_bias`));
  const alpha = tf.sigmoid(lin(tf.relu(lin(tf.concat(xs, 1), 'efficacy')), 'efficacy_out'));
  const a = tf.split(alpha, edges.length, 1);
  const v = new Map<number, tf.Tensor>();
  xs.forEach((x, i) => v.set(1 << i, tf.relu(lin(x, `v${1 << i}`))));
  const into = (S: number) => tf.concat(edges.map((e, j) => [e, j] as const).filter(([e]) => e[1] === S).map(([e, j]) => tf.mul(a[j], v.get(e[0])!)), 1);
  for (const S of subsets) if (popcount(S) >= 2) v.set(S, tf.relu(lin(into(S), `v${S}`)));
  return [tf.relu(lin(into(-1), 'out')), alpha];
}

export class DynamicFusionGraph extends FusionLayer {
  static readonly className = 'ModalfuseDynamicFusionGraph';
  readonly units: number;
  private w: Record<string, LayerVariable> = {};

  constructor(args: DfgArgs) {
    super(args);
    this.units = args.units;
    if (this.modalities.length < 2 || this.modalities.length > 5) throw new Error(`DynamicFusionGraph: 2 to 5 modalities, found ${this.modalities.length}`);
  }

  /** Column names of the efficacy output: "a->a+b", "a+b->out", ... */
  static edgeNames(modalities: string[]): string[] {
    const name = (s: number) => (s < 0 ? 'out' : modalities.filter((_, i) => s & (1 << i)).join('+'));
    return graphOf(modalities.length).edges.map(([s, S]) => `${name(s)}->${name(S)}`);
  }

  override build(inputShape: Shape | Shape[]): void {
    const dims = asShapes(inputShape).map((s) => s[s.length - 1] as number);
    let k = 0;
    for (const { name, shape, zero } of dfgWeightSpecs(dims, this.units)) this.w[name] = this.addWeight(name, shape, 'float32', zero ? tfl.initializers.zeros() : this.glorot(++k));
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape[] {
    const b = asShapes(inputShape)[0][0];
    return [
      [b, this.units],
      [b, graphOf(this.modalities.length).edges.length],
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    return tf.tidy(() => dfgForward(asTensors(inputs), (n) => this.w[n].read()));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units };
  }

  costPerSample(shapes: Shape[]): LayerCost {
    const dims = shapes.map((s) => s[s.length - 1] as number);
    const { subsets, edges } = graphOf(dims.length);
    const u = this.units;
    const din = dims.reduce((a, b) => a + b, 0);
    const flops = 2 * din * u + 2 * u * edges.length + 2 * din * u + 2 * edges.length * u * u + 2 * subsets.length * u * u;
    return { flops, activations: (subsets.length + 2) * u + edges.length * (u + 1) };
  }
}
tf.serialization.registerClass(DynamicFusionGraph);
