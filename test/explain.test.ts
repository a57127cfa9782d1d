/**
 * `explain` (issue 12): the library function's JSON shape (DESIGN.md) for modal attention,
 * DFG and MFN models, per-sample weights equal to the model's outputs, averages per class
 * and per target tercile; `modalfuse explain` prints it as one JSON object and exits 2 on a
 * model with nothing to explain.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/backend/index.js';
import { writeDatasetFolder } from '../src/data/folder.js';
import { explain } from '../src/eval/explain.js';
import { ModalfuseError } from '../src/errors.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { train } from '../src/train/train.js';
import { smallDataset, tmpDir } from './helpers.js';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../src/cli/main.js');
const SEQ = { a: { kind: 'sequence' as const, shape: [5, 3] }, b: { kind: 'sequence' as const, shape: [5, 2] } };
const TINY_MFN = { lstmHidden: 3, memory: 4, attHidden: [4, 4], gammaHidden: [4, 4], outHidden: 4 };

before(async () => {
  await initBackend({ backend: 'wasm' });
});

test('explain: per-sample weights (the model outputs) and their class averages, for modal-attention, dfg, mfn and graph-mfn', async () => {
  const ds = smallDataset(SEQ, { kind: 'classification', classes: ['lo', 'mid', 'hi'] }, { train: 24, valid: 8, test: 12 });
  const cases = [
    { method: 'modal-attention', kind: 'modal-attention', output: 'weights', names: ['a', 'b'] },
    { method: 'dfg', kind: 'dfg', output: 'efficacies', names: ['a->a+b', 'b->a+b', 'a->out', 'b->out', 'a+b->out'] },
    { method: 'mfn', kind: 'mfn', output: 'attention', names: ['a', 'b'] },
    { method: 'graph-mfn', kind: 'mfn', output: 'attention', names: ['a', 'b', 'a->a+b', 'b->a+b', 'a->out', 'b->out', 'a+b->out'] },
  ];
  for (const c of cases) {
    const fm = FusionModel.create(c.method, { task: ds.task, modalities: ds.modalities }, c.method.endsWith('mfn') ? TINY_MFN : { hidden: 4 }, { seed: 1 });
    await train(fm, ds, { epochs: 1, batchSize: 8 });
    const e = explain(fm, ds, { split: 'test' });
    assert.equal(e.schemaVersion, 1);
    assert.equal(e.method, c.method);
    assert.equal(e.kind, c.kind);
    assert.equal(e.split, 'test');
    assert.deepEqual(e.names, c.names);
    assert.equal(e.perSample.length, 12);
    const t = ds.splits.test!;
    const raw = fm.predictOutputs(t.features, t.n, { names: [c.output] }).values[c.output];
    const width = raw.length / t.n;
    for (let j = 0; j < width; j++) assert.equal(e.perSample[3].weights[c.names[j]], raw[3 * width + j]);
    assert.equal(e.perSample[3].label, ['lo', 'mid', 'hi'][t.labels[3]]);
    // the class average is the mean of its samples
    const cls = e.perSample[0].label;
    const members = e.perSample.filter((s) => s.label === cls);
    const mean = members.reduce((s, m) => s + m.weights[c.names[0]], 0) / members.length;
    assert.ok(Math.abs(e.perClass[cls][c.names[0]] - mean) < 1e-6);
    if (c.kind !== 'dfg') for (const s of e.perSample) assert.ok(Math.abs(s.weights.a + s.weights.b - 1) < 1e-5, 'modality weights sum to 1');
    fm.dispose();
  }
});

test('explain: regression averages per target tercile; a model with nothing to explain is a ModalfuseError', async () => {
  const ds = smallDataset(SEQ, { kind: 'regression', targets: ['y'] }, { train: 24, valid: 6, test: 15 });
  const fm = FusionModel.create('modal-attention', { task: ds.task, modalities: ds.modalities }, { hidden: 4 }, { seed: 1 });
  await train(fm, ds, { epochs: 1, batchSize: 8 });
  const e = explain(fm, ds, { split: 'test', limit: 4 });
  assert.equal(e.perSample.length, 4);
  assert.equal(Object.keys(e.perClass).length, 3);
  assert.ok(Object.keys(e.perClass)[0].startsWith('y < '));
  const concat = FusionModel.create('concat', { task: ds.task, modalities: ds.modalities }, { hidden: 4 }, { seed: 1 });
  assert.throws(() => explain(concat, ds), (err: unknown) => err instanceof ModalfuseError && /nothing to explain/.test((err as Error).message));
  fm.dispose();
  concat.dispose();
});

test('modalfuse explain prints one JSON object; exit 2 for a model with nothing to explain', async () => {
  const dir = tmpDir();
  const ds = smallDataset(SEQ, { kind: 'classification', classes: ['0', '1'] }, { train: 16, valid: 4, test: 6 });
  writeDatasetFolder(path.join(dir, 'data'), ds);
  for (const [method, folder] of [['modal-attention', 'ma'], ['lf-lstm', 'lf']]) {
    const fm = FusionModel.create(method, { task: ds.task, modalities: ds.modalities }, { hidden: 3 }, { seed: 1 });
    await train(fm, ds, { epochs: 1, batchSize: 8 });
    await fm.save(path.join(dir, folder));
    fm.dispose();
  }
  const run = (model: string) =>
    spawnSync(process.execPath, [CLI, 'explain', '--model', path.join(dir, model), '--dataset', path.join(dir, 'data'), '--limit', '2'], {
      encoding: 'utf8',
      env: { ...process.env, MODALFUSE_BACKEND: 'wasm' },
      timeout: 60_000,
    });
  const r = run('ma');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1);
  const e = JSON.parse(lines[0]);
  assert.equal(e.kind, 'modal-attention');
  assert.equal(e.perSample.length, 2);
  assert.deepEqual(Object.keys(e.perClass).sort(), ['0', '1'].filter((c) => Array.from(ds.splits.test!.labels).includes(Number(c))));
  const bad = run('lf');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /nothing to explain/);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  fs.rmSync(dir, { recursive: true, force: true });
});
