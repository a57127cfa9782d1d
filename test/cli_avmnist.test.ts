/**
 * The `modalfuse` command on AV-MNIST, run as a child process on small builds (--limit):
 * data build -> inspect; bench with the AV-MNIST protocol merged with another data set
 * (schema-valid results.json with robustness for every method, an index.html whose charts
 * render); train -> a model folder with transforms -> predict from raw inputs (equal to the
 * stored features' predictions) -> eval under corruption; demo serves the model; bad
 * inputs exit 2.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv2020Module from 'ajv/dist/2020.js';
import { avmnistPreprocessing, decodeWav, prepareAudio, prepareImage, readAvmnistPairs, readMnist } from '../src/datasets/avmnist/build.js';
import { readNpy } from '../src/data/npy.js';
import { chromiumMissing, inCI, launchChromium } from './browser_helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const CLI = path.resolve(here, '../src/cli/main.js');
const FSDD = path.resolve(repoRoot, '../shared/data/fsdd/recordings');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modalfuse-cli-avmnist-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const LIMIT = 300;
const noFsdd = fs.existsSync(FSDD) ? false : `no FSDD recordings at ${FSDD}`;

type AjvCtor = new (o: Record<string, unknown>) => { compile(s: unknown): ((d: unknown) => boolean) & { errors?: unknown } };
const Ajv2020 = ((Ajv2020Module as unknown as { default?: AjvCtor }).default ?? Ajv2020Module) as unknown as AjvCtor;
const validate = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(JSON.parse(fs.readFileSync(path.join(repoRoot, 'schema/results.schema.json'), 'utf8')));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

const ENV = { ...process.env, MODALFUSE_BACKEND: '', MODALFUSE_DEBUG: '', MODALFUSE_CACHE: path.join(tmp, 'cache'), MODALFUSE_FSDD: FSDD };

function run(args: string[]): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: tmp, encoding: 'utf8', env: ENV, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(r: Run): Run {
  assert.equal(r.status, 0, `exit ${r.status}\nstderr: ${r.stderr}`);
  return r;
}

function lines(r: Run): string[] {
  return r.stdout.trim().split('\n');
}

function lastJson(r: Run): Record<string, unknown> {
  const l = lines(r);
  return JSON.parse(l[l.length - 1]);
}

function jsonl(r: Run): { prediction: string; probabilities: Record<string, number> }[] {
  return lines(r).map((l) => JSON.parse(l));
}

/** Exit 2, one line `modalfuse: ...` on stderr containing every part, nothing on stdout. */
function userError(r: Run, ...parts: string[]): void {
  assert.equal(r.status, 2, `expected exit 2, got ${r.status}\nstderr: ${r.stderr}`);
  const errLines = r.stderr.split('\n').filter((l) => l.startsWith('modalfuse: '));
  assert.equal(errLines.length, 1, r.stderr);
  assert.ok(!/\n\s+at /.test(r.stderr), `stack trace on stderr:\n${r.stderr}`);
  for (const p of parts) assert.ok(errLines[0].includes(p), `"${errLines[0]}" lacks "${p}"`);
  assert.equal(r.stdout, '');
}

/** A uint8 .npy (what NumPy writes for MNIST pixels). */
function writeU8Npy(file: string, data: Uint8Array, shape: number[]): void {
  let header = `{'descr': '|u1', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(head);
  head.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data)]));
}

const dataDir = path.join(tmp, 'av');
const model = path.join(tmp, 'model');

before(() => {
  if (noFsdd) return;
  // data build -> the folder path and a JSON summary on stdout, progress on stderr
  const r = ok(run(['data', 'build', 'avmnist', '--limit', String(LIMIT), '--seed', '3', '--out', dataDir]));
  assert.equal(lines(r)[0], dataDir);
  const summary = lastJson(r) as { dataset: string; splits: Record<string, number>; seed: number; snrDb: number; built: boolean };
  assert.equal(summary.dataset, 'avmnist');
  assert.deepEqual(summary.splits, { train: LIMIT, valid: LIMIT / 10, test: LIMIT / 5 });
  assert.equal(summary.seed, 3);
  assert.equal(summary.snrDb, -14);
  assert.match(r.stderr, /PCA on 300 images/);
});

test('data build avmnist: a folder that data inspect reads; the cache folder by default; bad input exits 2', { skip: noFsdd }, () => {
  const insp = ok(run(['data', 'inspect', dataDir]));
  assert.match(insp.stdout, /data set: avmnist/);
  assert.match(insp.stdout, /audio: audio \[32, 32, 1\]/);
  assert.match(insp.stdout, /splits: train 300, valid 30, test 60/);
  assert.match(insp.stdout, /NaN\/Inf found: none/);
  // default --out: the cache folder that `--dataset avmnist` (same settings) reads; a second call reuses it
  const c1 = ok(run(['data', 'build', 'avmnist', '--limit', '40']));
  const dir = lines(c1)[0];
  assert.ok(dir.startsWith(path.join(tmp, 'cache', 'avmnist-')), dir);
  assert.equal(lastJson(c1).built, true);
  const c2 = ok(run(['data', 'build', 'avmnist', '--limit', '40']));
  assert.equal(lines(c2)[0], dir);
  assert.equal(lastJson(c2).built, false);

  userError(run(['data', 'build', 'mnist3d']), 'unknown data set to build', 'mnist3d');
  userError(run(['data', 'build', 'avmnist', '--limit', '40', '--out', dataDir]), '--force');
  userError(run(['data', 'build', 'avmnist', '--limit', '0']), '--limit');
  userError(run(['data', 'build', 'avmnist', '--limit', '40', '--fsdd', path.join(tmp, 'nowhere')]), 'FSDD recordings folder not found');
});

test('bench --dataset avmnist: the protocol merged with another data set; valid results.json with robustness everywhere; the report renders', { skip: noFsdd, timeout: 180_000 }, async () => {
  const out = path.join(tmp, 'report');
  const r = ok(
    run([
      'bench', '--dataset', 'avmnist', '--dataset', 'synthetic:redundant', '--quick', '--limit', String(LIMIT), '--methods', 'concat,lmf',
      '--end-to-end', 'concat', '--epochs', '1', '--set', 'modalityDropout=0.3', '--set', 'convFilters=8', '--out', out,
    ]),
  );
  assert.match(r.stdout, /^avmnist \(classification; accuracy higher is better\)/m);
  assert.match(r.stdout, /^method\s+encoders\s+accuracy/m);
  assert.match(r.stdout, /^lmf\s+frozen\s/m);
  assert.match(r.stderr, /avmnist protocol \(quick\): train 300, valid 30, test 60; unimodal 1 epochs, fusion 1 epochs/);
  const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
  assert.ok(validate(results), JSON.stringify(validate.errors));
  assert.deepEqual(results.datasets.map((d: { dataset: string }) => d.dataset), ['avmnist', 'avmnist:end-to-end', 'synthetic:redundant']);
  const [av, e2e, red] = results.datasets;
  assert.deepEqual(av.results.map((x: { method: string }) => x.method), ['audio-only', 'image-only', 'concat', 'lmf']);
  assert.deepEqual(av.results.map((x: { encoders: string }) => x.encoders), ['trained', 'trained', 'frozen', 'frozen']);
  assert.deepEqual(e2e.results.map((x: { method: string; encoders: string }) => [x.method, x.encoders]), [['concat', 'end-to-end']]);
  assert.deepEqual(red.results.map((x: { method: string }) => x.method), ['concat', 'lmf', 'constant'], 'constant, the floor, in every table');
  for (const ds of results.datasets) {
    for (const x of ds.results) {
      assert.ok(Array.isArray(x.robustness) && x.robustness.length > 0, `${ds.dataset} ${x.method}: robustness`);
      const mods = [...new Set(x.robustness.map((e: { modality: string }) => e.modality))];
      assert.deepEqual(mods, x.method === 'constant' ? ['a'] : x.method === 'audio-only' ? ['audio'] : x.method === 'image-only' ? ['image'] : ds.dataset === 'synthetic:redundant' ? ['a', 'b'] : ['audio', 'image']);
      assert.ok(x.robustness.some((e: { corruption: string }) => e.corruption === 'missing') && x.robustness.some((e: { corruption: string }) => e.corruption === 'noise'));
    }
  }
  assert.equal(av.results[0].options.convFilters, '8', '--set reaches the unimodal encoders');
  assert.equal(results.options.modalityDropout, 0.3);
  assert.equal(results.options.avmnist.limit, LIMIT);
  assert.equal(results.options.avmnist.unimodalEpochs, 1);
  assert.equal(results.protocol.sizes.train, LIMIT);

  // index.html: the embedded results, and (in Chromium) the tables and charts drawn without errors
  const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
  assert.match(html, /Chart\.js v4/);
  const missing = chromiumMissing();
  if (missing && !inCI()) return;
  const b = await launchChromium(tmp);
  try {
    await b.page.goto('file://' + path.join(out, 'index.html'));
    await b.page.waitForSelector('section canvas');
    const got = await b.page.evaluate(() => ({
      sections: document.querySelectorAll('section').length,
      charts: [...document.querySelectorAll('.chart h4')].map((h) => h.textContent),
      encodersHeader: [...document.querySelectorAll('table.results th')].some((th) => th.textContent === 'encoders'),
      protocolNote: document.querySelector('.note.protocol')?.textContent ?? '',
      failed: [...document.querySelectorAll('#report p.note')].map((p) => p.textContent ?? '').filter((t) => t.startsWith('chart failed')).join(' | '),
    }));
    assert.equal(got.sections, 3);
    assert.ok(got.encodersHeader);
    assert.match(got.protocolNote, /frozen encoder features/);
    assert.equal(got.failed, '', 'every chart drawn');
    for (const t of ['accuracy vs parameters', 'robustness: one modality missing', 'robustness: noise on audio', 'robustness: noise on image']) assert.ok(got.charts.includes(t), `${t} in ${got.charts.join(', ')}`);
    assert.deepEqual(b.log.filter((l) => l.startsWith('[pageerror]')), []);
  } finally {
    await b.close();
  }
});

test('train on avmnist -> transforms in the model folder -> predict from raw inputs -> eval under corruption', { skip: noFsdd, timeout: 180_000 }, () => {
  const tr = ok(run(['train', '--dataset', dataDir, '--method', 'concat', '--epochs', '2', '--set', 'convFilters=8', '--set', 'modalityDropout=0.3', '--save', model]));
  const trained = lastJson(tr) as { metrics: Record<string, number> };
  assert.match(tr.stderr, /attached the AV-MNIST transforms/);
  const meta = JSON.parse(fs.readFileSync(path.join(model, 'modalfuse.json'), 'utf8'));
  assert.equal(meta.transforms.file, 'transforms/transforms.json');
  assert.equal(meta.training.modalityDropout, 0.3);
  assert.equal(meta.options.modalityDropout, undefined, 'a training option, not a method option');
  for (const f of ['transforms.json', 'pca_mean.npy', 'pca_components.npy']) assert.ok(fs.existsSync(path.join(model, 'transforms', f)), f);

  // Raw MNIST pixels of the first test samples (from the pairs file) reproduce the stored image features ...
  const t = avmnistPreprocessing(dataDir);
  const pairs = readAvmnistPairs(dataDir, 'test');
  const mnist = readMnist();
  const n = 3;
  const pixels = new Uint8Array(n * 784);
  for (let i = 0; i < n; i++) pixels.set(mnist.test.images.subarray(pairs.mnistIndex[i] * 784, (pairs.mnistIndex[i] + 1) * 784), i * 784);
  const storedImage = readNpy(path.join(dataDir, 'image.test.npy')).data as Float32Array;
  const storedAudio = readNpy(path.join(dataDir, 'audio.test.npy')).data as Float32Array;
  for (let i = 0; i < n; i++) assert.deepEqual(prepareImage(pixels.subarray(i * 784, (i + 1) * 784), t), storedImage.subarray(i * 784, (i + 1) * 784));
  // ... so predict on {image_raw, audio} lines equals predict on the dataset folder.
  const fromFolder = jsonl(ok(run(['predict', '--model', model, '--input', dataDir]))).slice(0, n);
  const rawLines = path.join(tmp, 'raw.jsonl');
  fs.writeFileSync(rawLines, Array.from({ length: n }, (_, i) => JSON.stringify({ image_raw: Array.from(pixels.subarray(i * 784, (i + 1) * 784)), audio: Array.from(storedAudio.subarray(i * 1024, (i + 1) * 1024)) })).join('\n') + '\n');
  assert.deepEqual(jsonl(ok(run(['predict', '--model', model, '--input', rawLines]))), fromFolder);

  // --image (uint8 .npy [N, 28, 28]) and --wav (one recording, paired with every image): the same as
  // JSONL lines whose audio is prepareAudio of the decoded WAV with the training noise (the data
  // set's SNR, seed 0: the default, as in the browser page).
  const npy = path.join(tmp, 'digits.npy');
  writeU8Npy(npy, pixels, [n, 28, 28]);
  const wav = path.join(FSDD, pairs.recording[0]);
  const byFiles = jsonl(ok(run(['predict', '--model', model, '--image', npy, '--wav', wav])));
  assert.equal(byFiles.length, n);
  const dec = decodeWav(fs.readFileSync(wav));
  assert.equal(t.modalities.audio.snrDb, -14);
  const audio = Array.from(prepareAudio(dec.samples, dec.sampleRate, t, { snrDb: t.modalities.audio.snrDb, seed: 0 }));
  const wavLines = path.join(tmp, 'wav.jsonl');
  fs.writeFileSync(wavLines, Array.from({ length: n }, (_, i) => JSON.stringify({ image_raw: Array.from(pixels.subarray(i * 784, (i + 1) * 784)), audio })).join('\n') + '\n');
  assert.deepEqual(byFiles, jsonl(ok(run(['predict', '--model', model, '--input', wavLines]))));
  // audio_wav in JSONL (relative to the JSONL file) and a JSON image file give the same again
  fs.copyFileSync(wav, path.join(tmp, 'one.wav'));
  const relLines = path.join(tmp, 'rel.jsonl');
  fs.writeFileSync(relLines, JSON.stringify({ image_raw: Array.from(pixels.subarray(0, 784)), audio_wav: 'one.wav' }) + '\n');
  assert.deepEqual(jsonl(ok(run(['predict', '--model', model, '--input', relLines]))), byFiles.slice(0, 1));
  const jsonImage = path.join(tmp, 'digit.json');
  fs.writeFileSync(jsonImage, JSON.stringify(Array.from({ length: 28 }, (_, y) => Array.from(pixels.subarray(y * 28, (y + 1) * 28)))));
  assert.deepEqual(jsonl(ok(run(['predict', '--model', model, '--image', jsonImage, '--wav', wav]))), byFiles.slice(0, 1));
  // --wav-snr-db none: the clean recording (prepareAudio without noise), unlike the default; --seed 0 is the default seed.
  const cleanAudio = Array.from(prepareAudio(dec.samples, dec.sampleRate, t));
  assert.notDeepEqual(cleanAudio, audio);
  const cleanLines = path.join(tmp, 'clean.jsonl');
  fs.writeFileSync(cleanLines, JSON.stringify({ image_raw: Array.from(pixels.subarray(0, 784)), audio: cleanAudio }) + '\n');
  const byNone = jsonl(ok(run(['predict', '--model', model, '--image', jsonImage, '--wav', wav, '--wav-snr-db', 'none', '--seed', '0'])));
  assert.deepEqual(byNone, jsonl(ok(run(['predict', '--model', model, '--input', cleanLines]))));
  assert.notDeepEqual(byNone, byFiles.slice(0, 1));
  userError(run(['predict', '--model', model, '--image', jsonImage, '--wav', wav, '--wav-snr-db', 'loud']), '--wav-snr-db');

  // bad raw inputs
  userError(run(['predict', '--model', model, '--image', npy]), '"audio"', '--wav');
  userError(run(['predict', '--model', model, '--image', npy, '--wav', path.join(tmp, 'none.wav')]), 'WAV file not found');
  userError(run(['predict', '--model', model, '--image', wavLines, '--wav', wav]), 'image');
  userError(run(['predict', '--model', model, '--input', rawLines, '--image', npy]), 'not both');
  userError(run(['predict', '--model', model]), '--input');
  const bare = path.join(tmp, 'model-no-transforms');
  fs.cpSync(model, bare, { recursive: true });
  fs.rmSync(path.join(bare, 'transforms'), { recursive: true });
  userError(run(['predict', '--model', bare, '--image', npy, '--wav', wav]), 'no transforms');
  userError(run(['predict', '--model', bare, '--input', relLines]), 'image_raw', 'transforms');

  // eval: clean = train's metrics; corrupted inputs print metrics that differ, with the corruption recorded
  const clean = lastJson(ok(run(['eval', '--model', model, '--dataset', dataDir])));
  assert.deepEqual(clean.metrics, trained.metrics);
  assert.equal(clean.corruption, undefined);
  const miss = lastJson(ok(run(['eval', '--model', model, '--dataset', dataDir, '--missing', 'audio'])));
  assert.deepEqual(miss.corruption, { missing: ['audio'], seed: 0 });
  assert.notDeepEqual(miss.metrics, clean.metrics);
  const noisy = lastJson(ok(run(['eval', '--model', model, '--dataset', dataDir, '--noise', 'audio=0.5', '--seed', '2'])));
  assert.deepEqual(noisy.corruption, { noise: { audio: 0.5 }, seed: 2 });
  assert.notDeepEqual(noisy.metrics, clean.metrics);
  assert.equal(typeof (noisy.metrics as Record<string, number>).accuracy, 'number');
  userError(run(['eval', '--model', model, '--dataset', dataDir, '--missing', 'audio,smell']), '"smell"');
  userError(run(['eval', '--model', model, '--dataset', dataDir, '--noise', 'audio=loud']), 'bad noise specification');
  userError(run(['eval', '--model', model, '--dataset', dataDir, '--noise', 'audio']), 'bad noise specification');
  userError(run(['train', '--dataset', dataDir, '--method', 'concat', '--set', 'modalityDropout=1', '--save', path.join(tmp, 'x')]), 'modalityDropout');
});

test('demo: serves the model on 127.0.0.1, prints the URL, stops on SIGTERM with exit 0', { skip: noFsdd, timeout: 60_000 }, async () => {
  if (!fs.existsSync(path.join(model, 'modalfuse.json'))) {
    ok(run(['train', '--dataset', dataDir, '--method', 'image-only', '--epochs', '1', '--set', 'convFilters=4', '--save', model]));
  }
  const child = spawn(process.execPath, [CLI, 'demo', '--model', model, '--dataset', dataDir, '--port', '0'], { cwd: tmp, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0) resolve(buf.slice(0, nl).trim());
      });
      child.on('exit', () => reject(new Error(`demo exited before printing its URL: ${stderr}`)));
    });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<!doctype html>/i);
    const meta = await fetch(new URL('model/modalfuse.json', url));
    assert.equal(meta.status, 200);
    const m = (await meta.json()) as { dataset: string; transforms?: unknown };
    assert.equal(m.dataset, 'avmnist');
    const samples = (await (await fetch(new URL('samples?n=2', url))).json()) as { samples: unknown[] };
    assert.equal(samples.samples.length, 2);
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /demo stopped/);
  userError(run(['demo', '--model', path.join(tmp, 'no-model'), '--port', '0']), 'model folder not found');
  userError(run(['demo', '--model', model, '--port', '70000']), '--port');
});
