/**
 * The sequence suite's known answers (issue 12): modal attention puts the largest weight on
 * the one modality that decides `synthetic:seq-unimodal`; MFN and DFG learn
 * `synthetic:seq-timing` (accuracy >= 0.9), where late fusion of per-modality decisions
 * (`late-mean`) stays near chance. Small configurations and data (same generator, fewer
 * samples) so that each test stays well under a minute on two shared cores.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../src/backend/index.js';
import { makeSyntheticSeq } from '../src/datasets/synthetic_seq.js';
import { evaluate } from '../src/eval/evaluate.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { train } from '../src/train/train.js';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

async function fit(method: string, kind: 'seq-unimodal' | 'seq-timing', options: Record<string, unknown>, epochs: number, train_: number) {
  const ds = makeSyntheticSeq(kind, { seed: 0, sizes: { train: train_, valid: 200, test: 200 } });
  const fm = FusionModel.create(method, { task: ds.task, modalities: ds.modalities }, options, { seed: 1 });
  await train(fm, ds, { epochs, batchSize: 32, lr: 0.01, patience: 0, seed: 1 });
  return { ds, fm, accuracy: evaluate(fm, ds, { split: 'test' }).metrics.accuracy };
}

test('modal attention: after training on synthetic:seq-unimodal the deciding modality "a" gets the largest weight', async () => {
  const { ds, fm, accuracy } = await fit('modal-attention', 'seq-unimodal', { hidden: 8 }, 5, 600);
  assert.ok(accuracy > 0.75, `accuracy ${accuracy}`);
  const t = ds.splits.test!;
  const w = fm.predictOutputs(t.features, t.n, { names: ['weights'] }).values.weights; // columns a, b, c
  const mean = [0, 1, 2].map((j) => Array.from({ length: t.n }, (_, i) => w[3 * i + j]).reduce((x, y) => x + y, 0) / t.n);
  let aFirst = 0;
  for (let i = 0; i < t.n; i++) if (w[3 * i] > w[3 * i + 1] && w[3 * i] > w[3 * i + 2]) aFirst++;
  assert.ok(mean[0] > mean[1] + 0.1 && mean[0] > mean[2] + 0.1, `mean weights a, b, c: ${mean.map((x) => x.toFixed(3))}`);
  assert.ok(aFirst / t.n > 0.9, `a has the largest weight in ${aFirst} of ${t.n} samples`);
  fm.dispose();
});

test('MFN learns synthetic:seq-timing (accuracy >= 0.9)', async () => {
  const tiny = { lstmHidden: 8, memory: 16, attHidden: [16, 16], gammaHidden: [16, 16], outHidden: 16, attDropout: [0, 0], gammaDropout: [0, 0], outDropout: 0 };
  const { fm, accuracy } = await fit('mfn', 'seq-timing', tiny, 4, 800);
  assert.ok(accuracy >= 0.9, `mfn accuracy ${accuracy}`);
  fm.dispose();
});

test('DFG learns synthetic:seq-timing (accuracy >= 0.9) where late-mean stays near chance', async () => {
  const dfg = await fit('dfg', 'seq-timing', { hidden: 16, units: 16 }, 8, 1000);
  assert.ok(dfg.accuracy >= 0.9, `dfg accuracy ${dfg.accuracy}`);
  const late = await fit('late-mean', 'seq-timing', { hidden: 16 }, 6, 1000);
  assert.ok(late.accuracy < 0.6, `late-mean accuracy ${late.accuracy}`);
  dfg.fm.dispose();
  late.fm.dispose();
});
