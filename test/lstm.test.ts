/**
 * FastLSTM (src/encoders/lstm.ts) against tfl.layers.lstm with the same weights: outputs,
 * gradients w.r.t. the input and every weight (tfl's by autodiff), on wasm and cpu; the
 * same initial weights from the same initialisers; save/load; no leaks; and the encoder
 * building it for sequence modalities.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf, tfl } from '../src/backend/index.js';
import { FastLSTM, type FastLSTMArgs } from '../src/encoders/lstm.js';
import { modelCost } from '../src/eval/cost.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { getMethod, resolveOptions } from '../src/registry/index.js';
import { smallDataset } from './helpers.js';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

type Layer = tfl.layers.Layer;

const rnd = (shape: number[], seed: number): tf.Tensor => tf.randomNormal(shape, 0, 1, 'float32', seed);

/** max |a - b| <= tol * max(1, max |b|). */
function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let d = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  assert.ok(d <= tol * scale, `${what}: max |fast - tfl| = ${d} (scale ${scale})`);
}

interface Case {
  label: string;
  B: number;
  T: number;
  D: number;
  args: Omit<FastLSTMArgs, 'name'> & { units: number };
}

// Sizes with products both below and above the wasm BatchMatMul fill's small-product
// threshold; every activation the layer supports; bias variants; sequences.
const CASES: Case[] = [
  { label: 'default (tanh / hardSigmoid)', B: 4, T: 5, D: 3, args: { units: 6 } },
  { label: 'sigmoid gates, larger', B: 16, T: 9, D: 40, args: { units: 24, recurrentActivation: 'sigmoid' } },
  { label: 'hardSigmoid, larger', B: 16, T: 7, D: 33, args: { units: 20 } },
  { label: 'returnSequences', B: 6, T: 6, D: 10, args: { units: 12, recurrentActivation: 'sigmoid', returnSequences: true } },
  { label: 'no bias', B: 5, T: 4, D: 7, args: { units: 8, useBias: false } },
  { label: 'unit forget bias, relu cell', B: 5, T: 4, D: 7, args: { units: 8, unitForgetBias: true, activation: 'relu', recurrentActivation: 'sigmoid' } },
  { label: 'linear cell, tanh gates', B: 3, T: 3, D: 5, args: { units: 4, activation: 'linear', recurrentActivation: 'tanh' } },
  { label: 'one step', B: 4, T: 1, D: 6, args: { units: 5, recurrentActivation: 'sigmoid' } },
];

/** tfl.layers.lstm and FastLSTM built on the same input shape, FastLSTM given tfl's weights. */
function pair(c: Case, seed = 1): { ref: Layer; fast: FastLSTM } {
  const init = {
    kernelInitializer: tfl.initializers.glorotUniform({ seed }),
    recurrentInitializer: tfl.initializers.orthogonal({ seed: seed + 1, gain: 1 }),
    biasInitializer: tfl.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: seed + 2 }),
  };
  const ref = tfl.layers.lstm({ ...c.args, ...init } as never) as Layer;
  const fast = new FastLSTM({ ...c.args });
  tf.dispose([ref.apply(tf.zeros([1, c.T, c.D])) as tf.Tensor, fast.apply(tf.zeros([1, c.T, c.D])) as tf.Tensor]);
  fast.setWeights(ref.getWeights());
  return { ref, fast };
}

/** The Keras LSTM cell written with ops on `ref`'s weight variables (sigmoid/tanh cases). */
function manualLstm(ref: Layer, c: Case): (x: tf.Tensor) => tf.Tensor {
  const fn = (name: string | undefined, dflt: string) => {
    const n = name ?? dflt;
    if (n === 'sigmoid') return tf.sigmoid;
    if (n === 'tanh') return tf.tanh;
    throw new Error(`manualLstm: ${n}`);
  };
  const act = fn(c.args.activation, 'tanh');
  const rec = fn(c.args.recurrentActivation, 'hardSigmoid');
  const U = c.args.units;
  return (x: tf.Tensor) => {
    const [W, R, b] = ref.trainableWeights.map((w) => w.read());
    let h: tf.Tensor = tf.zeros([x.shape[0], U]);
    let cs: tf.Tensor = tf.zeros([x.shape[0], U]);
    const [B, T, D] = x.shape as number[];
    for (let t = 0; t < T; t++) {
      const xt = tf.reshape(tf.slice(x, [0, t, 0], [B, 1, D]), [B, D]); // (split/unstack of one part have no gradient in tfjs)
      const z = tf.add(tf.add(tf.matMul(xt, W), tf.matMul(h, R)), b);
      const [zi, zf, zc, zo] = tf.split(z, 4, 1);
      cs = tf.add(tf.mul(rec(zf), cs), tf.mul(rec(zi), act(zc)));
      h = tf.mul(rec(zo), act(cs));
    }
    return h;
  };
}

/** Loss with a fixed random weighting of the outputs, so every output element matters. */
function lossOf(layer: Layer, x: tf.Tensor, outShape: number[]): tf.Scalar {
  return tf.sum(tf.mul(layer.apply(x) as tf.Tensor, rnd(outShape, 99))) as tf.Scalar;
}

async function compareOn(backend: 'wasm' | 'cpu', c: Case): Promise<void> {
  await tf.setBackend(backend);
  const { ref, fast } = pair(c);
  const x = rnd([c.B, c.T, c.D], 7);
  const outShape = c.args.returnSequences ? [c.B, c.T, c.args.units] : [c.B, c.args.units];
  const what = `${c.label} (${backend})`;

  // outputs, inference and training mode
  for (const training of [false, true]) {
    const a = tf.tidy(() => (fast.apply(x, { training }) as tf.Tensor).dataSync());
    const b = tf.tidy(() => (ref.apply(x, { training }) as tf.Tensor).dataSync());
    assert.deepEqual((fast.apply(x) as tf.Tensor).shape, outShape);
    assertClose(a, b, 1e-5, `${what}: output (training ${training})`);
  }

  // tfl's LSTM has no gradient for a single step (tfjs's Unpack gradient fails on one
  // output); there the reference is the same cell written with ops, through autodiff.
  const refApply = c.T > 1 ? (xx: tf.Tensor) => ref.apply(xx) as tf.Tensor : manualLstm(ref, c);
  const refLayer = { apply: refApply, trainableWeights: ref.trainableWeights } as unknown as Layer;

  // gradient w.r.t. the input
  const gx = tf.tidy(() => tf.grad((xx: tf.Tensor) => lossOf(fast, xx, outShape))(x).dataSync());
  const gxRef = tf.tidy(() => tf.grad((xx: tf.Tensor) => lossOf(refLayer, xx, outShape))(x).dataSync());
  assertClose(gx, gxRef, 1e-4, `${what}: d loss / d x`);

  // gradients w.r.t. every weight
  const grads = (layer: Layer) =>
    tf.tidy(() => {
      const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
      const { grads: g } = tf.variableGrads(() => lossOf(layer, x, outShape), vars);
      return vars.map((v) => g[v.name].dataSync());
    });
  const gw = grads(fast);
  const gwRef = grads(refLayer);
  assert.equal(gw.length, gwRef.length);
  assert.equal(gw.length, c.args.useBias === false ? 2 : 3);
  gw.forEach((g, i) => assertClose(g, gwRef[i], 1e-4, `${what}: d loss / d ${fast.trainableWeights[i].originalName}`));
  x.dispose();
  ref.dispose();
  fast.dispose();
}

for (const c of CASES) {
  test(`FastLSTM ${c.label}: output and gradients equal tfl.layers.lstm's with the same weights (wasm and cpu)`, async () => {
    try {
      await compareOn('wasm', c);
      await compareOn('cpu', c);
    } finally {
      await tf.setBackend('wasm');
    }
  });
}

test('FastLSTM has tfl LSTM\'s weight names, shapes and order, and the same initial weights from the same initialisers', () => {
  const mk = () => ({
    kernelInitializer: tfl.initializers.glorotUniform({ seed: 11 }),
    recurrentInitializer: tfl.initializers.orthogonal({ seed: 12, gain: 1 }),
  });
  const ref = tfl.layers.lstm({ units: 7, name: 'enc_a_lstm', ...mk() }) as Layer;
  const fast = new FastLSTM({ units: 7, name: 'enc_a_lstm_fast', ...mk() });
  tf.dispose([ref.apply(tf.zeros([1, 4, 9])) as tf.Tensor, fast.apply(tf.zeros([1, 4, 9])) as tf.Tensor]);
  assert.deepEqual(fast.trainableWeights.map((w) => w.originalName.split('/').pop()), ['kernel', 'recurrent_kernel', 'bias']);
  assert.deepEqual(fast.trainableWeights.map((w) => w.shape), ref.trainableWeights.map((w) => w.shape));
  const a = fast.getWeights();
  const b = ref.getWeights();
  for (let i = 0; i < a.length; i++) assert.deepEqual(Array.from(a[i].dataSync()), Array.from(b[i].dataSync()), `weight ${i}`);
  // unitForgetBias: ones for the forget gate only
  const ufb = new FastLSTM({ units: 3, unitForgetBias: true });
  tf.dispose(ufb.apply(tf.zeros([1, 2, 2])) as tf.Tensor);
  assert.deepEqual(Array.from(ufb.getWeights()[2].dataSync()), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
  ref.dispose();
  fast.dispose();
  ufb.dispose();
});

test('FastLSTM: a model saves and loads (config and weights) with identical outputs', async () => {
  const input = tfl.input({ shape: [5, 4] });
  const h = new FastLSTM({
    units: 6,
    recurrentActivation: 'sigmoid',
    kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }),
    recurrentInitializer: tfl.initializers.orthogonal({ seed: 4, gain: 1 }),
    name: 'enc_x_lstm',
  }).apply(input) as tfl.SymbolicTensor;
  const seqs = new FastLSTM({ units: 3, returnSequences: true, unitForgetBias: true, name: 'seq' }).apply(input) as tfl.SymbolicTensor;
  const out = tfl.layers.concatenate().apply([h, tfl.layers.flatten().apply(seqs) as tfl.SymbolicTensor]) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: out });
  let artifacts: tf.io.ModelArtifacts | null = null;
  await model.save(tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  assert.ok(artifacts);
  const topology = JSON.stringify((artifacts as tf.io.ModelArtifacts).modelTopology);
  assert.match(topology, /ModalfuseFastLSTM/);
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
  const lstm = loaded.getLayer('enc_x_lstm') as FastLSTM;
  assert.ok(lstm instanceof FastLSTM);
  assert.equal(lstm.recurrentActivation, 'sigmoid');
  assert.equal(lstm.activation, 'tanh');
  // (tfjs serialises GlorotUniform as the VarianceScaling it is)
  assert.deepEqual(lstm.kernelInitializer.getConfig(), tfl.initializers.glorotUniform({ seed: 3 }).getConfig());
  assert.deepEqual(lstm.recurrentInitializer.getConfig(), tfl.initializers.orthogonal({ seed: 4, gain: 1 }).getConfig());
  const seq = loaded.getLayer('seq') as FastLSTM;
  assert.equal(seq.returnSequences, true);
  assert.equal(seq.unitForgetBias, true);
  const x = rnd([3, 5, 4], 5);
  const a = (model.predict(x) as tf.Tensor).dataSync();
  const b = (loaded.predict(x) as tf.Tensor).dataSync();
  assert.deepEqual(Array.from(b), Array.from(a));
  tf.dispose(x);
  model.dispose();
  loaded.dispose();
});

test('FastLSTM: forward, gradients and training steps leak no tensors', () => {
  const layer = new FastLSTM({ units: 8, recurrentActivation: 'sigmoid', returnSequences: false });
  const seqLayer = new FastLSTM({ units: 8, returnSequences: true });
  const x = rnd([4, 6, 5], 1);
  layer.apply(x);
  seqLayer.apply(x);
  const opt = tf.train.adam(1e-2);
  const vars = [...layer.trainableWeights, ...seqLayer.trainableWeights].map((w) => w.read() as tf.Variable);
  const step = () => {
    tf.dispose(tf.tidy(() => [layer.apply(x) as tf.Tensor, seqLayer.apply(x) as tf.Tensor]));
    tf.tidy(() => {
      opt.minimize(() => tf.add(tf.sum(tf.square(layer.apply(x, { training: true }) as tf.Tensor)),
        tf.sum(seqLayer.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, false, vars);
    });
    tf.dispose(tf.tidy(() => tf.grad((xx: tf.Tensor) => tf.sum(layer.apply(xx) as tf.Tensor) as tf.Scalar)(x)));
  };
  step(); // optimizer slots etc.
  const n = tf.memory().numTensors;
  const buffers = tf.backend().numDataIds();
  for (let i = 0; i < 3; i++) step();
  assert.equal(tf.memory().numTensors, n, 'engine tensors');
  assert.equal(tf.backend().numDataIds(), buffers, 'backend buffers');
  opt.dispose();
  x.dispose();
  layer.dispose();
  seqLayer.dispose();
});

test('FastLSTM rejects unsupported activations and non-3-D inputs', () => {
  assert.throws(() => new FastLSTM({ units: 3, activation: 'softmax' as never }), /unsupported activation/);
  assert.throws(() => new FastLSTM({ units: 0 }), /units/);
  assert.throws(() => new FastLSTM({ units: 3 }).apply(tf.zeros([2, 3])));
});

test('sequence encoders are FastLSTM layers named enc_<m>_lstm; the cost of the built model matches the estimate', () => {
  const data = smallDataset({ a: { kind: 'sequence', shape: [8, 6] }, b: { kind: 'vector', shape: [5] } }, { kind: 'classification', classes: ['x', 'y'] }, { train: 16 });
  for (const method of ['lmf', 'tfn']) {
    const fm = FusionModel.create(method, data, {}, { seed: 3 });
    const layer = fm.model.getLayer('enc_a_lstm');
    assert.ok(layer instanceof FastLSTM, `${method}: ${layer.getClassName()}`);
    assert.equal((layer as FastLSTM).recurrentActivation, 'hardSigmoid');
    const entry = getMethod(method, data);
    const est = entry.cost!(data, resolveOptions(entry, {}));
    const built = modelCost(fm.model);
    assert.deepEqual(built, est, method);
    fm.dispose();
  }
});
