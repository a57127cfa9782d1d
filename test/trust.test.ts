/**
 * Trust (issue 11): nothing a user made is lost or half-written; model folders are untrusted
 * input; the demo server is hardened; no answer is silently wrong. Each numbered point of
 * the issue has a test here, named with its number.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { initBackend } from '../src/backend/index.js';
import { writeDatasetFolder } from '../src/data/folder.js';
import { hdf5Ready } from '../src/data/hdf5.js';
import { writeNpy } from '../src/data/npy.js';
import type { Dataset } from '../src/data/types.js';
import { ModalfuseError } from '../src/errors.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { serveDemo } from '../src/web/server.js';
import { ok, runCli, userError, type Run } from './cli_run.js';
import { smallDataset, tmpDir } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const SRC = path.resolve(here, '../src');

let tmp: string;
let data: Dataset;
let dataDir: string;
let jsonl: string;
/** Model A (seed 1) and B (seed 2): same shapes, different weights. */
let fmA: FusionModel;
let fmB: FusionModel;
let probA: Float32Array;
let probB: Float32Array;

const SPEC_MODALITIES = { a: { kind: 'vector' as const, shape: [4] }, b: { kind: 'vector' as const, shape: [3] } };
const TASK = { kind: 'classification' as const, classes: ['x', 'y', 'z'] };
const OPTIONS = { hidden: 8, headHidden: 8 };

function run(args: string[], env: Record<string, string> = {}, timeout?: number): Run {
  return runCli(tmp, args, env, timeout);
}

before(async () => {
  await initBackend({ backend: 'wasm' });
  tmp = tmpDir('modalfuse-trust-');
  data = smallDataset(SPEC_MODALITIES, TASK, { train: 48, valid: 8, test: 8 });
  data.name = 'small';
  dataDir = path.join(tmp, 'data');
  writeDatasetFolder(dataDir, data);
  fmA = FusionModel.create('concat', data, OPTIONS, { seed: 1 });
  fmB = FusionModel.create('concat', data, OPTIONS, { seed: 2 });
  const t = data.splits.test!;
  probA = fmA.predict(t.features, t.n);
  probB = fmB.predict(t.features, t.n);
  jsonl = path.join(tmp, 'in.jsonl');
  fs.writeFileSync(jsonl, `${JSON.stringify({ a: Array.from(t.features.a.subarray(0, 4)), b: Array.from(t.features.b.subarray(0, 3)) })}\n`);
});

after(() => {
  fmA?.dispose();
  fmB?.dispose();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

let counter = 0;
/** A fresh folder of model A. */
async function modelDir(name = 'model'): Promise<string> {
  const dir = path.join(tmp, `${name}-${++counter}`);
  await fmA.save(dir);
  return dir;
}

/** Bytes of every file in a folder (to show it is untouched). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(dir, p)] = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

function readJson(file: string): Record<string, any> {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}
function writeJson(file: string, v: unknown): void {
  fs.writeFileSync(file, JSON.stringify(v, null, 2));
}

/** Re-records the integrity of a crafted folder (as an attacker would), so the other checks are reached. */
function reseal(dir: string): void {
  const meta = readJson(path.join(dir, 'modalfuse.json'));
  const rec = (rel: string) => {
    const p = path.join(dir, rel);
    const buf = fs.existsSync(p) && fs.lstatSync(p).isFile() ? fs.readFileSync(p) : Buffer.alloc(0);
    return { path: rel, bytes: buf.length, sha256: createHash('sha256').update(buf).digest('hex') };
  };
  const manifest = readJson(path.join(dir, 'model.json')).weightsManifest as { paths: string[] }[];
  meta.integrity = { model: rec('model.json'), weights: manifest.flatMap((g) => g.paths).map((p) => rec(path.posix.normalize(p))) };
  writeJson(path.join(dir, 'modalfuse.json'), meta);
}

/** FusionModel.load(dir) fails with one ModalfuseError line matching every pattern. */
async function loadRefused(dir: string, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(FusionModel.load(dir), (e: unknown) => {
    assert.ok(e instanceof ModalfuseError, `not a ModalfuseError: ${(e as Error)?.stack}`);
    assert.ok(!e.message.includes('\n'), `more than one line: ${e.message}`);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

function samePredictions(fm: FusionModel, want: Float32Array): boolean {
  const t = data.splits.test!;
  const got = fm.predict(t.features, t.n);
  return got.length === want.length && got.every((v, i) => v === want[i]);
}

// ------------------------------------------------------------------ 1. overwrite and atomicity

test('1: train --save over an existing model is refused without --force (the model is untouched), replaced with it; never over a folder that is not a model', async () => {
  const dir = await modelDir();
  const before = snapshot(dir);
  const args = ['train', '--dataset', dataDir, '--method', 'concat', '--epochs', '1', '--set', 'hidden=8', '--save', dir];
  const r = run(args);
  userError(r, 'a model folder already exists there', '--force', dir);
  assert.ok(!r.stderr.includes('training'), 'refused before training');
  assert.deepEqual(snapshot(dir), before);
  ok(run([...args, '--force']));
  assert.notDeepEqual(snapshot(dir), before);
  const fm = await FusionModel.load(dir);
  assert.equal((fm.meta.training as { epochsRun: number }).epochsRun, 1);
  fm.dispose();
  assert.deepEqual(fs.readdirSync(path.dirname(dir)).filter((n) => n.startsWith(`.${path.basename(dir)}`)), [], 'no temporary folder left');

  const mine = path.join(tmp, 'my-notes');
  fs.mkdirSync(mine);
  fs.writeFileSync(path.join(mine, 'thesis.txt'), 'years of work');
  userError(run(['train', '--dataset', dataDir, '--method', 'concat', '--epochs', '1', '--save', mine, '--force']), 'not a model folder', mine);
  assert.equal(fs.readFileSync(path.join(mine, 'thesis.txt'), 'utf8'), 'years of work');
  // The library never replaces a folder that is not a model either.
  await assert.rejects(fmA.save(mine), /not a model folder/);
  assert.deepEqual(fs.readdirSync(mine), ['thesis.txt']);
});

/** A child process that saves model B over `dir` (in a loop when `loop`), killed by itself at `crashAt` or by the test. */
function saveChild(dir: string, env: Record<string, string>, loop: boolean): ReturnType<typeof spawn> {
  const script = path.join(tmp, 'save-child.mjs');
  fs.writeFileSync(
    script,
    `const { initBackend } = await import(${JSON.stringify(pathToFileURL(path.join(SRC, 'backend/index.js')).href)});
const { FusionModel } = await import(${JSON.stringify(pathToFileURL(path.join(SRC, 'models/fusion_model.js')).href)});
await initBackend({ backend: 'wasm' });
const spec = JSON.parse(process.env.SPEC);
const a = FusionModel.create('concat', spec, JSON.parse(process.env.OPTS), { seed: 1 });
const b = FusionModel.create('concat', spec, JSON.parse(process.env.OPTS), { seed: 2 });
process.stdout.write('ready\\n');
if (process.env.LOOP === '1') for (let i = 0; ; i++) await (i % 2 ? a : b).save(process.env.DIR);
await b.save(process.env.DIR);
process.stdout.write('done\\n');
`,
  );
  return spawn(process.execPath, [script], {
    env: { ...process.env, SPEC: JSON.stringify({ task: TASK, modalities: SPEC_MODALITIES }), OPTS: JSON.stringify(OPTIONS), DIR: dir, LOOP: loop ? '1' : '0', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

function exited(child: ReturnType<typeof spawn>): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

function ready(child: ReturnType<typeof spawn>): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('ready')) resolve();
    });
    child.once('exit', () => reject(new Error('child exited before it was ready')));
  });
}

/** The folder loads, and is model A or model B exactly (never a mix), and nothing half-written is left beside it. */
async function oldOrNew(dir: string, what: string): Promise<'old' | 'new'> {
  const fm = await FusionModel.load(dir);
  try {
    const isA = samePredictions(fm, probA);
    const isB = samePredictions(fm, probB);
    assert.ok(isA || isB, `${what}: the folder is neither the old model nor the new one`);
    assert.deepEqual(fs.readdirSync(path.dirname(dir)).filter((n) => n.startsWith(`.${path.basename(dir)}.`)), [], `${what}: leftovers beside the folder`);
    return isA ? 'old' : 'new';
  } finally {
    fm.dispose();
  }
}

test('1: a save killed at any moment leaves the old model or the new one, never a mix (kills at each step of the save, and at random times)', async () => {
  const expected: Record<string, 'old' | 'new'> = {
    'network-written': 'old',
    filled: 'old',
    'before-swap': 'old',
    'between-renames': 'old',
    'after-swap': 'new',
  };
  for (const [point, want] of Object.entries(expected)) {
    const dir = await modelDir('crash');
    const child = saveChild(dir, { MODALFUSE_CRASH_AT: point }, false);
    const { signal } = await exited(child);
    assert.equal(signal, 'SIGKILL', `the save did not reach ${point}`);
    assert.equal(await oldOrNew(dir, point), want, point);
  }
  // A first save killed half-way leaves no folder (and no leftovers once something reads the place).
  const fresh = path.join(tmp, 'fresh-crash');
  assert.equal((await exited(saveChild(fresh, { MODALFUSE_CRASH_AT: 'filled' }, false))).signal, 'SIGKILL');
  await loadRefused(fresh, /no such folder/);
  assert.deepEqual(fs.readdirSync(tmp).filter((n) => n.startsWith('.fresh-crash')), []);

  // Kills from outside at random moments of a loop of saves.
  const seen = new Set<string>();
  for (const delay of [40, 110, 190, 260, 330, 420]) {
    const dir = await modelDir('kill');
    const child = saveChild(dir, {}, true);
    await ready(child);
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    await exited(child);
    seen.add(await oldOrNew(dir, `killed after ${delay} ms`));
  }
  assert.ok(seen.size >= 1);
});

// ------------------------------------------------------------------ 2. checked weights

test('2: modalfuse.json records the size and SHA-256 of every network file; each kind of damage gets one line and exit 2', async () => {
  const dir = await modelDir();
  const meta = readJson(path.join(dir, 'modalfuse.json'));
  const w = fs.readFileSync(path.join(dir, 'weights.bin'));
  assert.deepEqual(meta.integrity.weights, [{ path: 'weights.bin', bytes: w.length, sha256: createHash('sha256').update(w).digest('hex') }]);
  assert.equal(meta.integrity.model.bytes, fs.statSync(path.join(dir, 'model.json')).size);

  const damages: [string, (d: string) => void, string][] = [
    [
      'reordered manifest',
      (d) => {
        const mj = readJson(path.join(d, 'model.json'));
        const ws = mj.weightsManifest[0].weights;
        [ws[0], ws[1]] = [ws[1], ws[0]];
        fs.writeFileSync(path.join(d, 'model.json'), JSON.stringify(mj)); // same size, other order
      },
      'model.json does not match its SHA-256',
    ],
    ['extra bytes', (d) => fs.appendFileSync(path.join(d, 'weights.bin'), Buffer.alloc(8)), 'extra bytes'],
    ['truncated weights', (d) => fs.truncateSync(path.join(d, 'weights.bin'), 100), 'truncated'],
    ['missing weights', (d) => fs.rmSync(path.join(d, 'weights.bin')), 'is missing'],
    [
      'a directory in place of the weights',
      (d) => {
        fs.rmSync(path.join(d, 'weights.bin'));
        fs.mkdirSync(path.join(d, 'weights.bin'));
      },
      'is a folder, not a file',
    ],
    [
      'changed weights of the same size',
      (d) => {
        const b = fs.readFileSync(path.join(d, 'weights.bin'));
        b[10] ^= 0xff;
        fs.writeFileSync(path.join(d, 'weights.bin'), b);
      },
      'weights.bin does not match its SHA-256',
    ],
    ['invalid JSON in modalfuse.json', (d) => fs.writeFileSync(path.join(d, 'modalfuse.json'), '{"schemaVersion": 1,'), 'not valid JSON'],
    ['invalid JSON in model.json', (d) => fs.writeFileSync(path.join(d, 'model.json'), '{"modelTopology": 4'), 'model.json has the wrong size'],
  ];
  for (const [what, damage, message] of damages) {
    const d = await modelDir('damaged');
    damage(d);
    const r = run(['predict', '--model', d, '--input', jsonl]);
    try {
      userError(r, message);
    } catch (e) {
      throw new Error(`${what}: ${(e as Error).message}`);
    }
  }
  // Without the integrity record (a folder from an older version), the sizes are still checked.
  const d = await modelDir('old-style');
  const m = readJson(path.join(d, 'modalfuse.json'));
  delete m.integrity;
  writeJson(path.join(d, 'modalfuse.json'), m);
  const loaded = await FusionModel.load(d);
  assert.ok(samePredictions(loaded, probA));
  loaded.dispose();
  fs.appendFileSync(path.join(d, 'weights.bin'), Buffer.alloc(4));
  await loadRefused(d, /hold \d+ bytes, the manifest declares \d+ \(extra bytes\)/);
  fs.writeFileSync(path.join(d, 'model.json'), '{"modelTopology": 4');
  await loadRefused(d, /model\.json is not valid JSON/);
});

// ------------------------------------------------------------------ 3. data folders

test('3: data import --out refuses a non-empty folder that is not a data set; --force replaces a data set whole (no stale files of the old one)', () => {
  const x = path.join(tmp, 'x.csv');
  const y = path.join(tmp, 'y.csv');
  const labels = path.join(tmp, 'labels.csv');
  const rows = Array.from({ length: 20 }, (_, i) => i);
  fs.writeFileSync(x, rows.map((i) => `${i},${i * 2}`).join('\n') + '\n');
  fs.writeFileSync(y, rows.map((i) => `${-i}`).join('\n') + '\n');
  fs.writeFileSync(labels, rows.map((i) => `${i % 2}`).join('\n') + '\n');

  const mine = path.join(tmp, 'photos');
  fs.mkdirSync(mine);
  fs.writeFileSync(path.join(mine, 'holiday.jpg'), 'jpeg bytes');
  const imp = (out: string, mod: string, ...extra: string[]) => run(['data', 'import', '--out', out, '--task', 'classification', '--modality', mod, '--labels', labels, ...extra]);
  userError(imp(mine, `x=${x}`, '--force'), 'does not hold a data set', mine);
  assert.deepEqual(fs.readdirSync(mine), ['holiday.jpg']);

  const out = path.join(tmp, 'imported');
  ok(imp(out, `x=${x}`));
  userError(imp(out, `y=${y}`), 'already holds a data set', '--force');
  assert.ok(fs.existsSync(path.join(out, 'x.train.npy')));
  ok(imp(out, `y=${y}`, '--force'));
  const files = fs.readdirSync(out).sort();
  assert.ok(files.includes('y.train.npy'));
  assert.ok(!files.some((f) => f.startsWith('x.')), `stale files of the old data set: ${files.join(', ')}`);
  assert.deepEqual(fs.readdirSync(tmp).filter((n) => n.startsWith('.imported')), []);
});

test('3: data build --force keeps the old data set when the build fails, and never deletes a folder that is not a data set', () => {
  const old = path.join(tmp, 'built');
  writeDatasetFolder(old, data);
  const before = snapshot(old);
  const r = run(['data', 'build', 'avmnist', '--out', old, '--force', '--fsdd', path.join(tmp, 'no-fsdd-here'), '--limit', '10']);
  assert.equal(r.status, 2, r.stderr);
  assert.deepEqual(snapshot(old), before, 'the old data set is intact');
  assert.deepEqual(fs.readdirSync(tmp).filter((n) => n.startsWith('.built')), []);

  const mine = path.join(tmp, 'music');
  fs.mkdirSync(mine);
  fs.writeFileSync(path.join(mine, 'song.mp3'), 'mp3');
  userError(run(['data', 'build', 'avmnist', '--out', mine, '--force', '--limit', '10']), 'does not hold a data set', mine);
  assert.deepEqual(fs.readdirSync(mine), ['song.mp3']);
});

// ------------------------------------------------------------------ 4. check before the long work

test('4: train --save and bench --out onto a file, /proc or /sys are refused before any training', () => {
  const file = path.join(tmp, 'a-file');
  fs.writeFileSync(file, 'mine');
  const train = (save: string) => run(['train', '--dataset', dataDir, '--method', 'concat', '--epochs', '1', '--save', save], {}, 30_000);
  for (const [save, why] of [
    [file, 'it is a file, not a folder'],
    [path.join(file, 'sub'), 'is a file, not a folder'],
    ['/proc/x', '/proc is a system file system'],
    ['/sys/x', '/sys is a system file system'],
  ]) {
    const r = train(save);
    userError(r, '--save', why);
    assert.ok(!r.stderr.includes('training'), `trained before refusing ${save}`);
  }
  assert.equal(fs.readFileSync(file, 'utf8'), 'mine');
  const b = run(['bench', '--dataset', dataDir, '--methods', 'concat', '--epochs', '1', '--out', file], {}, 30_000);
  userError(b, '--out', 'it is a file');
  assert.ok(!/concat/.test(b.stderr.split('\n').slice(0, -2).join('\n')), 'refused before running');
  if (process.getuid?.() !== 0) {
    const ro = path.join(tmp, 'read-only');
    fs.mkdirSync(ro, { mode: 0o555 });
    userError(train(path.join(ro, 'model')), '--save', 'permission denied');
  }
});

test('4: a bench whose --out cannot be written at the end still prints its table and says where its results are', () => {
  const out = path.join(tmp, 'report-blocked');
  fs.mkdirSync(path.join(out, 'results.json'), { recursive: true }); // results.json cannot be written
  const r = run(['bench', '--dataset', dataDir, '--methods', 'concat', '--epochs', '1', '--no-robustness', '--out', out]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stdout, /concat/, 'the table is printed');
  const last = r.stderr.trim().split('\n').pop()!;
  const m = /the results were written to (\S+results\.json) instead/.exec(last);
  assert.ok(m, last);
  const saved = JSON.parse(fs.readFileSync(m[1], 'utf8'));
  assert.equal(saved.datasets[0].results[0].method, 'concat');
  fs.rmSync(path.dirname(m[1]), { recursive: true, force: true });
});

// ------------------------------------------------------------------ 5. duplicate names

test('5: bench with two data sets of the same name is refused, naming both', () => {
  const twin = path.join(tmp, 'twin');
  writeDatasetFolder(twin, data); // also named "small"
  const r = run(['bench', '--dataset', dataDir, '--dataset', twin, '--methods', 'concat', '--epochs', '1', '--out', path.join(tmp, 'rep5')]);
  userError(r, 'two data sets are named "small"', dataDir, twin);
  userError(run(['bench', '--dataset', dataDir, '--dataset', dataDir, '--methods', 'concat', '--out', path.join(tmp, 'rep5')]), 'listed twice');
});

// ------------------------------------------------------------------ 6. confinement

test('6: every weights path stays inside the model folder, is a regular file and has the declared size, checked before anything is allocated', async () => {
  const setPath = (d: string, p: string) => {
    const mj = readJson(path.join(d, 'model.json'));
    mj.weightsManifest[0].paths = [p];
    writeJson(path.join(d, 'model.json'), mj);
  };
  // ../outside/secret.bin: a file of exactly the right size outside the folder
  let d = await modelDir('confine');
  const outside = path.join(tmp, 'outside');
  fs.mkdirSync(outside, { recursive: true });
  fs.copyFileSync(path.join(d, 'weights.bin'), path.join(outside, 'secret.bin'));
  setPath(d, '../outside/secret.bin');
  reseal(d);
  await loadRefused(d, /lies outside the model folder/);
  userError(run(['predict', '--model', d, '--input', jsonl]), 'lies outside the model folder');

  d = await modelDir('confine');
  setPath(d, '../../dev/zero');
  reseal(d);
  await loadRefused(d, /lies outside the model folder/);

  // A symlink inside the folder that leads out (to a device that never ends, or a secret)
  d = await modelDir('confine');
  fs.rmSync(path.join(d, 'weights.bin'));
  fs.symlinkSync('/dev/zero', path.join(d, 'weights.bin'));
  await loadRefused(d, /link that leads outside the model folder/);
  fs.rmSync(path.join(d, 'weights.bin'));
  fs.symlinkSync(path.join(outside, 'secret.bin'), path.join(d, 'weights.bin'));
  await loadRefused(d, /link that leads outside the model folder/);

  // A pipe inside the folder is not read (it would block)
  d = await modelDir('confine');
  fs.rmSync(path.join(d, 'weights.bin'));
  assert.equal(spawnSync('mkfifo', [path.join(d, 'weights.bin')]).status, 0);
  await loadRefused(d, /not a regular file/);

  // A small folder declaring a huge kernel: refused from the sizes, without allocating it
  d = await modelDir('huge');
  const mj = readJson(path.join(d, 'model.json'));
  mj.weightsManifest[0].weights[0].shape = [100000, 100000];
  writeJson(path.join(d, 'model.json'), mj);
  reseal(d);
  const rss0 = process.memoryUsage().rss;
  const t0 = performance.now();
  await loadRefused(d, /the manifest declares 40000\d+/);
  // ... or a huge layer in the metadata the network is rebuilt from
  d = await modelDir('huge');
  const meta = readJson(path.join(d, 'modalfuse.json'));
  meta.options.hidden = 100_000_000;
  writeJson(path.join(d, 'modalfuse.json'), meta);
  assert.ok(fs.statSync(path.join(d, 'modalfuse.json')).size + fs.statSync(path.join(d, 'weights.bin')).size < 64 * 1024);
  await loadRefused(d, /maxMemoryMB=2048/);
  assert.ok(process.memoryUsage().rss - rss0 < 200 * 1024 * 1024, 'memory grew');
  assert.ok(performance.now() - t0 < 10_000, 'slow');
});

// ------------------------------------------------------------------ 7. mismatched metadata

test('7: an unknown method, or a shape or class list in modalfuse.json that disagrees with the model, is a ModalfuseError', async () => {
  const edit = async (f: (meta: Record<string, any>) => void) => {
    const d = await modelDir('meta');
    const meta = readJson(path.join(d, 'modalfuse.json'));
    f(meta);
    writeJson(path.join(d, 'modalfuse.json'), meta);
    return d;
  };
  let d = await edit((m) => (m.method = 'quantum-fusion'));
  await loadRefused(d, /unknown method "quantum-fusion"/);
  userError(run(['predict', '--model', d, '--input', jsonl]), 'unknown method "quantum-fusion"');
  d = await edit((m) => {
    m.modalities.a.shape = [5];
    m.preprocessing.a = { kind: 'standardize', mean: [0, 0, 0, 0, 0], std: [1, 1, 1, 1, 1] };
  });
  await loadRefused(d, /weights do not match the model that modalfuse\.json describes/, /expected: shape \[5, 8\]/);
  d = await edit((m) => (m.modalities.a.shape = [5]));
  await loadRefused(d, /preprocessing\.a/);
  d = await edit((m) => (m.classes = ['x', 'y']));
  await loadRefused(d, /bad "classes"/);
  d = await edit((m) => {
    m.task.classes = ['x', 'y', 'z', 'w'];
    m.classes = m.task.classes;
  });
  await loadRefused(d, /weights do not match/);
  d = await edit((m) => (m.inputModalities = ['a', 'nope']));
  await loadRefused(d, /inputModalities/);
  d = await edit((m) => (m.options = { hidden: 'wide' }));
  await loadRefused(d, /bad "options"/);
  d = await edit((m) => (m.task = { kind: 'classification', classes: ['only'] }));
  await loadRefused(d, /at least two classes/);
});

// ------------------------------------------------------------------ 8, 9, 10. the demo server

function request(port: number, p: string, host: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, headers: { Host: host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A request written by hand (e.g. without a Host header); resolves with the whole answer. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.end(text));
    let got = '';
    sock.on('data', (d: Buffer) => (got += d.toString()));
    sock.on('end', () => resolve(got));
    sock.on('error', reject);
  });
}

test('8, 9, 10: the demo server contains by real path (symlinks), answers only its own Host, gives 400 for //, and sends a CSP', async () => {
  const d = await modelDir('served');
  fs.symlinkSync('/etc/passwd', path.join(d, 'notes.txt'));
  fs.symlinkSync(tmp, path.join(d, 'up'));
  fs.writeFileSync(path.join(d, 'README.txt'), 'about this model');
  fs.symlinkSync('README.txt', path.join(d, 'readme-link.txt')); // a link that stays inside is fine
  const demo = await serveDemo({ modelDir: d, port: 0 });
  try {
    const own = `127.0.0.1:${demo.port}`;
    for (const p of ['/model/notes.txt', '/model/up/data/dataset.json', '/model/up/']) {
      const r = await request(demo.port, p, own);
      assert.equal(r.status, 404, p);
      assert.ok(!r.body.includes('root:'), p);
    }
    assert.equal((await request(demo.port, '/model/readme-link.txt', own)).body, 'about this model');
    assert.equal((await request(demo.port, '/model/modalfuse.json', own)).status, 200);

    for (const host of ['evil.example', `evil.example:${demo.port}`, `127.0.0.1:${demo.port + 1}`, `127.0.0.1.evil.example:${demo.port}`]) {
      const r = await request(demo.port, '/model/modalfuse.json', host);
      assert.equal(r.status, 403, `Host: ${host}`);
      assert.ok(!r.body.includes('schemaVersion'));
    }
    assert.match(await rawRequest(demo.port, 'GET /model/modalfuse.json HTTP/1.0\r\n\r\n'), /^HTTP\/1\.[01] 403/, 'no Host header');
    for (const host of [own, `localhost:${demo.port}`, `LOCALHOST:${demo.port}`]) assert.equal((await request(demo.port, '/info', host)).status, 200, host);

    for (const p of ['//', '//etc/passwd', '//model/modalfuse.json']) {
      const r = await request(demo.port, p, own);
      assert.ok(r.status === 400 || r.status === 404, `${p}: ${r.status}`);
    }
    for (const p of ['/', '/model/modalfuse.json', '/nope', '/info']) {
      const csp = String((await request(demo.port, p, own)).headers['content-security-policy'] ?? '');
      assert.match(csp, /default-src 'self'/, p);
      assert.match(csp, /frame-ancestors 'none'/, p);
    }
  } finally {
    await demo.close();
  }
});

// ------------------------------------------------------------------ 11. bad inputs to prediction

test('11: FusionModel.predict refuses a buffer of the wrong length, a fractional or too-large n, and NaN/Inf, naming the modality and the sample', () => {
  const t = data.splits.test!;
  const refuses = (f: () => unknown, ...patterns: RegExp[]) =>
    assert.throws(f, (e: unknown) => {
      assert.ok(e instanceof ModalfuseError, String(e));
      for (const p of patterns) assert.match(e.message, p);
      return true;
    });
  refuses(() => fmA.predict({ a: t.features.a.subarray(0, 10), b: t.features.b }, t.n), /modality "a"/, /wrong length/);
  refuses(() => fmA.predict(t.features, 2.5), /integer/);
  refuses(() => fmA.predict(t.features, t.n + 1), /wrong length/);
  refuses(() => fmA.predict(t.features, -1), /integer/);
  const nan = { a: t.features.a.slice(), b: t.features.b.slice() };
  nan.b[3 * 5 + 1] = NaN;
  refuses(() => fmA.predict(nan, t.n), /modality "b"/, /NaN at sample 5/);
  nan.b[3 * 5 + 1] = 1;
  nan.a[4 * 2] = Infinity;
  refuses(() => fmA.predictRaw(nan, t.n), /modality "a"/, /Infinity at sample 2/);
  assert.equal(fmA.predict({ a: new Float32Array(0), b: new Float32Array(0) }, 0).length, 0);
});

test('11: predict on a dataset folder with NaN features is refused with the modality and the sample', async () => {
  const d = await modelDir('nan-model');
  const folder = path.join(tmp, 'nan-data');
  writeDatasetFolder(folder, data);
  const a = Float32Array.from(data.splits.test!.features.a);
  a[4 * 3 + 2] = NaN;
  writeNpy(path.join(folder, 'a.test.npy'), a, [data.splits.test!.n, 4]);
  userError(run(['predict', '--model', d, '--input', folder]), 'modality "a"', 'sample 3');
});

// ------------------------------------------------------------------ 12. odd data

test('12: a one-class data set gets a clear line, not an internal oneHot error', async () => {
  // Every label is class 0, and the manifest lists that one class.
  const one = path.join(tmp, 'one-class');
  const splits = Object.fromEntries(Object.entries(data.splits).map(([k, v]) => [k, { ...v, labels: new Int32Array(v.n) }]));
  writeDatasetFolder(one, { ...data, splits });
  const manifest = readJson(path.join(one, 'dataset.json'));
  manifest.task.classes = ['only'];
  writeJson(path.join(one, 'dataset.json'), manifest);
  userError(run(['train', '--dataset', one, '--method', 'concat', '--epochs', '1', '--save', path.join(tmp, 'm12')]), 'at least two classes');
  assert.throws(() => FusionModel.create('concat', { task: { kind: 'classification', classes: ['only'] }, modalities: SPEC_MODALITIES }), /at least two classes/);
});

test('12: a fractional class label in a CSV is refused, as in a .npy', () => {
  const x = path.join(tmp, 'x12.csv');
  const labels = path.join(tmp, 'labels12.csv');
  fs.writeFileSync(x, Array.from({ length: 10 }, (_, i) => `${i}`).join('\n'));
  fs.writeFileSync(labels, ['0', '1', '0', '0.5', '1', '0', '1', '0', '1', '1'].join('\n'));
  userError(run(['data', 'import', '--out', path.join(tmp, 'd12'), '--task', 'classification', '--modality', `x=${x}`, '--labels', labels]), 'sample 3', 'not an integer', '0.5');
});

test('12: a JSONL file with a UTF-8 byte-order mark is accepted, as a CSV is', async () => {
  const d = await modelDir('bom');
  const plain = ok(run(['predict', '--model', d, '--input', jsonl])).stdout;
  const bom = path.join(tmp, 'bom.jsonl');
  fs.writeFileSync(bom, `\ufeff${fs.readFileSync(jsonl, 'utf8')}`);
  assert.equal(ok(run(['predict', '--model', d, '--input', bom])).stdout, plain);
});

test('12: a truncated or damaged HDF5 file gives one line, and the HDF5 library prints nothing', async () => {
  const h5 = await hdf5Ready();
  const good = path.join(tmp, 'good.h5');
  const f = new h5.File(good, 'w');
  f.create_dataset({ name: 'x', data: new Float32Array(10000).fill(1.5), shape: [100, 100] });
  f.close();
  const whole = fs.readFileSync(good);
  fs.writeFileSync(path.join(tmp, 'truncated.h5'), whole.subarray(0, 2000));
  const damaged = Buffer.from(whole);
  damaged.fill(0, 48, 2000);
  fs.writeFileSync(path.join(tmp, 'damaged.h5'), damaged);
  const script = path.join(tmp, 'h5-child.mjs');
  fs.writeFileSync(
    script,
    `const { readHdf5 } = await import(${JSON.stringify(pathToFileURL(path.join(SRC, 'data/hdf5.js')).href)});
for (const f of process.argv.slice(2)) {
  try { await readHdf5(f); console.log('read', f); } catch (e) { console.log(e.name + ': ' + e.message); }
}
`,
  );
  const r = spawnSync(process.execPath, [script, path.join(tmp, 'truncated.h5'), path.join(tmp, 'damaged.h5')], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.stderr, '', 'the HDF5 library printed diagnostics');
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 2, r.stdout);
  assert.match(lines[0], /^ModalfuseError: truncated HDF5 file .*truncated\.h5.*expected: 42048 bytes; found: 2000 bytes/);
  assert.match(lines[1], /^ModalfuseError: cannot read the HDF5 file \(corrupt or truncated\): .*damaged\.h5/);
});

// ------------------------------------------------------------------ 13. size limits

test('13: option values are checked against the cost estimate before anything is built', () => {
  const t0 = performance.now();
  const r = run(['train', '--dataset', dataDir, '--method', 'concat', '--set', 'hidden=100000000', '--save', path.join(tmp, 'm13')], {}, 60_000);
  userError(r, 'method "concat"', 'hidden=100000000', 'MiB', 'over the limit maxMemoryMB=2048');
  assert.ok(performance.now() - t0 < 30_000);
  assert.throws(() => FusionModel.create('late-mean', data, { headHidden: 50_000_000 }), /over the limit maxMemoryMB=2048/);
  assert.throws(() => FusionModel.create('concat', data, { hidden: 3_000_000 }), (e: unknown) => e instanceof ModalfuseError && /MiB/.test(e.message));
  // the limit can be raised (here lowered) for the methods without their own maxMemoryMB
  const low = run(['train', '--dataset', dataDir, '--method', 'concat', '--save', path.join(tmp, 'm13b')], { MODALFUSE_MAX_MEMORY_MB: '0.001' });
  userError(low, 'maxMemoryMB=0.001');
  const b = run(['bench', '--dataset', dataDir, '--methods', 'concat', '--set', 'hidden=100000000', '--out', path.join(tmp, 'r13')], {}, 60_000);
  userError(b, 'over the limit maxMemoryMB');
});

// ------------------------------------------------------------------ siblings

test('1 (sibling): a re-save keeps what else the model folder holds (a README, a checkpoint\'s resume/ folder), and replaces only the network', async () => {
  const dir = await modelDir('resave');
  fs.writeFileSync(path.join(dir, 'README.txt'), 'notes on this model');
  fs.mkdirSync(path.join(dir, 'resume'));
  fs.writeFileSync(path.join(dir, 'resume', 'state.json'), '{}');
  await fmB.save(dir);
  assert.equal(fs.readFileSync(path.join(dir, 'README.txt'), 'utf8'), 'notes on this model');
  assert.equal(fs.readFileSync(path.join(dir, 'resume', 'state.json'), 'utf8'), '{}');
  const fm = await FusionModel.load(dir);
  assert.ok(samePredictions(fm, probB));
  fm.dispose();
});

test('6 (sibling): a device, a pipe or a folder where a user names a file is refused with one line, never read', async () => {
  const fifo = path.join(tmp, 'pipe.jsonl');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const d = await modelDir('dev');
  userError(run(['predict', '--model', d, '--input', '/dev/zero'], {}, 30_000), 'not a regular file', '/dev/zero');
  userError(run(['predict', '--model', d, '--input', fifo], {}, 30_000), 'not a regular file', 'a pipe');
  userError(run(['train', '--config', '/dev/zero'], {}, 30_000), 'not a regular file');
  userError(run(['report', fifo], {}, 30_000), 'not a regular file');
  // A dataset folder whose array is a link to a device
  const folder = path.join(tmp, 'dev-data');
  writeDatasetFolder(folder, data);
  fs.rmSync(path.join(folder, 'a.test.npy'));
  fs.symlinkSync('/dev/zero', path.join(folder, 'a.test.npy'));
  userError(run(['predict', '--model', d, '--input', folder], {}, 30_000), 'not a regular file', 'a.test.npy');
});

test('2, 6 (sibling): FusionModel.loadUrl checks sizes, checksums and paths as FusionModel.load does', async () => {
  const d = await modelDir('url');
  const demo = await serveDemo({ modelDir: d, port: 0 });
  try {
    const fm = await FusionModel.loadUrl(`${demo.url}model/`);
    assert.ok(samePredictions(fm, probA));
    fm.dispose();
    const b = fs.readFileSync(path.join(d, 'weights.bin'));
    b[10] ^= 0xff;
    fs.writeFileSync(path.join(d, 'weights.bin'), b);
    await assert.rejects(FusionModel.loadUrl(`${demo.url}model/`), (e: unknown) => e instanceof ModalfuseError && /weights\.bin does not match its SHA-256/.test(e.message));
    const mj = readJson(path.join(d, 'model.json'));
    mj.weightsManifest[0].paths = ['../lib/modalfuse.js'];
    writeJson(path.join(d, 'model.json'), mj);
    reseal(d);
    await assert.rejects(FusionModel.loadUrl(`${demo.url}model/`), (e: unknown) => e instanceof ModalfuseError && /lies outside the model folder/.test(e.message));
    const meta = readJson(path.join(d, 'modalfuse.json'));
    meta.options.hidden = 100_000_000;
    writeJson(path.join(d, 'modalfuse.json'), meta);
    await assert.rejects(FusionModel.loadUrl(`${demo.url}model/`), (e: unknown) => e instanceof ModalfuseError && /maxMemoryMB/.test(e.message));
  } finally {
    await demo.close();
  }
});

test('4, 5 (siblings): predict --out onto a folder or /proc is refused before predicting; a method listed twice in bench is refused', async () => {
  const d = await modelDir('out');
  const folder = path.join(tmp, 'a-folder');
  fs.mkdirSync(folder, { recursive: true });
  userError(run(['predict', '--model', d, '--input', jsonl, '--out', folder]), '--out', 'not a regular file');
  userError(run(['predict', '--model', d, '--input', jsonl, '--out', '/proc/predictions.jsonl']), '--out', '/proc is a system file system');
  const out = path.join(tmp, 'preds', 'p.jsonl');
  assert.equal(ok(run(['predict', '--model', d, '--input', jsonl, '--out', out])).stdout, '');
  assert.equal(fs.readFileSync(out, 'utf8').trim().split('\n').length, 1);
  userError(run(['bench', '--dataset', dataDir, '--methods', 'concat,sum,concat', '--out', path.join(tmp, 'r45')]), 'method "concat" is listed twice');
});
