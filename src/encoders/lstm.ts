/**
 * `FastLSTM`: the Keras / tfjs-layers LSTM (gates i, f, c, o; weights `kernel` [D, 4U],
 * `recurrent_kernel` [U, 4U], `bias` [4U], same names, shapes and column order, so weights
 * move between the two with getWeights/setWeights), computed with far fewer kernels:
 *
 * - the input projection of all time steps is one matMul, x [B*T, D] x W, plus the bias,
 *   through the standard ops: its gradient is tfjs's own (dW = x^T dZ: one matMul over all
 *   steps; dx only where the input needs a gradient);
 * - the recurrence runs in one `tf.customGrad` op: per step one [B, U] x [U, 4U] matMul and
 *   the gate arithmetic (about a dozen kernels; tfjs-layers' LSTM cell runs two matMuls,
 *   a fused bias add and a separate projection of x per step, and its autodiff keeps every
 *   intermediate);
 * - the hand-written backprop through time batches everything that does not depend on the
 *   running gradient: gate derivatives for all steps at once before the loop (six kernels
 *   per step remain: two for the cell gradient, two for dZ_t, one matMul for dh_{t-1}, one for
 *   dc_{t-1}), and the recurrent kernel's gradient is one matMul, H_prev^T dZ, over all steps.
 *
 * Same math as tfl.layers.lstm with zero initial state, no masking and no dropout:
 *   z = x_t W + h_{t-1} R + b;  i, f, o = recurrentActivation(z_i, z_f, z_o);
 *   c_t = f c_{t-1} + i activation(z_c);  h_t = o activation(c_t)
 * Output: the last h (default) or every h ([B, T, U], `returnSequences`). Activations:
 * tanh, sigmoid, hardSigmoid (the tfjs default recurrent activation), relu, linear.
 */
import { tf, tfl } from '../backend/index.js';

export const LSTM_ACTIVATIONS = ['tanh', 'sigmoid', 'hardSigmoid', 'relu', 'linear'] as const;
export type LstmActivation = (typeof LSTM_ACTIVATIONS)[number];

type Initializer = ReturnType<typeof tfl.initializers.zeros>;
type InitializerLike = Initializer | { className: string; config: tf.serialization.ConfigDict } | string;

export interface FastLSTMArgs {
  units: number;
  /** Cell activation (default 'tanh'). */
  activation?: LstmActivation;
  /** Gate activation (default 'hardSigmoid', as tfl.layers.lstm). */
  recurrentActivation?: LstmActivation;
  useBias?: boolean;
  /** Forget-gate bias initialised to 1 (default false, as tfl.layers.lstm). */
  unitForgetBias?: boolean;
  returnSequences?: boolean;
  kernelInitializer?: InitializerLike;
  recurrentInitializer?: InitializerLike;
  biasInitializer?: InitializerLike;
  name?: string;
  trainable?: boolean;
  inputShape?: number[];
  batchInputShape?: Array<number | null>;
}

type Sym = tfl.SymbolicTensor;

// ---------------------------------------------------------------------------- activations

function activate(name: LstmActivation, x: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'hardSigmoid': // as tfjs-layers: clip(0.5 + 0.2 x, 0, 1)
      return tf.clipByValue(tf.add(0.5, tf.mul(0.2, x)), 0, 1);
    case 'relu':
      return tf.relu(x);
    case 'linear':
      return tf.clone(x);
  }
}

/** d activation(x) / dx from the input x and the output y (elementwise), as tfjs's gradients. */
function activationGrad(name: LstmActivation, x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  switch (name) {
    case 'tanh':
      return tf.sub(1, tf.square(y));
    case 'sigmoid':
      return tf.mul(y, tf.sub(1, y));
    case 'hardSigmoid': {
      // the clip's gradient passes where min <= 0.5 + 0.2 x <= max (inclusive)
      const u = tf.add(0.5, tf.mul(0.2, x));
      return tf.mul(0.2, tf.cast(tf.logicalAnd(tf.greaterEqual(u, 0), tf.lessEqual(u, 1)), 'float32'));
    }
    case 'relu':
      return tf.step(x);
    case 'linear':
      return tf.onesLike(x);
  }
}

function checkActivation(name: string, what: string): LstmActivation {
  if (!(LSTM_ACTIVATIONS as readonly string[]).includes(name)) {
    throw new Error(`FastLSTM: unsupported ${what} '${name}' (supported: ${LSTM_ACTIVATIONS.join(', ')})`);
  }
  return name as LstmActivation;
}

// ---------------------------------------------------------------------------- initialisers

function initializerFrom(v: InitializerLike | undefined, dflt: () => Initializer): Initializer {
  if (v === undefined || v === null) return dflt();
  if (typeof v === 'string') {
    const f = (tfl.initializers as unknown as Record<string, (a?: object) => Initializer>)[v];
    if (typeof f !== 'function') throw new Error(`FastLSTM: unknown initializer '${v}'`);
    return f({});
  }
  if (typeof (v as Initializer).apply === 'function') return v as Initializer;
  const { className, config } = v as { className: string; config: tf.serialization.ConfigDict };
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new Error(`FastLSTM: unknown initializer class '${className}'`);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, config ?? {}) as unknown as Initializer;
}

function serializeInitializer(init: Initializer): { className: string; config: tf.serialization.ConfigDict } {
  return { className: init.getClassName(), config: init.getConfig() };
}

// ---------------------------------------------------------------------------- the recurrence op

interface Forward {
  /** h_T [B, U], or every h [B, T, U] with returnSequences. */
  value: tf.Tensor;
  /** Pre-activations and cell states of every step, [T, B, 4U] and [T, B, U], and every h [B, T, U] (kept only when asked). */
  Z?: tf.Tensor3D;
  C?: tf.Tensor3D;
  H?: tf.Tensor3D;
}

/** The recurrence forward: xp [B, T, 4U] = x W + b, R [U, 4U]. */
function forward(xp: tf.Tensor3D, R: tf.Tensor2D, U: number, act: LstmActivation, recAct: LstmActivation, returnSequences: boolean, keep: boolean): Forward {
  const [B, T] = xp.shape;
  const xs = tf.unstack(xp, 1); // T x [B, 4U]
  const zs: tf.Tensor[] = [];
  const cs: tf.Tensor[] = [];
  const hs: tf.Tensor[] = [];
  let h: tf.Tensor | null = null;
  let c: tf.Tensor | null = null;
  for (let t = 0; t < T; t++) {
    const z = h ? tf.add(xs[t], tf.matMul(h, R)) : xs[t];
    const s = activate(recAct, z);
    const [i, f, , o] = tf.split(s, 4, 1);
    const g = activate(act, tf.slice(z, [0, 2 * U], [B, U]));
    c = c ? tf.add(tf.mul(f, c), tf.mul(i, g)) : tf.mul(i, g);
    h = tf.mul(o, activate(act, c));
    zs.push(z);
    cs.push(c);
    hs.push(h);
  }
  const H = returnSequences || keep ? (tf.stack(hs, 1) as tf.Tensor3D) : undefined; // [B, T, U]
  const value = returnSequences ? H! : h!;
  if (!keep) return { value };
  return { value, Z: tf.stack(zs) as tf.Tensor3D, C: tf.stack(cs) as tf.Tensor3D, H };
}

/**
 * recurrence(xp [B, T, 4U] = x W + b, R [U, 4U]) -> h_T [B, U] (or all h, [B, T, U]) with
 * the backprop through time written out.
 */
function makeRecurrence(units: number, act: LstmActivation, recAct: LstmActivation, returnSequences: boolean) {
  const U = units;
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const R = args[1] as tf.Tensor2D;
    const save = args[2] as tf.GradSaveFunc;
    const [B, T] = (args[0] as tf.Tensor3D).shape;
    const { value, Z, C, H } = forward(args[0] as tf.Tensor3D, R, U, act, recAct, returnSequences, true);
    save([R, Z!, C!, H!]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        // Z, C: [T, B, .] (time-major, for the per-step loop); H2: [B, T, U]
        const [R2, Z, C, H2] = saved as [tf.Tensor2D, tf.Tensor3D, tf.Tensor3D, tf.Tensor3D];
        // Everything that does not depend on the running gradient, for all steps at once.
        const S = activate(recAct, Z);
        const dS = activationGrad(recAct, Z, S);
        const [Si, Sf, , So] = tf.split(S, 4, 2);
        const [Di, Df, , Do] = tf.split(dS, 4, 2);
        const Zc = tf.slice(Z, [0, 0, 2 * U], [T, B, U]);
        const G = activate(act, Zc);
        const Dg = activationGrad(act, Zc, G);
        const AC = activate(act, C);
        const Dc = activationGrad(act, C, AC);
        const zeros = tf.zeros([1, B, U]);
        const Cprev = T > 1 ? tf.concat([zeros, tf.slice(C, [0, 0, 0], [T - 1, B, U])], 0) : zeros;
        const zerosB = tf.zeros([B, 1, U]);
        const Hprev = T > 1 ? tf.concat([zerosB, tf.slice(H2, [0, 0, 0], [B, T - 1, U])], 1) : zerosB; // [B, T, U]
        // dz_t = [dc, dc, dc, dh] * M_t; dc_t = dc_{t+1} f_{t+1} + dh_t E_t
        const M = tf.unstack(tf.concat([tf.mul(G, Di), tf.mul(Cprev, Df), tf.mul(Si, Dg), tf.mul(AC, Do)], 2));
        const E = tf.unstack(tf.mul(So, Dc));
        const F = tf.unstack(Sf);
        const dys = returnSequences ? tf.unstack(dy, 1) : null;
        const Rt = tf.transpose(R2); // [4U, U]: untransposed matMul, packed once for all steps
        const dzs: tf.Tensor[] = new Array(T);
        let dh: tf.Tensor | null = returnSequences ? null : dy;
        let dcNext: tf.Tensor | null = null;
        for (let t = T - 1; t >= 0; t--) {
          if (dys) dh = dh ? tf.add(dh, dys[t]) : dys[t];
          const dhE = tf.mul(dh!, E[t]);
          const dc: tf.Tensor = dcNext ? tf.add(dcNext, dhE) : dhE;
          const dz = tf.mul(tf.concat([dc, dc, dc, dh!], 1), M[t]);
          dzs[t] = dz;
          if (t > 0) {
            dh = tf.matMul(dz, Rt);
            dcNext = tf.mul(dc, F[t]);
          }
        }
        const dZ = tf.stack(dzs, 1); // [B, T, 4U], as xp
        const dR = tf.matMul(tf.reshape(Hprev, [B * T, U]), tf.reshape(dZ, [B * T, 4 * U]), true, false);
        return [dZ, dR];
      },
    };
  });
}

// ---------------------------------------------------------------------------- the layer

export class FastLSTM extends tfl.layers.Layer {
  static readonly className = 'ModalfuseFastLSTM';
  readonly units: number;
  readonly activation: LstmActivation;
  readonly recurrentActivation: LstmActivation;
  readonly useBias: boolean;
  readonly unitForgetBias: boolean;
  readonly returnSequences: boolean;
  readonly kernelInitializer: Initializer;
  readonly recurrentInitializer: Initializer;
  readonly biasInitializer: Initializer;
  kernel: tfl.LayerVariable | null = null;
  recurrentKernel: tfl.LayerVariable | null = null;
  bias: tfl.LayerVariable | null = null;
  private recurrence: ((xp: tf.Tensor, r: tf.Tensor) => tf.Tensor) | null = null;

  constructor(args: FastLSTMArgs) {
    const { units, activation, recurrentActivation, useBias, unitForgetBias, returnSequences, kernelInitializer, recurrentInitializer, biasInitializer, ...base } = args;
    super(base as never);
    if (!Number.isInteger(units) || units < 1) throw new Error(`FastLSTM: units must be a positive integer, found ${units}`);
    this.units = units;
    this.activation = checkActivation(activation ?? 'tanh', 'activation');
    this.recurrentActivation = checkActivation(recurrentActivation ?? 'hardSigmoid', 'recurrentActivation');
    this.useBias = useBias ?? true;
    this.unitForgetBias = unitForgetBias ?? false;
    this.returnSequences = returnSequences ?? false;
    this.kernelInitializer = initializerFrom(kernelInitializer, () => tfl.initializers.glorotNormal({}));
    this.recurrentInitializer = initializerFrom(recurrentInitializer, () => tfl.initializers.orthogonal({}));
    this.biasInitializer = initializerFrom(biasInitializer, () => tfl.initializers.zeros());
    this.inputSpec = [{ ndim: 3 }];
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const D = shape[shape.length - 1];
    if (typeof D !== 'number') throw new Error('FastLSTM: the feature dimension of the input must be known');
    const U = this.units;
    this.kernel = this.addWeight('kernel', [D, 4 * U], 'float32', this.kernelInitializer);
    this.recurrentKernel = this.addWeight('recurrent_kernel', [U, 4 * U], 'float32', this.recurrentInitializer);
    if (this.useBias) {
      const init = this.biasInitializer;
      const biasInit = this.unitForgetBias
        ? ({ apply: () => tf.tidy(() => tf.concat([init.apply([U]), tf.ones([U]), init.apply([2 * U])])) } as unknown as Initializer)
        : init;
      this.bias = this.addWeight('bias', [4 * U], 'float32', biasInit);
    }
    this.recurrence = makeRecurrence(U, this.activation, this.recurrentActivation, this.returnSequences) as unknown as (
      xp: tf.Tensor, r: tf.Tensor) => tf.Tensor;
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return this.returnSequences ? [shape[0], shape[1], this.units] : [shape[0], this.units];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor3D;
      if (x.rank !== 3) throw new Error(`FastLSTM expects [batch, steps, features] inputs, found [${x.shape}]`);
      const [B, T, D] = x.shape;
      const U = this.units;
      if (T === 0) throw new Error('FastLSTM: the input has no time steps');
      // Input projection of every step in one product (its gradient is tfjs's: one matMul
      // for the kernel, and x's only when x needs one).
      let xp: tf.Tensor = tf.matMul(tf.reshape(x, [B * T, D]), this.kernel!.read());
      if (this.bias) xp = tf.add(xp, this.bias.read());
      const xp3 = tf.reshape(xp, [B, T, 4 * U]) as tf.Tensor3D;
      const R = this.recurrentKernel!.read() as tf.Tensor2D;
      // No gradient being recorded: the forward alone, without keeping the steps' states.
      if (!tf.engine().isTapeOn()) return forward(xp3, R, U, this.activation, this.recurrentActivation, this.returnSequences, false).value;
      return this.recurrence!(xp3, R);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      units: this.units,
      activation: this.activation,
      recurrentActivation: this.recurrentActivation,
      useBias: this.useBias,
      unitForgetBias: this.unitForgetBias,
      returnSequences: this.returnSequences,
      kernelInitializer: serializeInitializer(this.kernelInitializer),
      recurrentInitializer: serializeInitializer(this.recurrentInitializer),
      biasInitializer: serializeInitializer(this.biasInitializer),
    };
  }
}
tf.serialization.registerClass(FastLSTM);

/** Applies a FastLSTM (see the class) to a symbolic [batch, steps, features] tensor. */
export function fastLstm(x: Sym, args: FastLSTMArgs): Sym {
  return new FastLSTM(args).apply(x) as Sym;
}
