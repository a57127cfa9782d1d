/**
 * The tensor family (tfn, lmf, ptp, hpfn): the structure of the TFN tensor, LMF as an exact
 * low-rank TFN, hand-written gradients against autodiff, gradients reaching every weight,
 * save/load, costs before build against the built model, the TFN memory refusal, and
 * learning: synergy (needs multiplicative terms) and an interaction on sequences (HPFN).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../src/backend/index.js';
import type { Dataset, SplitData, TaskSpec } from '../src/data/types.js';
import { makeSynthetic } from '../src/datasets/synthetic.js';
import { ModalfuseError } from '../src/errors.js';
import { evaluate } from '../src/eval/evaluate.js';
import { modelCost } from '../src/eval/cost.js';
import { LowRankFusion, outerFlat, TensorFusion } from '../src/fusion/index.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { getMethod, incompatibility, resolveOptions, type DataSpec } from '../src/registry/index.js';
import { train } from '../src/train/train.js';
import { Rng } from '../src/util/rng.js';
import { maxAbs, maxAbsDiff, smallDataset, tmpDir, trainingGradients } from './helpers.js';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

function randn(rng: Rng, shape: number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => rng.normal()), shape);
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

const vectors = { a: { kind: 'vector' as const, shape: [5] }, b: { kind: 'vector' as const, shape: [7] }, c: { kind: 'vector' as const, shape: [3] } };
const sequences = { a: { kind: 'sequence' as const, shape: [8, 6] }, b: { kind: 'sequence' as const, shape: [8, 4] } };
const cls: TaskSpec = { kind: 'classification', classes: ['x', 'y', 'z'] };

// ---------------------------------------------------------------------------- TFN structure

test('tfn: the fused vector holds 1, every h_m, every pairwise and the trimodal product as sub-blocks', () => {
  const rng = new Rng(11);
  const B = 3;
  const d = [2, 3, 4];
  const hs = d.map((w) => randn(rng, [B, w]));
  const layer = new TensorFusion({ modalities: ['a', 'b', 'c'] });
  const z = layer.apply(hs) as tf.Tensor;
  assert.deepEqual(z.shape, [B, 3 * 4 * 5]);
  const Z = z.arraySync() as number[][];
  const H = hs.map((h) => h.arraySync() as number[][]);
  const at = (b: number, i: number, j: number, k: number) => Z[b][(i * 4 + j) * 5 + k];
  const close = (x: number, y: number) => assert.ok(Math.abs(x - y) <= 1e-5 * (1 + Math.abs(y)), `${x} != ${y}`);
  for (let b = 0; b < B; b++) {
    close(at(b, 0, 0, 0), 1);
    for (let i = 0; i < 2; i++) close(at(b, i + 1, 0, 0), H[0][b][i]);
    for (let j = 0; j < 3; j++) close(at(b, 0, j + 1, 0), H[1][b][j]);
    for (let k = 0; k < 4; k++) close(at(b, 0, 0, k + 1), H[2][b][k]);
    // the last d_M entries after the constant are h_M itself
    for (let k = 0; k < 4; k++) close(Z[b][k + 1], H[2][b][k]);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) close(at(b, i + 1, j + 1, 0), H[0][b][i] * H[1][b][j]);
    for (let i = 0; i < 2; i++) for (let k = 0; k < 4; k++) close(at(b, i + 1, 0, k + 1), H[0][b][i] * H[2][b][k]);
    for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) close(at(b, 0, j + 1, k + 1), H[1][b][j] * H[2][b][k]);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) close(at(b, i + 1, j + 1, k + 1), H[0][b][i] * H[1][b][j] * H[2][b][k]);
  }
  tf.dispose([...hs, z]);
});

test('tfn: the fused linear layer (hand-written gradient, kernel in column blocks) equals flat tensor -> dense, values and gradients', () => {
  const rng = new Rng(12);
  const B = 6;
  const units = 40; // blocks of 16, 16 and 8 columns
  for (const activation of ['linear', 'relu'] as const) {
    tf.tidy(() => {
      const hs = [3, 4, 2].map((w) => randn(rng, [B, w]));
      const layer = new TensorFusion({ modalities: ['a', 'b', 'c'], units, activation, seed: 3 });
      layer.apply(hs);
      assert.deepEqual(layer.kernels.map((k) => k.shape[1]), [16, 16, 8]);
      const W = layer.kernelMatrix();
      const b = tf.add(layer.bias!.read(), 0.1) as tf.Tensor1D;
      layer.bias!.write(b);
      const ref = (xs: tf.Tensor[], W_: tf.Tensor, b_: tf.Tensor) => {
        const y = tf.add(tf.matMul(outerFlat(xs.map((h) => tf.pad(h as tf.Tensor2D, [[0, 0], [1, 0]], 1))), W_ as tf.Tensor2D), b_);
        return activation === 'relu' ? tf.relu(y) : y;
      };
      const y1 = layer.apply(hs) as tf.Tensor;
      const y2 = ref(hs, W, b);
      assert.ok(maxAbsDiff(y1.dataSync(), y2.dataSync()) < 1e-4);
      const loss = (y: tf.Tensor) => tf.sum(tf.mul(tf.square(y), tf.range(0, units).add(1)));
      const gh = tf.grads((...a: tf.Tensor[]) => loss(layer.apply(a) as tf.Tensor))(hs);
      const vars = [...layer.kernels, layer.bias!].map((v) => v.read() as tf.Variable);
      const gw = tf.variableGrads(() => loss(layer.apply(hs) as tf.Tensor) as tf.Scalar, vars).grads;
      const g1 = [...gh, tf.concat(vars.slice(0, -1).map((v) => gw[v.name]), 1), gw[vars[vars.length - 1].name]];
      const g2 = tf.grads((...a: tf.Tensor[]) => loss(ref(a.slice(0, 3), a[3], a[4])))([...hs, W, b]);
      g1.forEach((g, i) => {
        const scale = maxAbs(g2[i].dataSync());
        assert.ok(maxAbsDiff(g.dataSync(), g2[i].dataSync()) <= 1e-5 * (1 + scale), `${activation}: gradient ${i} differs`);
      });
    });
  }
});

// ---------------------------------------------------------------------------- LMF exactness

test('lmf is TFN with a rank-r weight: the full tensor built from random LMF factors gives the same outputs (rel. error < 1e-4)', () => {
  const rng = new Rng(13);
  const B = 7;
  const d = [3, 4, 5];
  const rank = 3;
  const units = 20; // the fused TFN layer holds this kernel as blocks of 16 and 4 columns
  tf.tidy(() => {
    const hs = d.map((w) => randn(rng, [B, w]));
    const lmf = new LowRankFusion({ modalities: ['a', 'b', 'c'], rank, units, seed: 21 });
    const yL0 = lmf.apply(hs) as tf.Tensor;
    void yL0;
    lmf.bias!.write(randn(rng, [units]) as tf.Tensor1D);
    const yL = (lmf.apply(hs) as tf.Tensor).dataSync();
    // W[i1, i2, i3, o] = sum_r w_r F_1[i1, o, r] F_2[i2, o, r] F_3[i3, o, r]
    const F = d.map((_, m) => lmf.fullFactor(m).arraySync() as number[][][]);
    const w = (lmf.rankWeight!.read().arraySync() as number[][]).map((r) => r[0]);
    const p = d.map((x) => x + 1);
    const P = p[0] * p[1] * p[2];
    const Wfull = new Float32Array(P * units);
    for (let i = 0; i < p[0]; i++)
      for (let j = 0; j < p[1]; j++)
        for (let k = 0; k < p[2]; k++)
          for (let o = 0; o < units; o++) {
            let s = 0;
            for (let r = 0; r < rank; r++) s += w[r] * F[0][i][o][r] * F[1][j][o][r] * F[2][k][o][r];
            Wfull[((i * p[1] + j) * p[2] + k) * units + o] = s;
          }
    const W = tf.tensor2d(Wfull, [P, units]);
    const bias = lmf.bias!.read();
    // TFN: the flat tensor, then a linear layer with that weight
    const z = new TensorFusion({ modalities: ['a', 'b', 'c'] }).apply(hs) as tf.Tensor2D;
    const yT = tf.add(tf.matMul(z, W), bias).dataSync();
    const err = relErr(yT, yL);
    assert.ok(err < 1e-4, `relative error ${err}`);
    // and the fused TFN layer carrying that weight
    const fused = new TensorFusion({ modalities: ['a', 'b', 'c'], units });
    fused.apply(hs);
    fused.setKernelMatrix(W, bias as tf.Tensor1D);
    const errF = relErr((fused.apply(hs) as tf.Tensor).dataSync(), yL);
    assert.ok(errF < 1e-4, `fused relative error ${errF}`);
  });
});

// ---------------------------------------------------------------------------- gradients, save/load, costs

const configs: { method: string; mods: Record<string, { kind: 'vector' | 'sequence'; shape: number[] }>; options: Record<string, unknown> }[] = [
  { method: 'tfn', mods: vectors, options: {} },
  { method: 'tfn', mods: vectors, options: { head: 'linear' } },
  { method: 'tfn', mods: vectors, options: { fused: false, dropout: 0.2 } },
  { method: 'lmf', mods: vectors, options: { rank: 3, units: 8 } },
  { method: 'ptp', mods: vectors, options: { l2norm: true, dropout: 0.1 } },
  { method: 'ptp', mods: vectors, options: { head: 'linear', signedSqrt: false, order: 2 } },
  { method: 'hpfn', mods: sequences, options: {} },
  { method: 'hpfn', mods: { ...sequences, c: { kind: 'sequence', shape: [8, 3] } }, options: { seqEncoder: 'dense', timeWindow: 3, layers: 3, dropout: 0.1 } },
  { method: 'hpfn', mods: sequences, options: { seqEncoder: 'none', layers: 1, head: 'linear' } },
];

for (const { method, mods, options } of configs) {
  const label = `${method} ${JSON.stringify(options)} on ${Object.keys(mods).length} modalities`;
  test(`${label}: every trainable weight gets a non-zero gradient; save/load gives identical outputs; cost before build matches the model`, async () => {
    const data = smallDataset(mods, cls, { train: 32, test: 16 });
    const entry = getMethod(method, data);
    const opts = resolveOptions(entry, options);
    assert.equal(incompatibility(entry, data, opts), null);
    const estimate = entry.cost!(data, opts);
    const startTensors = tf.memory().numTensors;
    const fm = FusionModel.create(method, data, options, { seed: 4 });
    const built = modelCost(fm.model);
    assert.equal(estimate.params, built.params, 'params');
    assert.equal(estimate.flopsPerSample, built.flopsPerSample, 'flops per sample');
    assert.equal(estimate.activationBytesPerSample, built.activationBytesPerSample, 'activation bytes per sample');

    const grads = trainingGradients(fm, data);
    assert.equal(grads.size, fm.model.trainableWeights.length);
    for (const [name, g] of grads) assert.ok(maxAbs(g) > 0, `zero gradient for ${name}`);

    const t = data.splits.test!;
    const out1 = fm.predictRaw(t.features, t.n);
    const dir = tmpDir();
    await fm.save(dir);
    const loaded = await FusionModel.load(dir);
    const out2 = loaded.predictRaw(t.features, t.n);
    assert.equal(maxAbsDiff(out1, out2), 0, 'outputs after load');
    loaded.dispose();
    fm.dispose();
    assert.equal(tf.memory().numTensors, startTensors, 'no tensors leak');
  });
}

test('tfn and lmf on image + audio: the cost before build (configurable CNN encoders) matches the built model', () => {
  const mods = { image: { kind: 'image' as const, shape: [28, 28, 1] }, audio: { kind: 'audio' as const, shape: [32, 32, 1] } };
  const data = smallDataset(mods, cls, { train: 4 });
  const variants: Record<string, unknown>[] = [
    {},
    { convFilters: '8,16,32', convKernel: 5, convPool: 'avg' },
    { convFilters: '4', convBatchNorm: true, convPool: 'none', hidden: 8, dropout: 0 },
    { convFilters: '6,6,6,6,6', head: 'linear', activation: 'tanh' }, // pools down to 1 x 1 (then stops)
  ];
  for (const method of ['tfn', 'lmf']) {
    for (const options of variants) {
      const entry = getMethod(method, data);
      const opts = resolveOptions(entry, options);
      const estimate = entry.cost!(data, opts);
      const fm = FusionModel.create(method, data, options, { seed: 1 });
      const built = modelCost(fm.model);
      const what = `${method} ${JSON.stringify(options)}`;
      assert.equal(estimate.params, built.params, `${what}: params`);
      assert.equal(estimate.flopsPerSample, built.flopsPerSample, `${what}: flops per sample`);
      assert.equal(estimate.activationBytesPerSample, built.activationBytesPerSample, `${what}: activation bytes per sample`);
      fm.dispose();
    }
  }
});

test('lmf and tfn training steps leak no tensors', () => {
  const data = smallDataset(vectors, cls, { train: 32 });
  for (const method of ['tfn', 'lmf']) {
    const fm = FusionModel.create(method, data, {}, { seed: 2 });
    const pre = fm.preprocess(data.splits.train!.features);
    const idx = Array.from({ length: 32 }, (_, i) => i);
    const opt = tf.train.adam(1e-3);
    const vars = fm.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const y = tf.tensor1d(Array.from(data.splits.train!.labels), 'int32');
    const step = () =>
      tf.tidy(() => {
        const xs = fm.batchTensors(pre, idx);
        opt.minimize(() => tf.losses.softmaxCrossEntropy(tf.oneHot(y, 3), fm.forward(xs, true)[0]) as tf.Scalar, false, vars);
      });
    step();
    const n = tf.memory().numTensors;
    step();
    step();
    assert.equal(tf.memory().numTensors, n, method);
    opt.dispose();
    y.dispose();
    fm.dispose();
  }
});

// ---------------------------------------------------------------------------- TFN refusal

test('tfn refuses a configuration that would not fit, before building, naming the estimate and lmf/ptp', () => {
  const spec: DataSpec = { task: cls, modalities: vectors };
  const opts = { hidden: 128 };
  const before = tf.memory().numTensors;
  assert.throws(
    () => FusionModel.create('tfn', spec, opts),
    (e: unknown) => {
      assert.ok(e instanceof ModalfuseError, String(e));
      for (const part of ['129 x 129 x 129 = 2,146,689 entries', 'MiB', 'maxMemoryMB=2048', 'lmf', 'ptp']) {
        assert.ok(e.message.includes(part), `"${e.message}" lacks "${part}"`);
      }
      return true;
    },
  );
  assert.equal(tf.memory().numTensors, before, 'nothing was built');
  const entry = getMethod('tfn');
  assert.equal(incompatibility(entry, spec, resolveOptions(entry, { ...opts, maxMemoryMB: 1e6 })), null, 'a higher limit lets it through');
  assert.match(incompatibility(entry, spec, resolveOptions(entry, { hidden: 16, maxMemoryMB: 1 })) ?? '', /about \d+ MiB/);
  // the alternatives accept the same configuration
  for (const m of ['lmf', 'ptp']) assert.equal(incompatibility(getMethod(m), spec, resolveOptions(getMethod(m), opts)), null);
});

test('hpfn rejects vector data and sequences of unequal length', () => {
  const entry = getMethod('hpfn');
  assert.match(incompatibility(entry, { task: cls, modalities: vectors }) ?? '', /sequence modalities of shape \[steps, features\]/);
  const uneven = { a: { kind: 'sequence' as const, shape: [8, 2] }, b: { kind: 'sequence' as const, shape: [6, 2] } };
  assert.match(incompatibility(entry, { task: cls, modalities: uneven }) ?? '', /same number of steps/);
});

// ---------------------------------------------------------------------------- learning

test('synergy (label = (c_a + c_b) mod 4), head=linear: tfn, lmf and ptp >= 0.95 test accuracy, concat <= 0.65', async () => {
  const data = makeSynthetic('synergy');
  const acc: Record<string, number> = {};
  for (const method of ['concat', 'tfn', 'lmf', 'ptp']) {
    const fm = FusionModel.create(method, data, { head: 'linear' }, { seed: 1 });
    await train(fm, data, { epochs: 5, seed: 1 });
    acc[method] = evaluate(fm, data).metrics.accuracy;
    fm.dispose();
  }
  assert.ok(acc.tfn >= 0.95, `tfn ${acc.tfn}`);
  assert.ok(acc.lmf >= 0.95, `lmf ${acc.lmf}`);
  assert.ok(acc.ptp >= 0.95, `ptp ${acc.ptp}`);
  assert.ok(acc.concat <= 0.65, `concat ${acc.concat}`);
});

/** Two sequence modalities [8, 6] and [8, 4]; a sign s_a, s_b in every step; label = [s_a == s_b] (XOR). */
function sequenceXor(seed: number, n: number): SplitData {
  const rng = new Rng(seed);
  const a = new Float32Array(n * 8 * 6);
  const b = new Float32Array(n * 8 * 4);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const sa = rng.int(2) * 2 - 1;
    const sb = rng.int(2) * 2 - 1;
    y[i] = sa === sb ? 1 : 0;
    for (let t = 0; t < 8; t++) {
      for (let j = 0; j < 6; j++) a[(i * 8 + t) * 6 + j] = rng.normal() + (j === 0 ? 0.8 * sa : 0);
      for (let j = 0; j < 4; j++) b[(i * 8 + t) * 4 + j] = rng.normal() + (j === 0 ? 0.8 * sb : 0);
    }
  }
  return { n, features: { a, b }, labels: y };
}

test('hpfn learns an interaction between two sequence modalities (XOR of per-sequence signs) well above chance', async () => {
  const data: Dataset = {
    name: 'sequence-xor',
    task: { kind: 'classification', classes: ['differ', 'same'] },
    modalities: sequences,
    splits: { train: sequenceXor(1, 1500), valid: sequenceXor(2, 300), test: sequenceXor(3, 500) },
  };
  const fm = FusionModel.create('hpfn', data, { seqEncoder: 'dense', head: 'linear' }, { seed: 1 });
  await train(fm, data, { epochs: 5, batchSize: 32, seed: 1 });
  const acc = evaluate(fm, data).metrics.accuracy;
  fm.dispose();
  assert.ok(acc >= 0.8, `hpfn accuracy ${acc} (chance 0.5)`);
});
