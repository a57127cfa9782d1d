/**
 * Issue 13, coordinated fusion: DSSM's cosine-softmax loss against hand-computed values on a
 * 3-item batch (in-batch, label-masked, K sampled negatives), the negative sampler never
 * returning a positive, DSSM (plain, K negatives, RRF towers, learned gamma) learning
 * retrieval on synthetic:redundant, and save -> load giving the same embeddings.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, tf } from '../src/backend/index.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { train } from '../src/train/train.js';
import { evaluate } from '../src/eval/evaluate.js';
import { withTask } from '../src/data/with_task.js';
import { makeSynthetic } from '../src/datasets/synthetic.js';
import { pairSoftmaxLoss, sampledSoftmaxLoss, objectiveLoss } from '../src/train/objective.js';
import { sampleNegatives, negativesRng } from '../src/train/negatives.js';
import { getTask } from '../src/tasks/index.js';
import { Rng } from '../src/util/rng.js';
import { maxAbsDiff, tmpDir } from './helpers.js';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

// a = (1,0), (0,1), (1,1)/sqrt2; b = (1,0), (0,1), (1,0). Cosines a_i . b_j:
//   row 0: 1 0 1;  row 1: 0 1 0;  row 2: r r r with r = 1/sqrt2.   gamma = 2.
const A = [[1, 0], [0, 1], [3, 3]];
const B = [[2, 0], [0, 5], [1, 0]];
const r = Math.SQRT1_2;
const E = Math.exp;
const L = Math.log;

test('the cosine-softmax loss matches hand-computed values on a 3-item batch', () => {
  const a = tf.tensor2d(A);
  const b = tf.tensor2d(B);
  const close = (x: tf.Scalar, want: number, what: string) => {
    const got = x.dataSync()[0];
    assert.ok(Math.abs(got - want) < 1e-5, `${what}: ${got} vs ${want}`);
  };
  // query -> gallery, every other row a negative:
  //   row 0 logits (2, 0, 2), positive 2 -> log(2 + e^-2); row 1 (0, 2, 0) -> log(1 + 2e^-2); row 2 all 2r -> log 3
  const q2g = (L(2 + E(-2)) + L(1 + 2 * E(-2)) + L(3)) / 3;
  close(pairSoftmaxLoss(a, b, 2, undefined, false), q2g, 'in-batch, one direction');
  // gallery -> query: columns (2, 0, 2r) pos 0, (0, 2, 2r) pos 1, (2, 0, 2r) pos 2
  const z = E(2) + 1 + E(2 * r);
  const g2q = (L(z / E(2)) + L(z / E(2)) + L(z / E(2 * r))) / 3;
  close(pairSoftmaxLoss(a, b, 2), (q2g + g2q) / 2, 'in-batch, symmetric');
  // labels 0 1 0: rows 0 and 2 are positives of each other, never negatives:
  //   row 0 (2, 0, -) -> log(1 + e^-2); row 1 unchanged; row 2 (-, 2r, 2r) -> log 2
  const labels = tf.tensor1d([0, 1, 0], 'int32');
  close(pairSoftmaxLoss(a, b, 2, labels, false), (L(1 + E(-2)) + L(1 + 2 * E(-2)) + L(2)) / 3, 'in-batch, same label masked');
  // one sampled negative each: row 0 -> 1, row 1 -> 0, row 2 -> 1; row 0 (2, 0), row 1 (2, 0), row 2 (2r, 2r)
  const sampled = (L(1 + E(-2)) + L(1 + E(-2)) + L(2)) / 3;
  close(sampledSoftmaxLoss(a, b, 2, 1, Int32Array.from([1, 0, 1])), sampled, 'K = 1 sampled negative');
  // a row without any negative (-1) contributes log 1 = 0
  close(sampledSoftmaxLoss(a, b, 2, 1, Int32Array.from([1, 0, -1])), (L(1 + E(-2)) + L(1 + E(-2))) / 3, 'row without negatives');
  // through the objective: a learned-scale output of 2 gives the same value as gamma 2
  const task = getTask({ kind: 'retrieval', query: 'a', gallery: 'b', relevance: 'pair' });
  const viaTerm = objectiveLoss(
    [{ output: 'query', target: { output: 'gallery' }, loss: 'pair-softmax', weight: 1, params: { gammaOutput: 'g', symmetric: false } }],
    task,
    { outputs: { query: a, gallery: b, g: tf.fill([3, 1], 2) }, labels: tf.tensor1d([0, 1, 2], 'int32'), inputs: {} },
  );
  close(viaTerm, q2g, 'learned-scale output');
});

test('the negative sampler never returns a positive (itself or a same-label item) and is seeded', () => {
  for (let trial = 0; trial < 200; trial++) {
    const rng = new Rng(trial);
    const n = 1 + rng.int(40);
    const classes = 1 + rng.int(6);
    const k = 1 + rng.int(12);
    const labels = Int32Array.from({ length: n }, () => rng.int(classes));
    const neg = sampleNegatives(n, k, labels, negativesRng(trial, 7));
    for (let i = 0; i < n; i++) {
      const candidates = labels.filter((l) => l !== labels[i]).length;
      const row = Array.from(neg.subarray(i * k, i * k + k));
      const drawn = row.filter((j) => j >= 0);
      assert.equal(drawn.length, Math.min(k, candidates), `row ${i}: ${drawn.length} drawn of ${candidates}`);
      for (const j of drawn) {
        assert.notEqual(j, i);
        assert.notEqual(labels[j], labels[i], `row ${i} (label ${labels[i]}) drew ${j} (label ${labels[j]})`);
      }
      assert.equal(new Set(drawn).size, drawn.length, 'without replacement');
    }
    // by pair (no labels): everything but itself
    const pair = sampleNegatives(n, k, null, negativesRng(trial, 7));
    for (let i = 0; i < n; i++) assert.ok(!pair.subarray(i * k, i * k + k).includes(i));
  }
  assert.deepEqual(sampleNegatives(30, 5, null, negativesRng(3, 9)), sampleNegatives(30, 5, null, negativesRng(3, 9)));
  assert.notDeepEqual(sampleNegatives(30, 5, null, negativesRng(3, 9)), sampleNegatives(30, 5, null, negativesRng(3, 10)));
});

const retrievalData = () => withTask(makeSynthetic('redundant', { seed: 5, sizes: { train: 512, valid: 64, test: 128 } }), 'retrieval:a->b');

for (const [label, options] of [
  ['in-batch negatives', {}],
  ['K = 8 sampled negatives, learned gamma', { negatives: '8', learnGamma: true }],
  ['RRF towers', { rrf: true }],
] as const) {
  test(`dssm (${label}) learns retrieval on synthetic:redundant a->b well above an untrained model`, async () => {
    const data = retrievalData();
    const fm = FusionModel.create('dssm', data, options, { seed: 3 });
    fm.fitPreprocessing(data.splits.train!);
    const untrained = evaluate(fm, data).metrics;
    const res = await train(fm, data, { epochs: 10, batchSize: 64, lr: 3e-3, seed: 1, patience: 0 });
    assert.ok(res.history[res.history.length - 1].loss < res.history[0].loss, 'the loss falls');
    const trained = evaluate(fm, data).metrics;
    assert.ok(trained.map > untrained.map + 0.2, `map ${untrained.map.toFixed(3)} -> ${trained.map.toFixed(3)}`);
    assert.ok(trained.recallAt1 > 0.6, `recall@1 ${trained.recallAt1.toFixed(3)}`);
    fm.dispose();
  });
}

test('dssm: save -> load gives the same embeddings within 1e-4 (RRF towers, learned gamma)', async () => {
  const data = retrievalData();
  const fm = FusionModel.create('dssm', data, { rrf: true, learnGamma: true, dim: 16 }, { seed: 4 });
  await train(fm, data, { epochs: 2, batchSize: 64, lr: 3e-3, seed: 1, patience: 0 });
  const dir = tmpDir();
  await fm.save(dir);
  const loaded = await FusionModel.load(dir);
  const t = data.splits.test!;
  const a = fm.predictOutputs(t.features, t.n, { names: ['query', 'gallery'] });
  const b = loaded.predictOutputs(t.features, t.n, { names: ['query', 'gallery'] });
  assert.equal(a.widths.query, 16);
  assert.ok(maxAbsDiff(a.values.query, b.values.query) <= 1e-4);
  assert.ok(maxAbsDiff(a.values.gallery, b.values.gallery) <= 1e-4);
  assert.deepEqual(evaluate(loaded, data).metrics, evaluate(fm, data).metrics);
  fm.dispose();
  loaded.dispose();
});
