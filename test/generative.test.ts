/**
 * Issue 13, generative fusion: ae-fusion's reconstruction loss falls on a fixed batch and,
 * with a modality missing on synthetic:redundant, it beats concat with that modality
 * missing; gan-fusion's discriminator and generator losses each fall under their own update
 * on a fixed batch (and the other player's weights stay put); both losses are in the
 * training history; save -> load gives the same outputs for both methods.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../src/backend/index.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { getMethod } from '../src/registry/index.js';
import { train } from '../src/train/train.js';
import { evaluate } from '../src/eval/evaluate.js';
import { makeSynthetic } from '../src/datasets/synthetic.js';
import { ganLosses, ganUpdate, DISC_PREFIX } from '../src/methods/generative.js';
import { maxAbsDiff, tmpDir } from './helpers.js';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

const redundant = (test = 256) => makeSynthetic('redundant', { seed: 5, sizes: { train: 1024, valid: 128, test } });

function reconError(fm: FusionModel, split: { features: Record<string, Float32Array>; n: number }): number {
  const names = fm.inputModalities.flatMap((m) => [`recon_${m}`, `features_${m}`]);
  const o = fm.predictOutputs(split.features, split.n, { names }).values;
  return fm.inputModalities.reduce((s, m) => s + mse(o[`recon_${m}`], o[`features_${m}`]), 0);
}

function mse(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return s / a.length;
}

test('ae-fusion: the reconstruction loss falls on a fixed batch', async () => {
  const data = redundant();
  const fm = FusionModel.create('ae-fusion', data, {}, { seed: 3 });
  fm.fitPreprocessing(data.splits.train!);
  const batch = data.splits.test!;
  const before = reconError(fm, batch);
  const res = await train(fm, data, { epochs: 8, batchSize: 64, lr: 3e-3, seed: 1, patience: 0 });
  const after = reconError(fm, batch);
  assert.ok(after < 0.7 * before, `reconstruction MSE ${before.toFixed(4)} -> ${after.toFixed(4)}`);
  assert.ok(res.history.at(-1)!.loss < res.history[0].loss);
  fm.dispose();
});

test('ae-fusion with a modality missing beats concat with that modality missing (synthetic:redundant)', async () => {
  const data = redundant(1024);
  const opts = { epochs: 15, batchSize: 64, lr: 3e-3, seed: 1, patience: 0 };
  const acc: Record<string, Record<string, number>> = {};
  for (const method of ['concat', 'ae-fusion']) {
    const fm = FusionModel.create(method, data, {}, { seed: 3 });
    await train(fm, data, opts);
    acc[method] = Object.fromEntries(['a', 'b'].map((m) => [m, evaluate(fm, data, { missing: [m] }).metrics.accuracy]));
    fm.dispose();
  }
  const mean = (r: Record<string, number>) => (r.a + r.b) / 2;
  assert.ok(mean(acc['ae-fusion']) > mean(acc.concat) + 0.01, `mean accuracy with one modality missing: concat ${mean(acc.concat).toFixed(3)}, ae-fusion ${mean(acc['ae-fusion']).toFixed(3)} (${JSON.stringify(acc)})`);
  for (const m of ['a', 'b']) assert.ok(acc['ae-fusion'][m] >= acc.concat[m], `missing ${m}: ${JSON.stringify(acc)}`);
});

test('ae-fusion: the presence mask changes the output, and save -> load gives the same outputs within 1e-4', async () => {
  const data = redundant();
  const fm = FusionModel.create('ae-fusion', data, { latent: 16 }, { seed: 4 });
  await train(fm, data, { epochs: 2, batchSize: 64, lr: 3e-3, seed: 1, patience: 0 });
  const dir = tmpDir();
  await fm.save(dir);
  const loaded = await FusionModel.load(dir);
  const t = data.splits.test!;
  for (const missing of [[], ['a'], ['b']]) {
    const a = fm.predictOutputs(t.features, t.n, { missing });
    const b = loaded.predictOutputs(t.features, t.n, { missing });
    for (const k of Object.keys(a.values)) assert.ok(maxAbsDiff(a.values[k], b.values[k]) <= 1e-4, `${k}, missing ${missing}`);
  }
  const masked = fm.predictOutputs(t.features, t.n, { missing: ['a'], names: ['main'] }).values.main;
  const meanOnly = fm.outputsPreprocessed(fm.preprocess(t.features, ['a']), t.n, { names: ['main'] }).values.main;
  assert.ok(maxAbsDiff(masked, meanOnly) > 1e-5, 'the mask must change the output');
  fm.dispose();
  loaded.dispose();
});

test('gan-fusion: each loss falls under its own update on a fixed batch, the other player stays put', () => {
  const data = redundant();
  const fm = FusionModel.create('gan-fusion', data, {}, { seed: 5 });
  const split = data.splits.train!;
  fm.fitPreprocessing(split);
  const pre = fm.preprocess(split.features);
  const idx = Int32Array.from({ length: 128 }, (_, i) => i);
  const xs = fm.batchTensors(pre, idx);
  const labels = fm.task.labelBatch(split.labels, idx);
  const step = getMethod('gan-fusion').customStep!({ model: fm.model, options: fm.meta.options, task: fm.task, objective: fm.meta.objective });
  const all = fm.model.trainableWeights;
  const vars: Record<string, tf.Variable[]> = {};
  const opt: Record<string, tf.Optimizer> = {};
  for (const [name, o] of Object.entries(step.optimizers)) {
    vars[name] = all.filter((w) => o.weights(w.name)).map((w) => w.read() as tf.Variable);
    opt[name] = tf.train.adam(5e-3);
  }
  assert.ok(vars.d.length === 4 && vars.d.every((v) => v.name.includes(DISC_PREFIX)), 'the discriminator optimiser owns the discriminator weights');
  assert.ok(vars.g.length > 4 && vars.g.every((v) => !v.name.includes(DISC_PREFIX)));
  const batch = { inputs: xs, labels, step: 0, forward: (training: boolean) => fm.forwardNamed(xs, training) };
  const losses = () => tf.tidy(() => {
    const l = ganLosses(fm.forwardNamed(xs, false));
    return { d: l.discriminator.dataSync()[0], g: l.generator.dataSync()[0] };
  });
  const snapshot = (name: string) => vars[name].map((v) => v.dataSync().slice() as Float32Array);
  const moved = (a: Float32Array[], b: Float32Array[]) => a.some((w, i) => maxAbsDiff(w, b[i]) > 0);
  for (let round = 0; round < 3; round++) {
    const l0 = losses();
    const g0 = snapshot('g');
    const d0 = snapshot('d');
    tf.tidy(() => { ganUpdate('d', batch, fm.task, opt, vars, 1); });
    const l1 = losses();
    assert.ok(l1.d < l0.d, `round ${round}: discriminator loss ${l0.d.toFixed(4)} -> ${l1.d.toFixed(4)} under its update`);
    assert.ok(!moved(g0, snapshot('g')), 'the discriminator update leaves the generator side unchanged');
    if (round === 0) vars.d.forEach((v, i) => assert.ok(maxAbsDiff(v.dataSync(), d0[i]) > 0, `discriminator weight ${v.name} moved`));
    const d1 = snapshot('d');
    tf.tidy(() => { ganUpdate('g', batch, fm.task, opt, vars, 1); });
    const l2 = losses();
    assert.ok(l2.g < l1.g, `round ${round}: generator loss ${l1.g.toFixed(4)} -> ${l2.g.toFixed(4)} under its update`);
    assert.ok(!moved(d1, snapshot('d')), 'the generator update leaves the discriminator unchanged');
    if (round === 0) vars.g.forEach((v, i) => assert.ok(maxAbsDiff(v.dataSync(), g0[i]) > 0, `generator-side weight ${v.name} moved`));
  }
  Object.values(opt).forEach((o) => o.dispose());
  fm.dispose();
});

test('gan-fusion: task, generator and discriminator losses are in the history; save -> load gives the same outputs', async () => {
  const data = redundant();
  const fm = FusionModel.create('gan-fusion', data, {}, { seed: 6 });
  const res = await train(fm, data, { epochs: 3, batchSize: 64, lr: 3e-3, seed: 1, patience: 0 });
  for (const h of res.history) {
    assert.deepEqual(Object.keys(h.losses ?? {}).sort(), ['discriminator', 'generator', 'loss', 'task']);
    assert.equal(h.loss, h.losses!.task);
    assert.ok(Object.values(h.losses!).every(Number.isFinite));
  }
  assert.ok(evaluate(fm, data).metrics.accuracy > 0.6);
  const dir = tmpDir();
  await fm.save(dir);
  const loaded = await FusionModel.load(dir);
  const t = data.splits.test!;
  const a = fm.predictOutputs(t.features, t.n);
  const b = loaded.predictOutputs(t.features, t.n);
  for (const k of ['main', 'd_real', 'd_fake']) assert.ok(maxAbsDiff(a.values[k], b.values[k]) <= 1e-4, k);
  assert.deepEqual((loaded.meta.history as { losses?: unknown }[] | undefined)?.map((h) => h.losses), res.history.map((h) => h.losses));
  fm.dispose();
  loaded.dispose();
});
