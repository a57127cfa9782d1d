/**
 * Foundation III-a: tasks and objectives. One test per objective shape on tiny data: an
 * output without a loss term, a reconstruction term, a pair term with the retrieval
 * metrics checked by hand, a custom two-optimiser step with checkpoint/resume, and a
 * method that handles the missing-modality mask. Test methods are registered here the
 * way a user registers their own.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf, tfl } from '../src/backend/index.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { register, type Sym } from '../src/registry/index.js';
import { train } from '../src/train/train.js';
import { evaluate } from '../src/eval/evaluate.js';
import { withTask } from '../src/data/with_task.js';
import { makeSynthetic } from '../src/datasets/synthetic.js';
import { getTask, retrievalMetrics, trainedOutputs } from '../src/tasks/index.js';
import { maxAbsDiff, smallDataset, tmpDir } from './helpers.js';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

const VEC = { a: { kind: 'vector' as const, shape: [6] }, b: { kind: 'vector' as const, shape: [5] } };
const CLS = { kind: 'classification' as const, classes: ['x', 'y', 'z'] };
const base = { family: 'test', level: 'feature' as const, citation: '', modalityKinds: 'any' as const, minModalities: 2, options: {} };

function dense(x: Sym, units: number, name: string, seed: number, activation?: string): Sym {
  return tfl.layers.dense({ units, name, activation: activation as never, kernelInitializer: tfl.initializers.glorotUniform({ seed }) }).apply(x) as Sym;
}

// ---------------------------------------------------------------- an output without a loss term

register({
  ...base,
  name: 'test-probe',
  description: 'concat with an extra, untrained output',
  tasks: ['classification'],
  build(ctx) {
    const z = tfl.layers.concatenate({ name: 'cat' }).apply(ctx.modalities.map((m) => ctx.encode(m))) as Sym;
    return { outputs: { main: ctx.head(z, 'head'), probe: dense(ctx.inputs.a, 2, 'probe_dense', 7) } };
  },
});

test('an output without a loss term gets no gradient, is never trained, and is returned by predict', async () => {
  const data = smallDataset(VEC, CLS);
  const fm = FusionModel.create('test-probe', data, {}, { seed: 2 });
  assert.deepEqual(fm.outputNames, ['main', 'probe']);
  assert.deepEqual([...trainedOutputs(fm.meta.objective)], ['main']);
  const probeBefore = fm.model.getLayer('probe_dense').getWeights().map((w) => w.dataSync().slice());
  const headBefore = fm.model.getLayer('head_out').getWeights()[0].dataSync().slice();
  await train(fm, data, { epochs: 2, batchSize: 16, seed: 1 });
  const probeAfter = fm.model.getLayer('probe_dense').getWeights().map((w) => w.dataSync());
  probeBefore.forEach((w, i) => assert.equal(maxAbsDiff(w, probeAfter[i]), 0, 'the probe layer must not change'));
  assert.ok(maxAbsDiff(headBefore, fm.model.getLayer('head_out').getWeights()[0].dataSync()) > 1e-4, 'the head must train');
  const test = data.splits.test!;
  const outs = fm.predictOutputs(test.features, test.n);
  assert.equal(outs.widths.probe, 2);
  assert.equal(outs.values.probe.length, test.n * 2);
  assert.ok(outs.values.probe.some((v) => v !== 0));
  assert.equal(fm.predict(test.features, test.n).length, test.n * 3);
  fm.dispose();
});

// ---------------------------------------------------------------- reconstruction

register({
  ...base,
  name: 'test-ae',
  description: 'encode both modalities, decode modality a back',
  tasks: ['classification'],
  build(ctx) {
    const z = dense(tfl.layers.concatenate({ name: 'cat' }).apply([ctx.inputs.a, ctx.inputs.b]) as Sym, 8, 'code', 3, 'tanh');
    return {
      outputs: { main: ctx.head(z, 'head'), recon_a: dense(z, 6, 'decode_a', 4) },
      objective: [
        { output: 'main', target: 'label', loss: 'task', weight: 1 },
        { output: 'recon_a', target: { input: 'a' }, loss: 'mse', weight: 1 },
      ],
    };
  },
});

test('a reconstruction term lowers the reconstruction error on a fixed batch', async () => {
  const data = smallDataset(VEC, CLS, { train: 256, valid: 32, test: 32 });
  const fm = FusionModel.create('test-ae', data, {}, { seed: 2 });
  const batch = data.splits.test!;
  const mse = () => {
    const pre = fm.preprocess(batch.features);
    const r = fm.outputsPreprocessed(pre, batch.n, { names: ['recon_a'] }).values.recon_a;
    let s = 0;
    for (let i = 0; i < r.length; i++) s += (r[i] - pre.a[i]) ** 2;
    return s / r.length;
  };
  fm.fitPreprocessing(data.splits.train!);
  const before = mse();
  await train(fm, data, { epochs: 30, batchSize: 32, lr: 1e-2, seed: 1, patience: 0 });
  const after = mse();
  assert.ok(after < 0.6 * before, `reconstruction error ${before.toFixed(4)} -> ${after.toFixed(4)}`);
  fm.dispose();
});

// ---------------------------------------------------------------- pair term and retrieval metrics

test('retrieval metrics match hand-computed values on a 5-item example (relevance by label and by pair)', () => {
  // 2-d embeddings, cosine similarity, ties by gallery index. Worked out by hand:
  //   q0 (1,0):  g0 .995, g2 .743, g4 .100, g1 0, g3 -.981
  //   q1 (0,1):  g1 1, g2 .669, g3 .196, g0 .100, g4 -.995
  //   q2 (1,1):  g2 .999, g0 .774, g1 .707, g3 -.555, g4 -.633
  //   q3 (-1,0): g3 .981, g1 0, g4 -.100, g2 -.743, g0 -.995
  //   q4 (1,-1): g4 .774, g0 .633, g2 .053, g1 -.707, g3 -.832
  const q = Float32Array.from([1, 0, 0, 1, 1, 1, -1, 0, 1, -1]);
  const g = Float32Array.from([1, 0.1, 0, 1, 1, 0.9, -1, 0.2, 0.1, -1]);
  const labels = [0, 1, 0, 1, 0];
  // By label (labels 0 1 0 1 0), ranks of the relevant items and average precision:
  //   q0: 1 2 3 -> 1;  q1: 1 3 -> (1 + 2/3)/2 = 5/6;  q2: 1 2 5 -> (1 + 1 + 3/5)/3 = 13/15;  q3: 1 2 -> 1;  q4: 1 2 3 -> 1
  const byLabel = retrievalMetrics({ query: q, gallery: g, dim: 2, relevance: 'label', queryLabels: labels, galleryLabels: labels });
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} vs ${b}`);
  close(byLabel.recallAt1, 1);
  close(byLabel.map, (1 + 5 / 6 + 13 / 15 + 1 + 1) / 5);
  close(byLabel.mrr, 1);
  // By pair, with g0 and g1 swapped so that q0 and q1 find their item at rank 4, the others at rank 1.
  const g2 = Float32Array.from([0, 1, 1, 0.1, 1, 0.9, -1, 0.2, 0.1, -1]);
  const byPair = retrievalMetrics({ query: q, gallery: g2, dim: 2, relevance: 'pair' });
  close(byPair.recallAt1, 3 / 5);
  close(byPair.recallAt5, 1);
  close(byPair.recallAt10, 1);
  close(byPair.map, (1 / 4 + 1 / 4 + 1 + 1 + 1) / 5);
  close(byPair.mrr, (1 / 4 + 1 / 4 + 1 + 1 + 1) / 5);
});

register({
  ...base,
  name: 'test-towers',
  description: 'two towers into a shared space',
  tasks: ['retrieval'],
  build(ctx) {
    const spec = ctx.spec.task as { query: string; gallery: string };
    const tower = (m: string, seed: number) => dense(dense(ctx.inputs[m], 16, `${m}_t1`, seed, 'relu'), 8, `${m}_t2`, seed + 1);
    return { outputs: { query: tower(spec.query, 11), gallery: tower(spec.gallery, 21) } };
  },
});

test('a pair term trains two towers: retrieval by label improves well above an untrained model', async () => {
  // both modalities carry the 4-class label (class centroid plus noise)
  const data = withTask(makeSynthetic('redundant', { seed: 5, sizes: { train: 512, valid: 64, test: 128 } }), 'retrieval:a->b');
  assert.equal(data.task.kind, 'retrieval');
  const fm = FusionModel.create('test-towers', data, {}, { seed: 3 });
  assert.deepEqual(fm.meta.objective.map((t) => t.loss), ['pair-softmax']);
  fm.fitPreprocessing(data.splits.train!);
  const untrained = evaluate(fm, data).metrics;
  await train(fm, data, { epochs: 15, batchSize: 64, lr: 5e-3, seed: 1, patience: 0 });
  const trained = evaluate(fm, data).metrics;
  for (const k of ['recallAt1', 'recallAt5', 'recallAt10', 'map', 'mrr', 'reverseMap']) assert.ok(k in trained, `metric ${k}`);
  assert.ok(trained.map > untrained.map + 0.1, `map ${untrained.map.toFixed(3)} -> ${trained.map.toFixed(3)}`);
  assert.ok(trained.recallAt1 > 0.5, `recall@1 ${trained.recallAt1}`);
  // predict returns the embeddings
  const t = data.splits.test!;
  const outs = fm.predictOutputs(t.features, t.n, { names: ['query', 'gallery'] });
  assert.equal(outs.widths.query, 8);
  fm.dispose();
});

// ---------------------------------------------------------------- custom two-optimiser step

register({
  ...base,
  name: 'test-alternate',
  description: 'a generator-like path trained on the task, a critic on its output, alternating',
  tasks: ['classification'],
  build(ctx) {
    const z = tfl.layers.concatenate({ name: 'g_cat' }).apply([ctx.inputs.a, ctx.inputs.b]) as Sym;
    const main = dense(dense(z, 8, 'g_dense', 5, 'relu'), 3, 'g_out', 6);
    const critic = dense(dense(main, 4, 'd_dense', 7, 'relu'), 1, 'd_out', 8);
    return { outputs: { main, critic }, objective: [{ output: 'main', target: 'label', loss: 'task', weight: 1 }] };
  },
  customStep({ task }) {
    return {
      optimizers: { g: { weights: (n) => n.startsWith('g_') }, d: { weights: (n) => n.startsWith('d_'), lr: 0.5 } },
      step(b, opt, vars) {
        if (b.step % 2 === 0) {
          const cost = opt.g.minimize(() => task.loss(b.forward(true).main, b.labels), true, vars.g) as tf.Scalar;
          return cost.dataSync()[0];
        }
        const cost = opt.d.minimize(() => tf.mean(tf.square(tf.sub(b.forward(true).critic, 1))) as tf.Scalar, true, vars.d) as tf.Scalar;
        return cost.dataSync()[0];
      },
    };
  },
});

function layerWeights(fm: FusionModel, prefix: string): Float32Array[] {
  return fm.model.layers.filter((l) => l.name.startsWith(prefix)).flatMap((l) => l.getWeights().map((w) => w.dataSync().slice() as Float32Array));
}

test('a custom two-optimiser step alternates, and checkpoint/resume restores both optimisers', async () => {
  const data = smallDataset(VEC, CLS, { train: 32, valid: 16, test: 16 });
  // batch = the whole train split: one step per epoch, so epochs are steps
  const opts = { batchSize: 32, lr: 1e-2, seed: 1, patience: 0 };
  const fm = FusionModel.create('test-alternate', data, {}, { seed: 4 });
  const seen: { g: Float32Array[]; d: Float32Array[] }[] = [{ g: layerWeights(fm, 'g_'), d: layerWeights(fm, 'd_') }];
  await train(fm, data, { ...opts, epochs: 4, onEpoch: () => seen.push({ g: layerWeights(fm, 'g_'), d: layerWeights(fm, 'd_') }) });
  const changed = (a: Float32Array[], b: Float32Array[]) => a.some((w, i) => maxAbsDiff(w, b[i]) > 0);
  for (let s = 1; s <= 4; s++) {
    const gMoved = changed(seen[s - 1].g, seen[s].g);
    const dMoved = changed(seen[s - 1].d, seen[s].d);
    assert.deepEqual([gMoved, dMoved], s % 2 === 1 ? [true, false] : [false, true], `step ${s}: g moved ${gMoved}, d moved ${dMoved}`);
  }
  // Without a valid split the last weights are kept: compare the uninterrupted run with a resumed one.
  const noValid = { ...data, splits: { train: data.splits.train, test: data.splits.test } };
  const full = FusionModel.create('test-alternate', noValid, {}, { seed: 4 });
  await train(full, noValid, { ...opts, epochs: 6, checkpointDir: tmpDir() });
  const dir = tmpDir();
  const first = FusionModel.create('test-alternate', noValid, {}, { seed: 4 });
  await train(first, noValid, { ...opts, epochs: 3, checkpointDir: dir });
  first.dispose();
  const resumed = FusionModel.create('test-alternate', noValid, {}, { seed: 4 });
  await train(resumed, noValid, { ...opts, epochs: 6, checkpointDir: dir, resume: true });
  const a = full.model.getWeights().map((w) => w.dataSync());
  const b = resumed.model.getWeights().map((w) => w.dataSync());
  a.forEach((w, i) => assert.ok(maxAbsDiff(w, b[i]) <= 1e-5, `weight ${i}: ${maxAbsDiff(w, b[i])}`));
  // and the critic's optimiser state matters: resuming it from scratch would differ
  const fs = await import('node:fs');
  assert.ok(fs.existsSync(`${dir}/resume/optimizer-g.json`) && fs.existsSync(`${dir}/resume/optimizer-d.json`));
  [fm, full, resumed].forEach((m) => m.dispose());
});

// ---------------------------------------------------------------- the missing-modality mask

register({
  ...base,
  name: 'test-mask',
  description: 'reads the presence mask',
  tasks: ['classification'],
  handlesMissing: true,
  build(ctx) {
    const z = tfl.layers.concatenate({ name: 'cat' }).apply([ctx.encode('a'), ctx.encode('b'), ctx.presence!]) as Sym;
    const seen = tfl.layers.activation({ activation: 'linear', name: 'seen' }).apply(ctx.presence!) as Sym;
    return { outputs: { main: ctx.head(z, 'head'), seen } };
  },
});

test('a method that handles the missing-modality mask receives it in evaluate and predict', async () => {
  const data = smallDataset(VEC, CLS);
  const fm = FusionModel.create('test-mask', data, {}, { seed: 2 });
  assert.equal(fm.meta.presence, true);
  await train(fm, data, { epochs: 1, batchSize: 16, seed: 1 });
  const t = data.splits.test!;
  const all = fm.predictOutputs(t.features, t.n, { names: ['seen'] }).values.seen;
  assert.ok(all.every((v) => v === 1));
  const noA = fm.predictOutputs(t.features, t.n, { missing: ['a'] });
  for (let i = 0; i < t.n; i++) assert.deepEqual([noA.values.seen[2 * i], noA.values.seen[2 * i + 1]], [0, 1]);
  // predict (probabilities) and evaluate see the mask: they equal the masked main output, not the mean-filled input alone
  const masked = getTask(data.task).transform(noA.values.main);
  const meanOnly = fm.outputsPreprocessed(fm.preprocess(t.features, ['a']), t.n, { names: ['main'] }).values.main;
  assert.ok(maxAbsDiff(noA.values.main, meanOnly) > 1e-6, 'the mask must change the output');
  assert.ok(maxAbsDiff(fm.predict(t.features, t.n, 256, { missing: ['a'] }), masked) < 1e-7);
  const ev = evaluate(fm, data, { missing: ['a'] });
  assert.ok(maxAbsDiff(ev.raw, noA.values.main) < 1e-7);
  assert.throws(() => evaluate(fm, data, { missing: ['c'] }), /does not read it/);
  fm.dispose();
});
