/**
 * Training and evaluation: learning where the answer is known, early stopping,
 * checkpoints and resumption, no tensor leaks across epochs, errors on bad options.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { initBackend, tf } from '../src/backend/index.js';
import { makeSynthetic } from '../src/datasets/synthetic.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { train } from '../src/train/train.js';
import { evaluate } from '../src/eval/evaluate.js';
import { fusionModelCost } from '../src/eval/cost.js';
import { ModalfuseError } from '../src/errors.js';
import { smallDataset, tmpDir } from './helpers.js';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

const FUSED = ['concat', 'sum', 'product', 'late-mean', 'late-vote', 'late-learned', 'late-stack', 'hybrid'];

for (const kind of ['redundant', 'unique'] as const) {
  const data = makeSynthetic(kind, { seed: 11 });
  for (const method of FUSED) {
    test(`${method} reaches >= 0.9 test accuracy on synthetic:${kind}`, async () => {
      const fm = FusionModel.create(method, data, {}, { seed: 1 });
      await train(fm, data, { epochs: 6, batchSize: 64, lr: 3e-3, seed: 1 });
      const { metrics } = evaluate(fm, data);
      assert.ok(metrics.accuracy >= 0.9, `${method} on ${kind}: accuracy ${metrics.accuracy}`);
      fm.dispose();
    });
  }
}

test('synthetic:unique: the informative modality alone suffices, the other is at chance', async () => {
  const data = makeSynthetic('unique', { seed: 11 });
  const acc: Record<string, number> = {};
  for (const m of ['a-only', 'b-only']) {
    const fm = FusionModel.create(m, data, {}, { seed: 1 });
    await train(fm, data, { epochs: 4, lr: 3e-3 });
    acc[m] = evaluate(fm, data).metrics.accuracy;
    fm.dispose();
  }
  assert.ok(acc['a-only'] > 0.9, JSON.stringify(acc));
  assert.ok(acc['b-only'] < 0.35, JSON.stringify(acc));
});

test('synthetic:synergy: neither modality alone beats chance by much', async () => {
  const data = makeSynthetic('synergy', { seed: 11 });
  for (const m of ['a-only', 'b-only']) {
    const fm = FusionModel.create(m, data, {}, { seed: 1 });
    await train(fm, data, { epochs: 4, lr: 3e-3 });
    const acc = evaluate(fm, data).metrics.accuracy;
    assert.ok(acc < 0.35, `${m}: ${acc}`);
    fm.dispose();
  }
});

test('regression: concat learns synthetic:regression (corr > 0.8) and late-mean averages values', async () => {
  const data = makeSynthetic('regression', { seed: 11 });
  for (const m of ['concat', 'late-mean']) {
    const fm = FusionModel.create(m, data, {}, { seed: 1 });
    await train(fm, data, { epochs: 8, lr: 3e-3 });
    const { metrics } = evaluate(fm, data);
    assert.ok(metrics.corr > (m === 'concat' ? 0.8 : 0.6), `${m}: ${JSON.stringify(metrics)}`);
    assert.ok(Number.isFinite(metrics.mae));
    fm.dispose();
  }
});

test('multi-label: concat learns labels that threshold a shared score', async () => {
  const data = smallDataset(
    { a: { kind: 'vector', shape: [4] }, b: { kind: 'vector', shape: [3] } },
    { kind: 'multilabel', labels: ['p', 'q'] },
    { train: 1500, valid: 300, test: 300 },
  );
  const fm = FusionModel.create('concat', data, {}, { seed: 1 });
  await train(fm, data, { epochs: 15, lr: 5e-3 });
  const { metrics } = evaluate(fm, data);
  assert.ok(metrics.microF1 > 0.85, JSON.stringify(metrics));
  assert.ok('accuracy' in metrics && 'f1' in metrics);
  fm.dispose();
});

test('no tensor leaks across epochs', async () => {
  const data = makeSynthetic('redundant', { seed: 2, sizes: { train: 300, valid: 100, test: 100 } });
  for (const method of ['hybrid', 'late-vote', 'product']) {
    const fm = FusionModel.create(method, data, { dropout: 0.2 }, { seed: 1 });
    const counts: number[] = [];
    await train(fm, data, { epochs: 4, patience: 0, onEpoch: () => counts.push(tf.memory().numTensors) });
    // epoch 1 creates the optimizer's slots and the best-weights copy; after that, constant
    assert.equal(counts[1], counts[2], `${method}: ${counts}`);
    assert.equal(counts[2], counts[3], `${method}: ${counts}`);
    fm.dispose();
  }
});

test('early stopping restores the best epoch and stops after `patience` epochs without gain', async () => {
  const data = makeSynthetic('unique', { seed: 4, sizes: { train: 400, valid: 200, test: 200 } });
  const fm = FusionModel.create('concat', data, { hidden: 64, headHidden: 128 }, { seed: 1 });
  const r = await train(fm, data, { epochs: 60, patience: 2, lr: 1e-2 });
  assert.ok(r.stoppedEarly, 'stopped early');
  assert.equal(r.epochsRun, r.bestEpoch + 2);
  const best = r.history[r.bestEpoch - 1].valid!.accuracy;
  const { metrics } = evaluate(fm, data, { split: 'valid' });
  assert.equal(metrics.accuracy, best, 'weights of the best epoch are restored');
  fm.dispose();
});

test('checkpoints are model folders, and resuming reproduces an uninterrupted run', async () => {
  const data = makeSynthetic('redundant', { seed: 5, sizes: { train: 400, valid: 100, test: 100 } });
  const opts = { epochs: 4, patience: 0, lr: 3e-3, seed: 3 };
  const full = FusionModel.create('late-learned', data, {}, { seed: 1 });
  await train(full, data, opts);
  const ref = full.predictRaw(data.splits.test!.features, 100);

  const dir = tmpDir();
  const first = FusionModel.create('late-learned', data, {}, { seed: 1 });
  await train(first, data, { ...opts, epochs: 2, checkpointDir: dir });
  assert.ok(fs.existsSync(path.join(dir, 'model.json')) && fs.existsSync(path.join(dir, 'modalfuse.json')));
  const ckpt = await FusionModel.load(dir);
  assert.equal(ckpt.meta.history!.length, 2);
  ckpt.dispose();

  const second = FusionModel.create('late-learned', data, {}, { seed: 99 });
  const r = await train(second, data, { ...opts, checkpointDir: dir, resume: true });
  assert.equal(r.history.length, 4);
  const got = second.predictRaw(data.splits.test!.features, 100);
  let diff = 0;
  for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i] - ref[i]));
  assert.ok(diff < 1e-5, `resumed run differs by ${diff}`);
  [full, first, second].forEach((m) => m.dispose());
});

test('training is deterministic for a seed', async () => {
  const data = makeSynthetic('synergy', { seed: 5, sizes: { train: 300, valid: 100, test: 100 } });
  const run = async () => {
    const fm = FusionModel.create('product', data, { dropout: 0.2 }, { seed: 4 });
    await train(fm, data, { epochs: 2, seed: 9 });
    const out = fm.predictRaw(data.splits.test!.features, 100);
    fm.dispose();
    return Array.from(out);
  };
  assert.deepEqual(await run(), await run());
});

test('cost: parameters match the model, FLOPs and activations are positive and grow with width', () => {
  const data = makeSynthetic('redundant', { seed: 1, sizes: { train: 10, valid: 10, test: 10 } });
  const small = FusionModel.create('concat', data, { hidden: 16 });
  const big = FusionModel.create('concat', data, { hidden: 64 });
  const cs = fusionModelCost(small);
  const cb = fusionModelCost(big);
  assert.equal(cs.params, small.countParams());
  // concat: a 16->16, b 24->16, head 32->64->4: 2*(16*16+24*16+32*64+64*4) MACs*2 + biases
  const dense = (i: number, o: number) => 2 * i * o + o;
  const expected = dense(16, 16) + dense(24, 16) + dense(32, 64) + dense(64, 4) + 16 + 16 + 64; // + relu
  assert.equal(cs.flopsPerSample, expected);
  assert.ok(cb.flopsPerSample > cs.flopsPerSample && cb.activationBytesPerSample > cs.activationBytesPerSample);
  small.dispose();
  big.dispose();
});

test('bad training options and unknown methods/options are ModalfuseErrors naming the valid ones', async () => {
  const data = makeSynthetic('redundant', { seed: 1, sizes: { train: 10, valid: 10, test: 10 } });
  assert.throws(() => FusionModel.create('nope', data), (e: unknown) => e instanceof ModalfuseError && /unknown method "nope"/.test(e.message) && /concat/.test(e.message));
  assert.throws(() => FusionModel.create('concat', data, { widht: 3 }), (e: unknown) => e instanceof ModalfuseError && /unknown option "widht"/.test(e.message) && /hidden/.test(e.message));
  assert.throws(() => FusionModel.create('concat', data, { hidden: 'many' }), (e: unknown) => e instanceof ModalfuseError && /bad value for option "hidden"/.test(e.message));
  assert.throws(() => FusionModel.create('concat', data, { head: 'deep' }), /one of mlp, linear/);
  assert.throws(() => FusionModel.create('zzz-only', data), /no modality "zzz"/);
  const fm = FusionModel.create('concat', data);
  await assert.rejects(() => train(fm, data, { epochs: 0 }), ModalfuseError);
  await assert.rejects(() => train(fm, data, { lr: -1 }), ModalfuseError);
  fm.dispose();
});

test('training refuses data that does not fit the model or is not valid', async () => {
  const data = makeSynthetic('redundant', { seed: 1, sizes: { train: 20, valid: 10, test: 10 } });
  const fm = FusionModel.create('concat', data);
  const other = makeSynthetic('regression', { seed: 1, sizes: { train: 20, valid: 10, test: 10 } });
  await assert.rejects(() => train(fm, other), /is a regression task, the model is for classification/);
  const wide = { ...data, modalities: { ...data.modalities, a: { kind: 'vector' as const, shape: [17] } } };
  await assert.rejects(() => train(fm, wide), (e: unknown) => e instanceof ModalfuseError && e.modality === 'a');
  const bad = makeSynthetic('redundant', { seed: 1, sizes: { train: 20, valid: 10, test: 10 } });
  bad.splits.train!.features.b[5] = Number.NaN;
  await assert.rejects(() => train(fm, bad), /NaN/);
  assert.throws(() => evaluate(fm, bad, { split: 'train' }), /NaN/);
  fm.dispose();
});
