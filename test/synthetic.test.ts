/** The synthetic suite and the metrics: shapes, determinism, known values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { makeSynthetic, SYNTHETIC_KINDS, syntheticSuite } from '../src/datasets/synthetic.js';
import { validateDataset } from '../src/data/validate.js';
import { loadDatasets } from '../src/datasets/resolve.js';
import { classificationMetrics, multilabelMetrics, pearson, regressionMetrics } from '../src/eval/metrics.js';
import { ModalfuseError } from '../src/errors.js';
import { VERSION } from '../src/version.js';

test('every synthetic set: two vector modalities of different widths, >= 5000 train, valid and test, valid data', () => {
  for (const kind of SYNTHETIC_KINDS) {
    const d = makeSynthetic(kind);
    validateDataset(d);
    const widths = Object.values(d.modalities).map((m) => m.shape[0]);
    assert.equal(widths.length, 2);
    assert.notEqual(widths[0], widths[1]);
    assert.ok(d.splits.train!.n >= 5000);
    assert.ok(d.splits.valid!.n > 0 && d.splits.test!.n > 0);
    assert.equal(d.task.kind, kind === 'regression' ? 'regression' : 'classification');
  }
});

test('synthetic sets are deterministic for a seed and differ across seeds', () => {
  const a = makeSynthetic('synergy', { seed: 3 });
  const b = makeSynthetic('synergy', { seed: 3 });
  const c = makeSynthetic('synergy', { seed: 4 });
  assert.deepEqual(a.splits.test!.features.a, b.splits.test!.features.a);
  assert.deepEqual(a.splits.train!.labels, b.splits.train!.labels);
  assert.notDeepEqual(a.splits.test!.features.a, c.splits.test!.features.a);
});

test('synergy labels are balanced and independent of each modality\'s latent digit', () => {
  const d = makeSynthetic('synergy', { seed: 1 });
  const counts = [0, 0, 0, 0];
  for (const y of d.splits.train!.labels) counts[y]++;
  for (const c of counts) assert.ok(Math.abs(c / d.splits.train!.n - 0.25) < 0.03, `${counts}`);
});

test('`synthetic` names the whole suite; unknown synthetic names are errors', async () => {
  assert.equal(syntheticSuite('synthetic').length, 4);
  assert.equal((await loadDatasets('synthetic', { quick: true })).length, 4);
  await assert.rejects(() => loadDatasets('synthetic:nope'), ModalfuseError);
  await assert.rejects(() => loadDatasets('/no/such/folder'), /unknown data set/);
});

test('classification metrics: accuracy, macro F1 and the confusion matrix on a hand-checked case', () => {
  // truth 0,0,1,1,2 ; predicted 0,1,1,1,0
  const raw = Float32Array.from([1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0]);
  const { metrics, confusion } = classificationMetrics(raw, [0, 0, 1, 1, 2], 3);
  assert.equal(metrics.accuracy, 3 / 5);
  assert.deepEqual(confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 0]]);
  // F1: class0 2*1/(2+1+1)=0.5, class1 2*2/(4+1+0)=0.8, class2 0
  assert.ok(Math.abs(metrics.f1 - (0.5 + 0.8 + 0) / 3) < 1e-12);
});

test('regression metrics: MAE, Pearson, acc2/acc7', () => {
  const m = regressionMetrics(Float32Array.from([1, 2, 3, -1]), [1, 2, 4, -2], 1, { sentiment: true });
  assert.equal(m.mae, 0.5);
  assert.ok(Math.abs(m.corr - pearson([1, 2, 3, -1], [1, 2, 4, -2])) < 1e-12);
  assert.equal(m.acc2, 1);
  assert.equal(m.acc7, 0.75); // 4 clips to 3; -1 vs -2 is the only miss
});

test('multi-label metrics: exact match, micro and macro F1', () => {
  const m = multilabelMetrics(Float32Array.from([1, -1, 1, 1]), [1, 0, 1, 0], 2);
  assert.equal(m.accuracy, 0.5);
  assert.ok(Math.abs(m.microF1 - (2 * 2) / (2 * 2 + 1)) < 1e-12);
});

test('the library version equals package.json\'s', () => {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  assert.equal(VERSION, pkg.version);
});
