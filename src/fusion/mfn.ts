/**
 * Memory Fusion Network (Zadeh, Liang, Mazumder, Poria, Cambria, Morency. AAAI 2018) as
 * one tfjs layer over M sequence inputs [batch, T, D_m] (and, optionally, M lengths
 * [batch, 1]). Per step t:
 *
 *   System of LSTMs: one LSTM per modality (sigmoid gates i, f, g, o as torch.nn.LSTMCell;
 *     weights `lstm{k}_kernel` [D, 4H], `lstm{k}_recurrent_kernel` [H, 4H], `lstm{k}_bias`);
 *   Delta-memory attention: c* = [c_{t-w+1}; ...; c_t] (the concatenated cell states of all
 *     modalities over the window, w = 2: t-1 and t), a = softmax(D_a(c*)) over all of its
 *     elements, ĉ = a ⊙ c*;
 *   Multi-view gated memory: û = tanh(D_u(ĉ)), retain γ1 = σ(D_γ1([ĉ; u_{t-1}])),
 *     update γ2 = σ(D_γ2([ĉ; u_{t-1}])), u_t = γ1 ⊙ u_{t-1} + γ2 ⊙ û.
 *   Each D is dense(relu) -> dropout -> dense, with widths and dropouts from the args.
 * Outputs: [h^1_T; ...; h^M_T; u_T] ([batch, ΣH + memory]; the prediction network is
 * ordinary dense layers after it), and the attention mass per modality ([batch, M]: a's
 * weight on each modality's cells, averaged over the valid steps; rows sum to 1), for
 * explanation only.
 *
 * Lengths (padding at the end): past its length a modality's h and c stay as they were,
 * and the memory stays as it was once every modality has ended, so padded steps change
 * nothing.
 *
 * Paper vs official code (pliang279/MFN test_mosi.py), followed here: the code's. (1) The
 * paper writes D_u, D_γ1, D_γ2 as taking ĉ; the code gives γ1 and γ2 [ĉ; u_{t-1}] and
 * û = tanh(D_u(ĉ)), as here (the paper's equations agree on the gates' inputs; the text
 * does not mention the tanh). (2) The window is fixed at 2 in the code (c_{t-1}, c_t), the
 * paper allows any; `window` defaults to 2. (3) torch LSTM cells with two bias vectors and
 * uniform(±1/√H) initialisation; here one bias and Glorot/orthogonal initialisation.
 * (4) The code drops the last partial batch of every epoch (MMMO: 92 of 220 training
 * samples never seen with batch 128); the training loop here uses every sample.
 */
import { tf, tfl } from '../backend/index.js';
import type { LayerVariable } from '@tensorflow/tfjs-layers';
import { asShapes, asTensors, FusionLayer, type FusionArgs, type LayerCost, type Shape } from './base.js';
import { dfgForward, dfgWeightSpecs, graphOf } from './dfg.js';

export interface MfnArgs extends FusionArgs {
  /** LSTM units per modality (input order). */
  hidden: number[];
  memory: number;
  /** Steps of cell states the attention sees (2: t-1 and t). */
  window?: number;
  /** Hidden width and dropout of D_a (attention) and D_u (memory proposal). */
  attHidden: [number, number];
  attDropout: [number, number];
  /** Hidden width and dropout of D_γ1 (retain) and D_γ2 (update). */
  gammaHidden: [number, number];
  gammaDropout: [number, number];
  /** The last M inputs are the modalities' valid lengths [batch, 1]. */
  lengths?: boolean;
  /**
   * Graph-MFN (Zadeh et al., ACL 2018): the memory proposal D_u is a dynamic fusion graph
   * over the modalities' parts of ĉ (vertices of width attHidden[1]), û = tanh(τ W + b); a
   * third output holds the graph's efficacies averaged over the valid steps.
   */
  graph?: boolean;
}

interface Mlp {
  w1: LayerVariable;
  b1: LayerVariable;
  w2: LayerVariable;
  b2: LayerVariable;
  drop: number;
}

export class MemoryFusion extends FusionLayer {
  static readonly className = 'ModalfuseMemoryFusion';
  readonly hidden: number[];
  readonly memory: number;
  readonly window: number;
  readonly attHidden: [number, number];
  readonly attDropout: [number, number];
  readonly gammaHidden: [number, number];
  readonly gammaDropout: [number, number];
  readonly lengths: boolean;
  readonly graph: boolean;
  private dfg: Record<string, LayerVariable> = {};
  private lstm: { kernel: LayerVariable; recurrent: LayerVariable; bias: LayerVariable }[] = [];
  private nets: Record<'att' | 'u' | 'g1' | 'g2', Mlp> | null = null;
  private calls = 0;

  constructor(args: MfnArgs) {
    super(args);
    this.hidden = [...args.hidden];
    this.memory = args.memory;
    this.window = args.window ?? 2;
    this.attHidden = [...args.attHidden] as [number, number];
    this.attDropout = [...args.attDropout] as [number, number];
    this.gammaHidden = [...args.gammaHidden] as [number, number];
    this.gammaDropout = [...args.gammaDropout] as [number, number];
    this.lengths = args.lengths ?? false;
    this.graph = args.graph ?? false;
    if (this.hidden.length !== this.modalities.length) throw new Error(`MemoryFusion: ${this.modalities.length} modalities but ${this.hidden.length} hidden sizes`);
    if (!Number.isInteger(this.window) || this.window < 1) throw new Error(`MemoryFusion: window must be a positive integer, found ${this.window}`);
  }

  private get cells(): number {
    return this.hidden.reduce((a, b) => a + b, 0);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = asShapes(inputShape);
    const M = this.modalities.length;
    let k = 0;
    this.lstm = this.hidden.map((H, i) => {
      const D = shapes[i][2] as number;
      return {
        kernel: this.addWeight(`lstm${i}_kernel`, [D, 4 * H], 'float32', this.glorot(++k)),
        recurrent: this.addWeight(`lstm${i}_recurrent_kernel`, [H, 4 * H], 'float32', tfl.initializers.orthogonal({ seed: this.seed + 31 * ++k, gain: 1 })),
        bias: this.addWeight(`lstm${i}_bias`, [4 * H], 'float32', tfl.initializers.zeros()),
      };
    });
    const cin = this.cells * this.window;
    const mlp = (name: string, din: number, hid: number, dout: number, drop: number): Mlp => ({
      w1: this.addWeight(`${name}_kernel`, [din, hid], 'float32', this.glorot(++k)),
      b1: this.addWeight(`${name}_bias`, [hid], 'float32', tfl.initializers.zeros()),
      w2: this.addWeight(`${name}_out_kernel`, [hid, dout], 'float32', this.glorot(++k)),
      b2: this.addWeight(`${name}_out_bias`, [dout], 'float32', tfl.initializers.zeros()),
      drop,
    });
    this.nets = {
      att: mlp('att1', cin, this.attHidden[0], cin, this.attDropout[0]),
      // graph-mfn: the graph replaces D_u's first layer (its τ has width attHidden[1])
      u: this.graph
        ? ({
            w2: this.addWeight('att2_out_kernel', [this.attHidden[1], this.memory], 'float32', this.glorot(++k)),
            b2: this.addWeight('att2_out_bias', [this.memory], 'float32', tfl.initializers.zeros()),
            drop: this.attDropout[1],
          } as Mlp)
        : mlp('att2', cin, this.attHidden[1], this.memory, this.attDropout[1]),
      g1: mlp('gamma1', cin + this.memory, this.gammaHidden[0], this.memory, this.gammaDropout[0]),
      g2: mlp('gamma2', cin + this.memory, this.gammaHidden[1], this.memory, this.gammaDropout[1]),
    };
    if (this.graph) {
      const dims = this.hidden.map((H) => H * this.window);
      for (const { name, shape, zero } of dfgWeightSpecs(dims, this.attHidden[1])) {
        this.dfg[name] = this.addWeight(`dfg_${name}`, shape, 'float32', zero ? tfl.initializers.zeros() : this.glorot(++k));
      }
    }
    void M;
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape[] {
    const b = asShapes(inputShape)[0][0];
    return [
      [b, this.cells + this.memory],
      [b, this.modalities.length],
      ...(this.graph ? [[b, graphOf(this.modalities.length).edges.length]] : []),
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor[] {
    return tf.tidy(() => {
      // All modalities' LSTMs run as one: states [B, S] (modality blocks in input order),
      // gate-major pre-activations [i_1..i_M | f_1..f_M | g.. | o..] and a block-diagonal
      // recurrent kernel, built once per call from the per-modality weights (fewer kernels per step).
      const xs = asTensors(inputs);
      const M = this.modalities.length;
      const training = Boolean(kwargs.training);
      const call = ++this.calls;
      const [B, T] = xs[0].shape as number[];
      const S = this.cells;
      const offs = this.hidden.map((_, i) => this.hidden.slice(0, i).reduce((a, b) => a + b, 0));
      const nets = this.nets!;
      const gatesOf = (p: tf.Tensor, H: number, rows: number) => [0, 1, 2, 3].map((k) => tf.slice(p, [0, k * H], [rows, H]));
      const proj = this.lstm.map((w, i) => {
        const D = xs[i].shape[2] as number;
        return gatesOf(tf.add(tf.matMul(tf.reshape(xs[i], [B * T, D]), w.kernel.read()), w.bias.read()), this.hidden[i], B * T);
      });
      const xp = tf.unstack(tf.reshape(tf.concat([0, 1, 2, 3].flatMap((k) => proj.map((g) => g[k])), 1), [B, T, 4 * S]), 1);
      const R = tf.concat(
        this.lstm.map((w, i) => {
          const H = this.hidden[i];
          const g = gatesOf(w.recurrent.read(), H, H);
          return tf.concat(g.map((gk) => tf.pad(gk, [[0, 0], [offs[i], S - offs[i] - H]])), 1);
        }),
        0,
      ); // [S, 4S]
      // valid-step masks (padding at the end): per state column [B, S] and "any modality valid" [B, 1]
      let colMask: tf.Tensor[] | null = null;
      let anyMask: tf.Tensor[] | null = null;
      // every sample at full length (the usual case): no masking at all
      const full = this.lengths && xs.slice(M, 2 * M).every((len) => (len.min().dataSync()[0] as number) >= T);
      if (this.lengths && !full) {
        const steps = tf.range(0, T, 1, 'float32').reshape([1, T]);
        const m = xs.slice(M, 2 * M).map((len) => tf.cast(tf.less(steps, len), 'float32')); // M x [B, T]
        colMask = tf.unstack(tf.concat(m.map((mi, i) => tf.tile(mi.expandDims(2), [1, 1, this.hidden[i]])), 2), 1);
        anyMask = tf.unstack(m.reduce((a, b) => tf.maximum(a, b)).expandDims(2), 1);
      }
      // dropout keep-masks of every step, drawn once per call
      let k = 0;
      const keep = (width: number, rates: Array<[number, number]>): tf.Tensor[] | null => {
        k++;
        if (!training || rates.every(([, r]) => r <= 0)) return null;
        const parts = rates.map(([w, r]) => {
          if (r <= 0) return tf.ones([T, B, w]);
          const u = tf.randomUniform([T, B, w], 0, 1, 'float32', (this.seed + 7919 * call + 131 * k) % 2147483647);
          return tf.div(tf.cast(tf.greaterEqual(u, r), 'float32'), 1 - r);
        });
        void width;
        return tf.unstack(parts.length === 1 ? parts[0] : tf.concat(parts, 2));
      };
      const [ah, uh] = this.attHidden;
      const [g1h, g2h] = this.gammaHidden;
      const keepAtt = keep(ah, [[ah, this.attDropout[0]]]);
      const keepU = keep(uh, [[uh, this.attDropout[1]]]);
      const keepG = keep(g1h + g2h, [[g1h, this.gammaDropout[0]], [g2h, this.gammaDropout[1]]]);
      // the two gate networks share their input: one first layer, a block-diagonal second
      const gW1 = tf.concat([nets.g1.w1.read(), nets.g2.w1.read()], 1);
      const gB1 = tf.concat([nets.g1.b1.read(), nets.g2.b1.read()]);
      const mem0 = this.memory;
      const gW2 = tf.concat([tf.pad(nets.g1.w2.read(), [[0, 0], [0, mem0]]), tf.pad(nets.g2.w2.read(), [[0, 0], [mem0, 0]])], 0);
      const gB2 = tf.concat([nets.g1.b2.read(), nets.g2.b2.read()]);
      const layer = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.add(tf.matMul(x, w), b);
      const hidden = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, mask: tf.Tensor[] | null, t: number) => {
        const h = tf.relu(layer(x, w, b));
        return mask ? tf.mul(h, mask[t]) : h;
      };
      let h: tf.Tensor = tf.zeros([B, S]);
      let c: tf.Tensor = tf.zeros([B, S]);
      let mem: tf.Tensor = tf.zeros([B, mem0]);
      const past: tf.Tensor[] = Array.from({ length: this.window - 1 }, () => tf.zeros([B, S]));
      const attn: tf.Tensor[] = [];
      const effs: tf.Tensor[] = [];
      for (let t = 0; t < T; t++) {
        const z = tf.add(xp[t], tf.matMul(h, R));
        const sg = tf.sigmoid(z);
        let cNew: tf.Tensor = tf.add(tf.mul(tf.slice(sg, [0, S], [B, S]), c), tf.mul(tf.slice(sg, [0, 0], [B, S]), tf.tanh(tf.slice(z, [0, 2 * S], [B, S]))));
        let hNew: tf.Tensor = tf.mul(tf.slice(sg, [0, 3 * S], [B, S]), tf.tanh(cNew));
        if (colMask) {
          cNew = tf.add(c, tf.mul(colMask[t], tf.sub(cNew, c)));
          hNew = tf.add(h, tf.mul(colMask[t], tf.sub(hNew, h)));
        }
        const cStar = this.window === 1 ? cNew : tf.concat([...past, cNew], 1);
        const a = tf.softmax(layer(hidden(cStar, nets.att.w1.read(), nets.att.b1.read(), keepAtt, t), nets.att.w2.read(), nets.att.b2.read()));
        const attended = tf.mul(a, cStar);
        let uIn: tf.Tensor;
        if (this.graph) {
          // each modality's columns of ĉ (over the window) are one vertex of the graph
          const parts = this.hidden.map((H, i) => tf.concat(Array.from({ length: this.window }, (_, w) => tf.slice(attended, [0, w * S + offs[i]], [B, H])), 1));
          const [tau, alpha] = dfgForward(parts, (n) => this.dfg[n].read());
          uIn = keepU ? tf.mul(tau, keepU[t]) : tau;
          effs.push(alpha);
        } else {
          uIn = hidden(attended, nets.u.w1.read(), nets.u.b1.read(), keepU, t);
        }
        const uHat = tf.tanh(layer(uIn, nets.u.w2.read(), nets.u.b2.read()));
        const gates = tf.sigmoid(layer(hidden(tf.concat([attended, mem], 1), gW1, gB1, keepG, t), gW2, gB2));
        let next: tf.Tensor = tf.add(tf.mul(tf.slice(gates, [0, 0], [B, mem0]), mem), tf.mul(tf.slice(gates, [0, mem0], [B, mem0]), uHat));
        if (anyMask) next = tf.add(mem, tf.mul(anyMask[t], tf.sub(next, mem)));
        attn.push(a);
        mem = next;
        h = hNew;
        c = cNew;
        if (this.window > 1) {
          past.shift();
          past.push(cNew);
        }
      }
      // attention mass per modality (columns of c* owned by each), averaged over the valid steps
      const owner = new Float32Array(S * this.window * M);
      for (let w = 0, col = 0; w < this.window; w++) this.hidden.forEach((H, i) => { for (let j = 0; j < H; j++, col++) owner[col * M + i] = 1; });
      const perStep = tf.matMul(tf.reshape(tf.stack(attn, 1), [B * T, S * this.window]), tf.tensor2d(owner, [S * this.window, M])).reshape([B, T, M]);
      const stepW = anyMask ? tf.stack(anyMask, 1) : tf.ones([B, T, 1]); // [B, T, 1]
      const attention = tf.div(tf.sum(tf.mul(perStep, stepW), 1), tf.maximum(tf.sum(stepW, 1), 1));
      const outs = [tf.concat([h, mem], 1), attention];
      if (this.graph) outs.push(tf.div(tf.sum(tf.mul(tf.stack(effs, 1), stepW), 1), tf.maximum(tf.sum(stepW, 1), 1)));
      return outs;
    });
  }

  costPerSample(shapes: Shape[]): LayerCost {
    const T = (shapes[0][1] as number) ?? 1;
    const S = this.cells;
    const cin = S * this.window;
    let flops = 0;
    this.hidden.forEach((H, i) => {
      const D = shapes[i][2] as number;
      flops += T * (2 * D * 4 * H + 2 * H * 4 * H + 12 * H);
    });
    const mlp = (din: number, hid: number, dout: number) => 2 * din * hid + 2 * hid * dout;
    flops += T * (mlp(cin, this.attHidden[0], cin) + mlp(cin, this.attHidden[1], this.memory) + mlp(cin + this.memory, this.gammaHidden[0], this.memory) + mlp(cin + this.memory, this.gammaHidden[1], this.memory) + 8 * this.memory + 4 * cin);
    const activations = T * (6 * S + 3 * cin + this.attHidden[0] + this.attHidden[1] + this.gammaHidden[0] + this.gammaHidden[1] + 5 * this.memory);
    return { flops, activations };
  }

  /** Trainable parameters for inputs of widths `dims` (before building). */
  static params(dims: number[], a: Omit<MfnArgs, 'modalities'>): number {
    const S = a.hidden.reduce((x, y) => x + y, 0);
    const cin = S * (a.window ?? 2);
    let p = 0;
    a.hidden.forEach((H, i) => (p += dims[i] * 4 * H + H * 4 * H + 4 * H));
    const mlp = (din: number, hid: number, dout: number) => din * hid + hid + hid * dout + dout;
    const u = a.graph
      ? dfgWeightSpecs(a.hidden.map((H) => H * (a.window ?? 2)), a.attHidden[1]).reduce((s, w) => s + w.shape.reduce((x, y) => x * y, 1), 0) + a.attHidden[1] * a.memory + a.memory
      : mlp(cin, a.attHidden[1], a.memory);
    p += mlp(cin, a.attHidden[0], cin) + u + mlp(cin + a.memory, a.gammaHidden[0], a.memory) + mlp(cin + a.memory, a.gammaHidden[1], a.memory);
    return p;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      hidden: this.hidden,
      memory: this.memory,
      window: this.window,
      attHidden: this.attHidden,
      attDropout: this.attDropout,
      gammaHidden: this.gammaHidden,
      gammaDropout: this.gammaDropout,
      lengths: this.lengths,
      graph: this.graph,
    };
  }
}
tf.serialization.registerClass(MemoryFusion);
