/**
 * The built `modalfuse` command, run as a child process: train -> eval -> predict agree,
 * data import / inspect, --config, methods --json, and every kind of bad input exits 2
 * with one line on stderr and no stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeSynthetic } from '../src/datasets/synthetic.js';
import { writeDatasetFolder } from '../src/data/folder.js';
import { readNpy, writeNpy } from '../src/data/npy.js';
import { lastJson, ok, runCli, userError, type Run } from './cli_run.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modalfuse-cli-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}): Run {
  return runCli(tmp, args, env);
}

// A small copy of synthetic:redundant as a dataset folder (train/eval/predict read the same files).
const dataDir = path.join(tmp, 'redundant');
writeDatasetFolder(dataDir, { ...makeSynthetic('redundant', { sizes: { train: 1200, valid: 300, test: 400 } }), name: 'small-redundant' });

test('methods --json lists every method with its options and defaults', () => {
  const r = ok(run(['methods', '--json']));
  const j = lastJson(r) as { methods: { name: string; family: string; level: string; citation: string; options: Record<string, { default: unknown; type: string }> }[] };
  const concat = j.methods.find((m) => m.name === 'concat');
  assert.ok(concat, 'concat listed');
  assert.equal(concat.family, 'simple');
  assert.equal(concat.level, 'feature');
  assert.ok(concat.citation.length > 0);
  assert.equal(concat.options.hidden.default, 32);
  assert.equal(concat.options.head.type, 'string');
  const sum = j.methods.find((m) => m.name === 'sum')!;
  assert.equal(sum.options.units.default, 32);
  assert.ok(j.methods.some((m) => m.name === '{modality}-only'));
  const text = ok(run(['methods'])).stdout;
  assert.match(text, /^concat {2}\(simple; feature level\)/m);
  assert.match(text, /option units=32 \(integer >= 1\)/);
});

test('train -> eval -> predict agree', () => {
  const model = path.join(tmp, 'model');
  const tr = ok(run(['train', '--dataset', dataDir, '--method', 'concat', '--epochs', '3', '--seed', '2', '--save', model]));
  const trained = lastJson(tr) as { schemaVersion: number; dataset: string; method: string; split: string; metrics: Record<string, number> };
  assert.deepEqual(Object.keys(trained), ['schemaVersion', 'dataset', 'method', 'split', 'metrics']);
  assert.equal(trained.schemaVersion, 1);
  assert.equal(trained.dataset, 'small-redundant');
  assert.equal(trained.method, 'concat');
  assert.equal(trained.split, 'test');
  assert.ok(trained.metrics.accuracy > 0.8, `accuracy ${trained.metrics.accuracy}`);
  assert.match(tr.stderr, /epoch 1\/3/, 'progress on stderr');
  const meta = JSON.parse(fs.readFileSync(path.join(model, 'modalfuse.json'), 'utf8'));
  assert.deepEqual(meta.metrics, trained.metrics);
  assert.equal(meta.dataset, 'small-redundant');
  assert.ok(Array.isArray(meta.history) && meta.history.length === 3);

  const ev = ok(run(['eval', '--model', model, '--dataset', dataDir]));
  assert.deepEqual(lastJson(ev), trained, 'eval prints the metrics train printed');
  const evValid = lastJson(ok(run(['eval', '--model', model, '--dataset', dataDir, '--split', 'valid'])));
  assert.equal(evValid.split, 'valid');

  const predFile = path.join(tmp, 'pred.jsonl');
  ok(run(['predict', '--model', model, '--input', dataDir, '--split', 'test', '--out', predFile]));
  const preds = fs.readFileSync(predFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const labels = readNpy(path.join(dataDir, 'labels.test.npy')).data;
  assert.equal(preds.length, labels.length);
  let correct = 0;
  preds.forEach((p, i) => {
    assert.equal(typeof p.prediction, 'string');
    const probs = Object.values(p.probabilities as Record<string, number>);
    assert.equal(probs.length, 4);
    assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-4);
    if (p.prediction === String(labels[i])) correct++;
  });
  assert.equal(correct / preds.length, trained.metrics.accuracy, 'predict gives the accuracy train reported');

  // JSONL input (flat and nested arrays), output on stdout.
  const a = readNpy(path.join(dataDir, 'a.test.npy')).data;
  const b = readNpy(path.join(dataDir, 'b.test.npy')).data;
  const jsonl = [0, 1, 2]
    .map((i) =>
      JSON.stringify({
        a: Array.from(a.subarray(i * 16, (i + 1) * 16)),
        b: i === 1 ? [Array.from(b.subarray(i * 24, (i + 1) * 24))].flat() : Array.from(b.subarray(i * 24, (i + 1) * 24)),
      }),
    )
    .join('\n');
  const jfile = path.join(tmp, 'new.jsonl');
  fs.writeFileSync(jfile, jsonl + '\n');
  const pj = ok(run(['predict', '--model', model, '--input', jfile]));
  const fromJsonl = pj.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(fromJsonl.length, 3);
  for (let i = 0; i < 3; i++) assert.equal(fromJsonl[i].prediction, preds[i].prediction);

  // bad JSONL: wrong length
  fs.writeFileSync(jfile, JSON.stringify({ a: [1, 2, 3], b: Array(24).fill(0) }) + '\n');
  userError(run(['predict', '--model', model, '--input', jfile]), 'line 1', '"a"');
  // data of another shape
  userError(run(['eval', '--model', model, '--dataset', 'synthetic:regression']));
});

test('--config: keys of the options and method options; the command line wins', () => {
  const cfg = path.join(tmp, 'cfg.json');
  fs.writeFileSync(cfg, JSON.stringify({ dataset: dataDir, method: 'sum', epochs: 1, hidden: 8, set: { units: 12 } }));
  const model = path.join(tmp, 'model-cfg');
  const r = ok(run(['train', '--config', cfg, '--epochs', '2', '--set', 'units=10', '--save', model]));
  assert.equal(lastJson(r).method, 'sum');
  const meta = JSON.parse(fs.readFileSync(path.join(model, 'modalfuse.json'), 'utf8'));
  assert.equal(meta.options.hidden, 8);
  assert.equal(meta.options.units, 10);
  assert.equal(meta.history.length, 2);
  fs.writeFileSync(cfg, JSON.stringify({ epochs: 'many' }));
  userError(run(['train', '--config', cfg, '--dataset', dataDir, '--method', 'concat', '--save', model]), 'epochs');
  fs.writeFileSync(cfg, '{ not json');
  userError(run(['train', '--config', cfg]), 'config file is not valid JSON');
});

test('bad input: exit 2, one line, no stack trace', () => {
  userError(run(['trian']), 'unknown command');
  userError(run(['train', '--dataset', 'nope', '--method', 'concat', '--save', path.join(tmp, 'x')]), 'unknown data set');
  userError(run(['eval', '--model', path.join(tmp, 'nomodel'), '--dataset', 'synthetic:redundant']), 'not a model folder');
  userError(run(['train', '--dataset', dataDir, '--method', 'nope', '--save', path.join(tmp, 'x')]), 'unknown method "nope"');
  userError(run(['train', '--dataset', dataDir, '--method', 'concat', '--bogus']), "unknown option '--bogus'");
  userError(run(['train', '--dataset', dataDir, '--method', 'concat', '--epochs', 'abc']), '--epochs', 'abc');
  userError(run(['train', '--dataset', dataDir, '--method', 'concat', '--set', 'hidden=abc', '--save', path.join(tmp, 'x')]), 'hidden');
  userError(run(['train', '--dataset', dataDir, '--method', 'concat', '--set', 'nosuch=1', '--save', path.join(tmp, 'x')]), 'unknown option "nosuch"');
  userError(run(['train', '--dataset', dataDir, '--method', 'concat']), '--save');
  userError(run(['train', '--config', path.join(tmp, 'missing.json')]), 'config file not found');
  userError(run(['bench', '--config', path.join(tmp, 'missing.json')]), 'config file not found');
  userError(run(['predict', '--model', path.join(tmp, 'model')]), '--input');
  userError(run(['predict', '--model', path.join(tmp, 'model'), '--input', path.join(tmp, 'missing.jsonl')]), 'input not found');
  userError(run(['bench', '--dataset', 'synthetic:redundant', '--quick', '--set', 'nosuch=1']), 'nosuch');
  userError(run(['bench', '--dataset', 'synthetic:redundant', '--methods', 'concat,nope', '--quick']), 'unknown method "nope"');
  userError(run(['bench', '--seeds', '1,x']), '--seeds');
  userError(run(['data', 'inspect', path.join(tmp, 'nowhere')]), 'unknown data set');
  userError(run(['--backend', 'gpu', 'methods']), '--backend');
  // no command at all: usage on stderr, exit 2
  const none = run([]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /Usage: modalfuse/);
  assert.equal(ok(run(['--help'])).stdout.includes('bench'), true);
  assert.equal(ok(run(['bench', '--help'])).stdout.includes('--seeds'), true);
});

test('data import (.npy and CSV) -> inspect -> train; stratified split', () => {
  const src = path.join(tmp, 'src');
  fs.mkdirSync(src);
  const n = 200;
  // classes: 120 "cat", 80 "dog"; vector from .npy [N, 4], sequence [N, 3, 2], CSV vector [N, 3]
  const names = Array.from({ length: n }, (_, i) => (i % 5 < 3 ? 'cat' : 'dog'));
  const va = new Float32Array(n * 4);
  const vs = new Float32Array(n * 6);
  for (let i = 0; i < n; i++) {
    const y = names[i] === 'cat' ? 1 : -1;
    for (let j = 0; j < 4; j++) va[i * 4 + j] = y + Math.sin(i * 7 + j);
    for (let j = 0; j < 6; j++) vs[i * 6 + j] = Math.cos(i * 3 + j);
  }
  writeNpy(path.join(src, 'a.npy'), va, [n, 4]);
  writeNpy(path.join(src, 's.npy'), vs, [n, 3, 2]);
  fs.writeFileSync(path.join(src, 'c.csv'), 'x,y,z\n' + Array.from({ length: n }, (_, i) => `${i % 7},${(i * 0.5).toFixed(2)},${names[i] === 'cat' ? 1 : 0}`).join('\n') + '\n');
  fs.writeFileSync(path.join(src, 'labels.csv'), 'label\n' + names.join('\n') + '\n');
  const out = path.join(tmp, 'imported');
  const args = ['data', 'import', '--out', out, '--task', 'classification', '--modality', `a=${path.join(src, 'a.npy')}`, '--modality', `s=${path.join(src, 's.npy')}`, '--modality', `c=${path.join(src, 'c.csv')}`, '--labels', path.join(src, 'labels.csv'), '--valid-fraction', '0.1', '--test-fraction', '0.25', '--seed', '3'];
  ok(run(args));
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'dataset.json'), 'utf8'));
  assert.deepEqual(manifest.task, { kind: 'classification', classes: ['cat', 'dog'] });
  assert.deepEqual(manifest.modalities, { a: { kind: 'vector', shape: [4] }, c: { kind: 'vector', shape: [3] }, s: { kind: 'sequence', shape: [3, 2] } });
  // stratified: per class round(count * f)
  assert.deepEqual(manifest.splits, { train: 130, valid: 20, test: 50 });
  const count = (split: string, c: number) => Array.from(readNpy(path.join(out, `labels.${split}.npy`)).data).filter((v) => v === c).length;
  assert.deepEqual([count('test', 0), count('test', 1)], [30, 20]);
  assert.deepEqual([count('valid', 0), count('valid', 1)], [12, 8]);
  assert.deepEqual([count('train', 0), count('train', 1)], [78, 52]);
  // same seed, same split; the folder exists: refused without --force
  userError(run(args), '--force');
  ok(run([...args, '--force']));
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(out, 'dataset.json'), 'utf8')).splits, manifest.splits);

  const insp = ok(run(['data', 'inspect', out]));
  assert.match(insp.stdout, /s: sequence \[3, 2\]/);
  assert.match(insp.stdout, /splits: train 130, valid 20, test 50/);
  assert.match(insp.stdout, /NaN\/Inf found: none/);
  const ij = lastJson(ok(run(['data', 'inspect', out, '--json']))) as { datasets: { splits: { test: { labels: { counts: Record<string, number> } } } }[] };
  assert.deepEqual(ij.datasets[0].splits.test.labels.counts, { cat: 30, dog: 20 });

  const tr = ok(run(['train', '--dataset', out, '--method', 'concat', '--epochs', '2', '--save', path.join(tmp, 'model-imported')]));
  assert.equal(lastJson(tr).dataset, 'imported');

  // --kind override, regression labels from .npy, and a row-count mismatch
  const yr = new Float32Array(n).map((_, i) => i / n);
  writeNpy(path.join(src, 'y.npy'), yr, [n]);
  const reg = path.join(tmp, 'imported-reg');
  ok(run(['data', 'import', '--out', reg, '--task', 'regression', '--modality', `a=${path.join(src, 'a.npy')}`, '--kind', 'a=audio', '--labels', path.join(src, 'y.npy'), '--test-fraction', '0.2', '--valid-fraction', '0']));
  const rm = JSON.parse(fs.readFileSync(path.join(reg, 'dataset.json'), 'utf8'));
  assert.deepEqual(rm.splits, { train: 160, test: 40 });
  assert.equal(rm.modalities.a.kind, 'audio');
  writeNpy(path.join(src, 'short.npy'), new Float32Array(10 * 4), [10, 4]);
  userError(run(['data', 'import', '--out', path.join(tmp, 'bad'), '--task', 'regression', '--modality', `a=${path.join(src, 'short.npy')}`, '--labels', path.join(src, 'y.npy')]), 'short.npy', 'rows');
  userError(run(['data', 'import', '--out', path.join(tmp, 'bad'), '--task', 'classification', '--modality', `a=${path.join(src, 'nothere.npy')}`, '--labels', path.join(src, 'labels.csv')]), 'file not found');
  userError(run(['data', 'import', '--out', path.join(tmp, 'bad'), '--task', 'classification', '--modality', 'a', '--labels', path.join(src, 'labels.csv')]), 'NAME=FILE');
  userError(run(['data', 'import', '--out', path.join(tmp, 'bad'), '--task', 'classification', '--modality', `a=${path.join(src, 'a.npy')}`, '--labels', path.join(src, 'labels.csv'), '--test-fraction', '1.5']), '--test-fraction');
});

test('data inspect reports NaN/Inf; train refuses such data', () => {
  const ds = makeSynthetic('unique', { sizes: { train: 100, valid: 20, test: 20 } });
  const dir = path.join(tmp, 'nan');
  writeDatasetFolder(dir, ds);
  const a = readNpy(path.join(dir, 'a.train.npy'));
  const x = Float32Array.from(a.data);
  x[5] = NaN;
  x[40] = Infinity;
  writeNpy(path.join(dir, 'a.train.npy'), x, a.shape);
  const r = ok(run(['data', 'inspect', dir]));
  assert.match(r.stdout, /NaN\/Inf found: a\.train: 1 NaN, 1 Inf in 2 samples/);
  userError(run(['train', '--dataset', dir, '--method', 'concat', '--epochs', '1', '--save', path.join(tmp, 'm-nan')]), 'non-finite');
  const s = ok(run(['data', 'inspect', 'synthetic']));
  assert.equal((s.stdout.match(/^data set: synthetic:/gm) ?? []).length, 4);
});

/** The fenced code blocks of README.md in a language. */
function readmeBlocks(lang: string): string[] {
  const text = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
  return [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
}

/** Runs the README's i-th JS block inside the package (so `import ... from 'modalfuse'` resolves to this build); returns stdout. */
function runReadmeJs(i: number, mustInclude: string): string {
  const snippet = readmeBlocks('js')[i];
  assert.ok(snippet && snippet.includes(mustInclude));
  const file = path.join(here, `readme-snippet${i}.tmp.mjs`);
  fs.writeFileSync(file, snippet);
  try {
    const r = spawnSync(process.execPath, [file], { cwd: tmp, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

test('README: the library snippet runs', () => {
  assert.match(runReadmeJs(0, "from 'modalfuse'"), /accuracy/);
  assert.ok(fs.existsSync(path.join(tmp, 'my-model', 'modalfuse.json')));
});

test('README: the own-method snippet registers a method with a reconstruction term and trains it', () => {
  const stdout = runReadmeJs(1, 'register(');
  assert.match(stdout, /accuracy/);
  assert.match(stdout, /'main', 'recon_a'/);
  assert.match(stdout, /a: 8, b: 16/);
});

const python = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
test('README: the Python snippet writes a dataset folder that inspect and train accept', { skip: python.status !== 0 ? 'python3 with numpy not available' : false }, () => {
  const [snippet] = readmeBlocks('python');
  const dir = path.join(tmp, 'py');
  fs.mkdirSync(dir);
  const r = spawnSync('python3', ['-c', snippet], { cwd: dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const insp = ok(run(['data', 'inspect', path.join(dir, 'my-data')]));
  assert.match(insp.stdout, /audio: sequence \[20, 13\]/);
  const tr = ok(run(['train', '--dataset', path.join(dir, 'my-data'), '--method', 'concat', '--epochs', '1', '--save', path.join(dir, 'my-model')]));
  assert.equal(lastJson(tr).dataset, 'my-data');
});
