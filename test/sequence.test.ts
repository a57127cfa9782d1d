/**
 * Sequence methods and data (issue 12): the MFN layer's output shapes and one step against
 * a scalar hand computation; attention weights that sum to 1; valid lengths (padded steps
 * change nothing, in every sequence method); save -> load -> same outputs; the `constant`
 * floor; `{modality}.lengths.{split}.npy` in dataset folders and `data import --lengths`;
 * the sequence suite's names and shapes.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { initBackend, tf } from '../src/backend/index.js';
import { readDatasetFolder, writeDatasetFolder } from '../src/data/folder.js';
import { importDataset } from '../src/data/import.js';
import { writeNpy } from '../src/data/npy.js';
import type { Dataset } from '../src/data/types.js';
import { loadDataset } from '../src/datasets/resolve.js';
import { ModalfuseError } from '../src/errors.js';
import { MemoryFusion } from '../src/fusion/mfn.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { train } from '../src/train/train.js';
import { maxAbsDiff, smallDataset, tmpDir } from './helpers.js';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

const TINY_MFN = { lstmHidden: 4, memory: 6, attHidden: [5, 4], gammaHidden: [5, 3], outHidden: 4, attDropout: [0, 0], gammaDropout: [0, 0], outDropout: 0 };
const SEQ = { a: { kind: 'sequence' as const, shape: [6, 3] }, b: { kind: 'sequence' as const, shape: [6, 2] } };

function throwsModalfuse(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (e: unknown) => e instanceof ModalfuseError && pattern.test((e as Error).message));
}

test('MFN layer: output shapes ([batch, ΣH + memory] and [batch, modalities]) and cost before build', () => {
  const layer = new MemoryFusion({ modalities: ['a', 'b', 'c'], hidden: [4, 3, 2], memory: 5, attHidden: [6, 4], attDropout: [0, 0], gammaHidden: [7, 3], gammaDropout: [0, 0] });
  const xs = [tf.randomNormal([2, 7, 3], 0, 1, 'float32', 1), tf.randomNormal([2, 7, 5], 0, 1, 'float32', 2), tf.randomNormal([2, 7, 1], 0, 1, 'float32', 3)];
  const [z, att] = layer.apply(xs) as tf.Tensor[];
  assert.deepEqual(z.shape, [2, 4 + 3 + 2 + 5]);
  assert.deepEqual(att.shape, [2, 3]);
  assert.deepEqual(layer.computeOutputShape(xs.map((x) => x.shape)), [[2, 14], [2, 3]]);
  const params = layer.weights.reduce((a, w) => a + (w.shape as number[]).reduce((x, y) => x * y, 1), 0);
  assert.equal(MemoryFusion.params([3, 5, 1], layer), params);
  // graph-mfn: a third output, the graph's 19 edge efficacies for three modalities
  const g = new MemoryFusion({ modalities: ['a', 'b', 'c'], hidden: [4, 3, 2], memory: 5, attHidden: [6, 4], attDropout: [0, 0], gammaHidden: [7, 3], gammaDropout: [0, 0], graph: true });
  const outs = g.apply(xs) as tf.Tensor[];
  assert.deepEqual(outs.map((o) => o.shape), [[2, 14], [2, 3], [2, 19]]);
  assert.equal(MemoryFusion.params([3, 5, 1], g), g.weights.reduce((a, w) => a + (w.shape as number[]).reduce((x, y) => x * y, 1), 0));
  tf.dispose([...xs, z, att, ...outs]);
});

test('MFN layer: one step on tiny weights equals a scalar hand computation', () => {
  // two modalities of one feature and one LSTM unit each, memory 1, every network 1 wide
  const layer = new MemoryFusion({ modalities: ['a', 'b'], hidden: [1, 1], memory: 1, attHidden: [1, 1], attDropout: [0, 0], gammaHidden: [1, 1], gammaDropout: [0, 0] });
  const xa = 0.5;
  const xb = -1;
  const inputs = [tf.tensor3d([[[xa]]]), tf.tensor3d([[[xb]]])];
  layer.apply(inputs); // builds
  const W = {
    a: { k: [0.3, -0.2, 0.8, 0.5], b: [0.1, 0.2, -0.1, 0.05] },
    b: { k: [-0.4, 0.6, 0.7, -0.3], b: [0, 0.1, 0.2, -0.2] },
    att1: { k: [0.2, -0.3, 0.5, 0.9], b: [0.1], ok: [0.4, -0.6, 1.2, 0.3], ob: [0, 0.1, -0.1, 0.2] },
    att2: { k: [0.3, 0.3, -0.7, 0.6], b: [0.05], ok: [1.5], ob: [-0.2] },
    g1: { k: [0.1, 0.2, 0.3, 0.4, 0.5], b: [0.3], ok: [-0.8], ob: [0.1] },
    g2: { k: [0.6, -0.5, 0.4, 0.8, -0.2], b: [0.2], ok: [0.9], ob: [0.3] },
  };
  const values: Record<string, number[]> = {
    lstm0_kernel: W.a.k, lstm0_recurrent_kernel: [0.9, 0.9, 0.9, 0.9], lstm0_bias: W.a.b,
    lstm1_kernel: W.b.k, lstm1_recurrent_kernel: [0.7, 0.7, 0.7, 0.7], lstm1_bias: W.b.b,
    att1_kernel: W.att1.k, att1_bias: W.att1.b, att1_out_kernel: W.att1.ok, att1_out_bias: W.att1.ob,
    att2_kernel: W.att2.k, att2_bias: W.att2.b, att2_out_kernel: W.att2.ok, att2_out_bias: W.att2.ob,
    gamma1_kernel: W.g1.k, gamma1_bias: W.g1.b, gamma1_out_kernel: W.g1.ok, gamma1_out_bias: W.g1.ob,
    gamma2_kernel: W.g2.k, gamma2_bias: W.g2.b, gamma2_out_kernel: W.g2.ok, gamma2_out_bias: W.g2.ob,
  };
  layer.setWeights(layer.weights.map((w) => tf.tensor(values[w.originalName.split('/').pop()!], w.shape as number[])));
  const [z, att] = layer.apply(inputs) as tf.Tensor[];

  // by hand: h_0 = c_0 = 0, u_0 = 0, so the recurrent kernels do not enter
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const relu = (v: number) => Math.max(0, v);
  const cell = (x: number, w: { k: number[]; b: number[] }) => {
    const zz = w.k.map((k, j) => x * k + w.b[j]);
    const c = sig(zz[0]) * Math.tanh(zz[2]); // i * g (f * c_0 = 0)
    return { c, h: sig(zz[3]) * Math.tanh(c) };
  };
  const A = cell(xa, W.a);
  const B = cell(xb, W.b);
  const cStar = [0, 0, A.c, B.c]; // [c_{t-1}; c_t] of (a, b)
  const dot = (x: number[], k: number[]) => x.reduce((s, v, j) => s + v * k[j], 0);
  const hAtt = relu(dot(cStar, W.att1.k) + W.att1.b[0]);
  const logits = W.att1.ok.map((k, j) => hAtt * k + W.att1.ob[j]);
  const e = logits.map(Math.exp);
  const a = e.map((v) => v / e.reduce((s, x) => s + x, 0));
  const attended = cStar.map((c, j) => a[j] * c);
  const uHat = Math.tanh(relu(dot(attended, W.att2.k) + W.att2.b[0]) * W.att2.ok[0] + W.att2.ob[0]);
  const both = [...attended, 0];
  const g1 = sig(relu(dot(both, W.g1.k) + W.g1.b[0]) * W.g1.ok[0] + W.g1.ob[0]);
  const g2 = sig(relu(dot(both, W.g2.k) + W.g2.b[0]) * W.g2.ok[0] + W.g2.ob[0]);
  const mem = g1 * 0 + g2 * uHat;
  assert.ok(maxAbsDiff(z.dataSync(), [A.h, B.h, mem]) < 1e-6, `MFN step ${Array.from(z.dataSync())} vs ${[A.h, B.h, mem]}`);
  assert.ok(maxAbsDiff(att.dataSync(), [a[0] + a[2], a[1] + a[3]]) < 1e-6, 'attention mass per modality');
  assert.ok(Math.abs(mem) > 1e-3 && Math.abs(A.h) > 1e-3, 'a non-trivial example');
  tf.dispose([...inputs, z, att]);
});

/** Features of `ds`'s test split with every padded step (beyond `lengths`) replaced by junk. */
function withJunkPadding(ds: Dataset, lengths: Record<string, Int32Array>, seed: number): Record<string, Float32Array> {
  const t = ds.splits.test!;
  const out: Record<string, Float32Array> = {};
  for (const [m, f] of Object.entries(t.features)) {
    const [T, D] = ds.modalities[m].shape;
    const g = Float32Array.from(f);
    for (let i = 0; i < t.n; i++) for (let s = lengths[m][i]; s < T; s++) for (let d = 0; d < D; d++) g[(i * T + s) * D + d] = 5 * Math.sin(seed + i + 3 * s + 7 * d);
    out[m] = g;
  }
  return out;
}

for (const method of ['mfn', 'graph-mfn', 'ef-lstm', 'lf-lstm', 'dfg', 'modal-attention']) {
  test(`${method}: padded steps beyond the valid lengths change no output; the lengths matter; save -> load gives the same outputs`, async () => {
    const ds = smallDataset(SEQ, { kind: 'classification', classes: ['0', '1', '2'] }, { train: 24, valid: 8, test: 8 });
    const n = ds.splits.test!.n;
    const lengths = { a: Int32Array.from({ length: n }, (_, i) => 1 + (i % 6)), b: Int32Array.from({ length: n }, (_, i) => 6 - (i % 4)) };
    const options = method.endsWith('mfn') ? TINY_MFN : { hidden: 4 };
    const fm = FusionModel.create(method, { task: ds.task, modalities: ds.modalities }, options, { seed: 2 });
    assert.deepEqual(fm.meta.lengthInputs, ['a', 'b']);
    await train(fm, ds, { epochs: 1, batchSize: 8 });
    const out1 = fm.predictOutputs(withJunkPadding(ds, lengths, 1), n, { lengths });
    const out2 = fm.predictOutputs(withJunkPadding(ds, lengths, 2), n, { lengths });
    for (const k of fm.outputNames) assert.equal(maxAbsDiff(out1.values[k], out2.values[k]), 0, `output ${k} depends on padded steps`);
    const full = fm.predictOutputs(withJunkPadding(ds, lengths, 1), n);
    assert.ok(maxAbsDiff(out1.values.main, full.values.main) > 1e-4, 'reading every step should differ from reading the valid ones');
    const dir = tmpDir();
    await fm.save(dir);
    const loaded = await FusionModel.load(dir);
    const out3 = loaded.predictOutputs(withJunkPadding(ds, lengths, 1), n, { lengths });
    for (const k of fm.outputNames) assert.equal(maxAbsDiff(out1.values[k], out3.values[k]), 0, `output ${k} after save -> load`);
    for (const k of ['attention', 'weights']) {
      if (!out1.values[k]) continue;
      const w = out1.values[k];
      for (let i = 0; i < n; i++) assert.ok(Math.abs(w[2 * i] + w[2 * i + 1] - 1) < 1e-5, `${k} of sample ${i} sums to ${w[2 * i] + w[2 * i + 1]}`);
    }
    loaded.dispose();
    fm.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });
}

test('mfn: options default to the official "mae 0.993" configuration; video is scaled by its training max |x|', () => {
  const spec = { task: { kind: 'regression' as const, targets: ['y'] }, modalities: { audio: { kind: 'sequence' as const, shape: [20, 74] }, video: { kind: 'sequence' as const, shape: [20, 36] } } };
  const fm = FusionModel.create('mfn', spec, {}, { seed: 1 });
  const layer = fm.model.layers.find((l) => l instanceof MemoryFusion) as MemoryFusion;
  assert.deepEqual(layer.hidden, [48, 16]);
  assert.equal(layer.memory, 128);
  assert.deepEqual([layer.attHidden, layer.attDropout, layer.gammaHidden, layer.gammaDropout], [[128, 64], [0, 0.2], [256, 64], [0, 0.2]]);
  const n = 3;
  const video = new Float32Array(n * 20 * 36).map((_, i) => ((i % 36) + 1) * (i % 2 ? -1 : 1) * (1 + Math.floor(i / 720)));
  const audio = new Float32Array(n * 20 * 74).map((_, i) => i % 5);
  fm.fitPreprocessing({ n, features: { audio, video }, labels: new Float32Array(n) });
  assert.deepEqual(fm.meta.preprocessing.video.mean, new Array(36).fill(0));
  assert.deepEqual(fm.meta.preprocessing.video.std.slice(0, 3), [3, 6, 9]);
  assert.ok(fm.meta.preprocessing.audio.mean[1] > 0.5, 'audio standardised (mean removed)');
  fm.dispose();
});

test('constant: predicts the training mean (regression) and the majority class (classification)', async () => {
  const reg = smallDataset({ x: { kind: 'vector', shape: [3] } }, { kind: 'regression', targets: ['u', 'v'] }, { train: 50, valid: 10, test: 10 });
  const fm = FusionModel.create('constant', { task: reg.task, modalities: reg.modalities }, {}, { seed: 1 });
  await train(fm, reg, { batchSize: 16 });
  const y = reg.splits.train!.labels;
  const mean = [0, 1].map((j) => Array.from(y).filter((_, i) => i % 2 === j).reduce((a, b) => a + b, 0) / 50);
  const p = fm.predict(reg.splits.test!.features, 10);
  for (let i = 0; i < 10; i++) for (let j = 0; j < 2; j++) assert.ok(Math.abs(p[2 * i + j] - mean[j]) < 1e-4, `target ${j}: ${p[2 * i + j]} vs mean ${mean[j]}`);
  const cls = smallDataset({ x: { kind: 'vector', shape: [3] } }, { kind: 'classification', classes: ['a', 'b', 'c', 'd'] }, { train: 60, valid: 10, test: 10 });
  const counts = [0, 0, 0, 0];
  for (const c of cls.splits.train!.labels) counts[c]++;
  const fc = FusionModel.create('constant', { task: cls.task, modalities: cls.modalities }, {}, { seed: 1 });
  await train(fc, cls, { batchSize: 16 });
  const q = fc.predict(cls.splits.test!.features, 10);
  const majority = counts.indexOf(Math.max(...counts));
  for (let i = 0; i < 10; i++) {
    const row = Array.from(q.subarray(4 * i, 4 * i + 4));
    assert.equal(row.indexOf(Math.max(...row)), majority);
    assert.ok(Math.abs(row[majority] - counts[majority] / 60) < 1e-3, 'probability = training frequency');
  }
  fm.dispose();
  fc.dispose();
});

test('dataset folders: {modality}.lengths.{split}.npy round-trips and is validated; data import --lengths', () => {
  const ds = smallDataset(SEQ, { kind: 'classification', classes: ['0', '1'] }, { train: 6, valid: 2, test: 2 });
  for (const [s, sd] of Object.entries(ds.splits)) sd!.lengths = { a: Int32Array.from({ length: sd!.n }, (_, i) => 1 + ((i + s.length) % 6)) };
  const dir = path.join(tmpDir(), 'seq');
  writeDatasetFolder(dir, ds);
  assert.ok(fs.existsSync(path.join(dir, 'a.lengths.train.npy')));
  const back = readDatasetFolder(dir);
  assert.deepEqual(Array.from(back.splits.train!.lengths!.a), Array.from(ds.splits.train!.lengths!.a));
  assert.equal(back.splits.train!.lengths!.b, undefined);
  // out of range, wrong type, wrong count
  writeNpy(path.join(dir, 'a.lengths.valid.npy'), Int32Array.from([3, 7]), [2]);
  throwsModalfuse(() => readDatasetFolder(dir), /length of sample 1 of modality "a" in split "valid" is out of range/);
  writeNpy(path.join(dir, 'a.lengths.valid.npy'), Float32Array.from([3, 4]), [2]);
  throwsModalfuse(() => readDatasetFolder(dir), /must be an int32 \[N\] array/);
  writeNpy(path.join(dir, 'a.lengths.valid.npy'), Int32Array.from([3, 4, 5]), [3]);
  throwsModalfuse(() => readDatasetFolder(dir), /wrong number of samples/);
  // import: lengths split with their samples
  const src = tmpDir();
  writeNpy(path.join(src, 'a.npy'), new Float32Array(10 * 6 * 3).map((_, i) => i % 7), [10, 6, 3]);
  writeNpy(path.join(src, 'v.npy'), new Float32Array(10 * 2).map((_, i) => i), [10, 2]);
  writeNpy(path.join(src, 'y.npy'), Int32Array.from({ length: 10 }, (_, i) => i % 2), [10]);
  writeNpy(path.join(src, 'len.npy'), Int32Array.from({ length: 10 }, (_, i) => 1 + (i % 6)), [10]);
  const out = path.join(src, 'out');
  const imported = importDataset({ out, task: 'classification', modalities: { a: path.join(src, 'a.npy'), v: path.join(src, 'v.npy') }, labels: path.join(src, 'y.npy'), lengths: { a: path.join(src, 'len.npy') } });
  const total = Object.values(imported.splits).reduce((s, sd) => s + sd!.lengths!.a.reduce((x, y) => x + y, 0), 0);
  assert.equal(total, Array.from({ length: 10 }, (_, i) => 1 + (i % 6)).reduce((x, y) => x + y, 0));
  assert.ok(fs.existsSync(path.join(out, 'a.lengths.train.npy')));
  throwsModalfuse(
    () => importDataset({ out: path.join(src, 'o2'), task: 'classification', modalities: { a: path.join(src, 'a.npy'), v: path.join(src, 'v.npy') }, labels: path.join(src, 'y.npy'), lengths: { v: path.join(src, 'len.npy') } }),
    /lengths are only for sequence modalities/,
  );
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(src, { recursive: true, force: true });
});

test('sequence suite: three named data sets of 20-step sequences, not part of `synthetic`', async () => {
  const names = (await loadDataset('synthetic:seq-timing', { quick: true })).modalities;
  assert.deepEqual(names, { a: { kind: 'sequence', shape: [20, 8] }, b: { kind: 'sequence', shape: [20, 8] } });
  const uni = await loadDataset('synthetic:seq-unimodal', { quick: true });
  assert.deepEqual(Object.keys(uni.modalities).sort(), ['a', 'b', 'c']);
  const reg = await loadDataset('synthetic:seq-regression', { quick: true });
  assert.equal(reg.task.kind, 'regression');
  const { loadDatasets } = await import('../src/datasets/resolve.js');
  assert.ok((await loadDatasets('synthetic', { quick: true })).every((d) => !d.name.startsWith('synthetic:seq')));
});

test('multi-target regression carries metricsPerTarget; a task acc2Threshold adds acc2 (label > t vs prediction > t)', async () => {
  const { getTask } = await import('../src/tasks/index.js');
  const raw = Float32Array.from([1, 10, 2, 20, 3, 33, 5, 40]); // 4 samples x targets (u, v)
  const labels = Float32Array.from([1, 12, 3, 20, 2, 30, 5, 41]);
  const r = getTask({ kind: 'regression', targets: ['u', 'v'] }).evaluate({ values: { main: raw }, widths: { main: 2 } }, labels);
  assert.deepEqual(Object.keys(r.metricsPerTarget!), ['u', 'v']);
  assert.ok(Math.abs(r.metricsPerTarget!.u.mae - 0.5) < 1e-9 && Math.abs(r.metricsPerTarget!.v.mae - 1.5) < 1e-9);
  assert.ok(Math.abs(r.metrics.mae - 1) < 1e-9, 'the overall mae is the mean over targets');
  const one = getTask({ kind: 'regression', targets: ['s'], acc2Threshold: 3.5 }).evaluate({ values: { main: Float32Array.from([3, 4, 4, 2]) }, widths: { main: 1 } }, Float32Array.from([3, 4, 3, 4]));
  assert.equal(one.metrics.acc2, 0.5);
  assert.equal(one.metricsPerTarget, undefined);
  const mmmo = (await import('../src/datasets/mfn.js')).MFN_NAMES;
  assert.ok(mmmo.includes('mmmo'));
});
