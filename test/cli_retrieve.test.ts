/**
 * `modalfuse embed` and `modalfuse retrieve` run as child processes on a DSSM trained by
 * the CLI on a small synthetic:redundant folder scored as retrieval a -> b: the embeddings
 * file equals the library's embeddings in split order; retrieve prints one JSON line per
 * query, the top k by cosine with gallery labels, the same for a .npy of raw queries; bad
 * input exits 2 with one line.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '../src/backend/index.js';
import { makeSynthetic } from '../src/datasets/synthetic.js';
import { writeDatasetFolder } from '../src/data/folder.js';
import { readNpy, writeNpy } from '../src/data/npy.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { embedModality } from '../src/predict/retrieve.js';
import { maxAbsDiff } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLI = path.resolve(here, '../src/cli/main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modalfuse-retrieve-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp, encoding: 'utf8', env: { ...process.env, MODALFUSE_BACKEND: '', MODALFUSE_DEBUG: '' }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function okRun(args: string[]): string {
  const r = cli(args);
  assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function fails(args: string[], ...parts: string[]): void {
  const r = cli(args);
  assert.equal(r.status, 2, `expected exit 2, got ${r.status}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.ok(lines[lines.length - 1].startsWith('modalfuse: '), r.stderr);
  assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace');
  for (const p of parts) assert.ok(lines[lines.length - 1].includes(p), `"${lines[lines.length - 1]}" lacks "${p}"`);
}

const data = { ...makeSynthetic('redundant', { seed: 5, sizes: { train: 512, valid: 64, test: 128 } }), name: 'redundant-small' };
const dataDir = path.join(tmp, 'redundant');
const model = path.join(tmp, 'dssm');

before(async () => {
  await initBackend({ backend: 'wasm' });
  writeDatasetFolder(dataDir, data);
  okRun(['train', '--dataset', dataDir, '--method', 'dssm', '--task', 'retrieval:a->b', '--epochs', '8', '--lr', '0.003', '--patience', '0', '--save', model]);
});

test('embed writes one embedding per sample in split order, equal to the library\'s', async () => {
  const fm = await FusionModel.load(model);
  for (const [m, split] of [['a', 'test'], ['b', 'valid']] as const) {
    const out = path.join(tmp, `emb_${m}.npy`);
    const args = ['embed', '--model', model, '--dataset', dataDir, '--modality', m, '--out', out, ...(split === 'test' ? [] : ['--split', split])];
    okRun(args);
    const e = readNpy(out);
    const n = data.splits[split]!.n;
    assert.deepEqual(e.shape, [n, 32]);
    const lib = embedModality(fm, m, data.splits[split]!.features[m], n);
    assert.ok(maxAbsDiff(e.data as Float32Array, lib.values) <= 1e-5);
  }
  fm.dispose();
});

test('retrieve prints the top k gallery items per query with labels; a .npy of raw queries gives the same lines', () => {
  const lines = okRun(['retrieve', '--model', model, '--gallery', dataDir, '--query', dataDir, '--k', '5']).trim().split('\n').map((l) => JSON.parse(l));
  const test = data.splits.test!;
  assert.equal(lines.length, test.n);
  let hits = 0;
  lines.forEach((r, i) => {
    assert.equal(r.query, i);
    assert.equal(r.results.length, 5);
    for (let j = 1; j < 5; j++) assert.ok(r.results[j - 1].score >= r.results[j].score, 'sorted by score');
    for (const x of r.results) {
      assert.ok(Number.isInteger(x.index) && x.index >= 0 && x.index < test.n);
      assert.equal(x.label, data.task.kind === 'classification' ? data.task.classes[test.labels[x.index]] : undefined);
    }
    if (r.results[0].label === (data.task as { classes: string[] }).classes[test.labels[i]]) hits++;
  });
  assert.ok(hits / test.n > 0.6, `top-1 label matches the query's for ${hits} / ${test.n}`);
  // three raw queries from a .npy: the same results as the first three queries of the split
  const q = path.join(tmp, 'q.npy');
  writeNpy(q, test.features.a.slice(0, 3 * 16), [3, 16]);
  const fromNpy = okRun(['retrieve', '--model', model, '--gallery', dataDir, '--query', q, '--k', '5']).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(fromNpy.map((r) => r.results.map((x: { index: number }) => x.index)), lines.slice(0, 3).map((r) => r.results.map((x: { index: number }) => x.index)));
});

test('embed and retrieve reject bad input with one line and exit 2', () => {
  fails(['embed', '--model', model, '--dataset', dataDir, '--modality', 'c', '--out', path.join(tmp, 'x.npy')], 'modality', '"c"');
  const bad = path.join(tmp, 'bad.npy');
  writeNpy(bad, new Float32Array(10), [2, 5]);
  fails(['retrieve', '--model', model, '--gallery', dataDir, '--query', bad], 'bad.npy', '"a"');
  fails(['retrieve', '--model', model, '--gallery', dataDir, '--query', path.join(tmp, 'x.wav')], 'WAV', 'audio');
  fails(['retrieve', '--model', model, '--gallery', dataDir, '--query', dataDir, '--k', '0'], '--k');
  const concat = path.join(tmp, 'concat');
  okRun(['train', '--dataset', dataDir, '--method', 'concat', '--epochs', '1', '--save', concat]);
  fails(['embed', '--model', concat, '--dataset', dataDir, '--modality', 'a', '--out', path.join(tmp, 'y.npy')], 'retrieval model');
});
