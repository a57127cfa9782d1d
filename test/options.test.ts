/**
 * Foundation III-a: structured options (per-modality records, lists, JSON objects, @FILE),
 * training defaults per method, model folders of 0.1.0, and the retrieval task on disk.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, tfl } from '../src/backend/index.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { allOptions, coerceOption, getMethod, nestSetPairs, register, resolveOptions } from '../src/registry/index.js';
import { train, trainingSettings } from '../src/train/train.js';
import { validateManifest } from '../src/data/validate.js';
import { makeSynthetic } from '../src/datasets/synthetic.js';
import { writeDatasetFolder, readDatasetFolder } from '../src/data/folder.js';
import { withTask } from '../src/data/with_task.js';
import { smallDataset, tmpDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '../src/cli/main.js');
const FIXTURES = path.resolve(here, '../../test/fixtures/models-0.1.0');

before(async () => {
  await initBackend({ backend: 'wasm' });
});

function cli(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8', env: { ...process.env, MODALFUSE_BACKEND: '', MODALFUSE_DEBUG: '' }, timeout: 180_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--set hidden.a=8 --set hidden.b=16 trains on synthetic:redundant and saves options.hidden as given', () => {
  const dir = tmpDir();
  const r = cli(['train', '--dataset', 'synthetic:redundant', '--method', 'concat', '--set', 'hidden.a=8', '--set', 'hidden.b=16', '--epochs', '1', '--save', 'm'], dir);
  assert.equal(r.status, 0, r.stderr);
  const meta = JSON.parse(fs.readFileSync(path.join(dir, 'm', 'modalfuse.json'), 'utf8'));
  assert.deepEqual(meta.options.hidden, { a: 8, b: 16 });
  const model = JSON.parse(fs.readFileSync(path.join(dir, 'm', 'model.json'), 'utf8'));
  const units = Object.fromEntries(
    model.modelTopology.config.layers.filter((l: { class_name: string }) => l.class_name === 'Dense').map((l: { config: { name: string; units: number } }) => [l.config.name, l.config.units]),
  );
  assert.equal(units.enc_a_dense1, 8);
  assert.equal(units.enc_b_dense1, 16);
  // @FILE gives the same record; a bad structured value is one clear line, exit 2
  fs.writeFileSync(path.join(dir, 'hidden.json'), JSON.stringify({ a: 8, b: 16 }));
  const f = cli(['train', '--dataset', 'synthetic:redundant', '--method', 'concat', '--set', 'hidden=@hidden.json', '--epochs', '1', '--save', 'm2'], dir);
  assert.equal(f.status, 0, f.stderr);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'm2', 'modalfuse.json'), 'utf8')).options.hidden, { a: 8, b: 16 });
  for (const [set, pattern] of [
    ['hidden.c=8', /option "hidden" of method "concat" names an unknown modality "c"/],
    ['hidden=[8,16]', /bad value for option "hidden" of method "concat"; expected: integer, or a record per modality; found: \[8,16\]/],
    ['hidden.a=x', /bad value for option "hidden".*for modality "a"; found: x/],
    ['hidden=@missing.json', /cannot read the JSON file of option "hidden"/],
  ] as const) {
    const b = cli(['train', '--dataset', 'synthetic:redundant', '--method', 'concat', '--set', set, '--epochs', '1', '--save', 'bad'], dir);
    assert.equal(b.status, 2, `${set}: ${b.stderr}`);
    assert.match(b.stderr, pattern);
    assert.equal(b.stderr.trim().split('\n').length, 1);
  }
});

register({
  name: 'test-structured',
  family: 'test',
  level: 'feature',
  description: 'list and JSON options',
  citation: '',
  tasks: ['classification', 'regression'],
  modalityKinds: 'any',
  minModalities: 1,
  options: {
    layers: { type: 'list', default: [8], items: { type: 'integer', min: 1 }, minItems: 1, description: 'widths' },
    arch: { type: 'json', default: {}, description: 'an architecture' },
  },
  training: { lr: 0.02, epochs: 2, batchSize: 8, loss: 'l1' },
  build(ctx) {
    let h = ctx.encode(ctx.modalities[0]);
    for (const [i, w] of (ctx.options.layers as number[]).entries()) h = tfl.layers.dense({ units: w, activation: 'relu', name: `layer${i}` }).apply(h) as typeof h;
    return { outputs: { main: ctx.head(h, 'head') } };
  },
});

test('list and JSON options are parsed and validated against the declaration', () => {
  const e = getMethod('test-structured');
  assert.deepEqual(resolveOptions(e, { layers: '[64,32]' }).layers, [64, 32]);
  assert.deepEqual(resolveOptions(e, { layers: '64,32' }).layers, [64, 32]);
  assert.deepEqual(resolveOptions(e, { layers: [4] }).layers, [4]);
  assert.deepEqual(resolveOptions(e, { arch: '{"cells":[1,2]}' }).arch, { cells: [1, 2] });
  assert.throws(() => resolveOptions(e, { layers: '[64,0]' }), /bad value for option "layers".*item 1 of the list: integer >= 1/);
  assert.throws(() => resolveOptions(e, { layers: '[]' }), /at least 1 items/);
  assert.throws(() => resolveOptions(e, { arch: '12' }), /a JSON object or array/);
  assert.throws(() => coerceOption('concat', 'hidden', allOptions(getMethod('concat')).hidden, { a: 0 }, ['a']), /integer >= 1 for modality "a"/);
  assert.deepEqual(nestSetPairs({ 'hidden.a': '8', 'hidden.b': '16', lr: '1' }), { hidden: { a: '8', b: '16' }, lr: '1' });
  assert.throws(() => nestSetPairs({ hidden: '8', 'hidden.a': '4' }), /both for all modalities and per modality/);
});

test('a method\'s training defaults apply unless the caller overrides them, and are reported', async () => {
  assert.deepEqual(trainingSettings('test-structured', {}), { epochs: 2, batchSize: 8, lr: 0.02, seed: 1, patience: 5, loss: 'l1' });
  assert.equal(trainingSettings('test-structured', { lr: 0.5, epochs: 1 }).lr, 0.5);
  assert.equal(trainingSettings('concat', {}).lr, 1e-3);
  const data = smallDataset({ a: { kind: 'vector', shape: [4] } }, { kind: 'regression', targets: ['y'] }, { train: 32, valid: 8, test: 8 });
  const fm = FusionModel.create('test-structured', data, {}, { seed: 1 });
  const tr = await train(fm, data, {});
  assert.equal(tr.epochsRun, 2);
  assert.deepEqual(tr.settings, { epochs: 2, batchSize: 8, lr: 0.02, patience: 5, loss: 'l1' });
  fm.dispose();
});

test('model folders saved by 0.1.0 load and predict as before', async () => {
  const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8'));
  for (const method of ['concat', 'late-mean', 'hybrid']) {
    const fm = await FusionModel.load(path.join(FIXTURES, method));
    const f = Object.fromEntries(Object.entries(expected.features as Record<string, number[]>).map(([m, a]) => [m, Float32Array.from(a)]));
    const p = fm.predict(f, expected.n);
    const want = expected.probabilities[method] as number[];
    assert.equal(p.length, want.length);
    for (let i = 0; i < p.length; i++) assert.ok(Math.abs(p[i] - want[i]) < 1e-6, `${method}[${i}]: ${p[i]} vs ${want[i]}`);
    // their objective is the one 0.1.0 trained with
    if (method === 'late-mean') {
      assert.deepEqual(fm.meta.outputs, ['main', 'head_a', 'head_b']);
      assert.deepEqual(fm.meta.objective.map((t) => [t.output, t.weight]), [['main', 1], ['head_a', 0.5], ['head_b', 0.5]]);
    }
    fm.dispose();
  }
});

test('a retrieval data set folder round-trips; a classification set scored as retrieval names its modalities', () => {
  const syn = makeSynthetic('redundant', { seed: 2, sizes: { train: 20, valid: 5, test: 5 } });
  const r = withTask(syn, 'retrieval:a->b');
  assert.deepEqual(r.task, { kind: 'retrieval', query: 'a', gallery: 'b', relevance: 'label', classes: ['0', '1', '2', '3'] });
  const dir = path.join(tmpDir(), 'ret');
  writeDatasetFolder(dir, { ...r, name: 'ret' });
  const back = readDatasetFolder(dir);
  assert.deepEqual(back.task, r.task);
  assert.throws(() => withTask(syn, 'retrieval:a->c'), /no modality "c"/);
  assert.throws(() => withTask(syn, 'retrieval:a'), /retrieval:QUERY->GALLERY/);
  assert.throws(
    () => validateManifest({ schemaVersion: 1, name: 'x', task: { kind: 'retrieval', query: 'a', gallery: 'zz', relevance: 'pair' }, modalities: { a: { kind: 'vector', shape: [2] } }, splits: { train: 1 } }, 'dataset.json'),
    /names modality "zz"/,
  );
  assert.throws(
    () => validateManifest({ schemaVersion: 1, name: 'x', task: { kind: 'retrieval', query: 'a', gallery: 'b', relevance: 'near' }, modalities: { a: { kind: 'vector', shape: [2] }, b: { kind: 'vector', shape: [2] } }, splits: { train: 1 } }, 'dataset.json'),
    /relevance must be "label" or "pair"/,
  );
});
