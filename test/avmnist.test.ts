/**
 * AV-MNIST: reproducible builds, pairing and splits, the dataset folder format, the PCA
 * energy removal, the log-mel DSP, transforms in model folders, the CNN encoders,
 * robustness sweeps, corruptions, modality dropout and the frozen-encoder protocol.
 * Builds use `limit` so the whole file stays well under a minute.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { initBackend, tf, tfl } from '../src/backend/index.js';
import {
  AVMNIST_LOGMEL,
  attachTransforms,
  avmnistCachePath,
  avmnistNoiseSeed,
  avmnistPreprocessing,
  avmnistSizes,
  buildAvmnist,
  decodeWav,
  fsddDir,
  loadAvmnist,
  modelTransforms,
  prepareAudio,
  prepareImage,
  readAvmnistPairs,
  readMnist,
} from '../src/datasets/avmnist/build.js';
import { LogMel, RealFFT, melBandCenters } from '../src/data/audio.js';
import { readDatasetFolder, readManifest } from '../src/data/folder.js';
import { readNpy } from '../src/data/npy.js';
import { loadDatasets } from '../src/datasets/resolve.js';
import { makeSynthetic } from '../src/datasets/synthetic.js';
import type { Dataset, SplitName } from '../src/data/types.js';
import { cnnEncoderCost, cnnOptionsFrom, encode, encoderOutput } from '../src/encoders/index.js';
import { ModalfuseError } from '../src/errors.js';
import { modelCost } from '../src/eval/cost.js';
import { evaluate } from '../src/eval/evaluate.js';
import { runAvmnistProtocol } from '../src/experiments/avmnist_protocol.js';
import { corrupt, parseNoiseSpec, robustnessSweep } from '../src/eval/robustness.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { train } from '../src/train/train.js';
import { modalityDropoutMasks } from '../src/train/modality_dropout.js';
import { Rng } from '../src/util/rng.js';
import { tmpDir } from './helpers.js';
import Ajv2020Module from 'ajv/dist/2020.js';

type AjvCtor = new (o: Record<string, unknown>) => { compile(s: unknown): ((d: unknown) => boolean) & { errors?: unknown } };
const Ajv2020 = ((Ajv2020Module as unknown as { default?: AjvCtor }).default ?? Ajv2020Module) as unknown as AjvCtor;

const FSDD = path.resolve('../shared/data/fsdd/recordings');
const SPLITS: SplitName[] = ['train', 'valid', 'test'];
const LIMIT = 300;

let dir: string;
let built: Dataset;

before(async () => {
  await initBackend({ backend: 'wasm' });
  dir = path.join(tmpDir('modalfuse-avmnist-'), 'avmnist');
  built = await buildAvmnist({ fsdd: FSDD, limit: LIMIT, seed: 7, out: dir });
});

test('two builds with one seed give identical arrays; another seed changes the audio', async () => {
  const again = await buildAvmnist({ fsdd: FSDD, limit: LIMIT, seed: 7 });
  for (const s of SPLITS) {
    const a = built.splits[s]!;
    const b = again.splits[s]!;
    assert.deepEqual(b.labels, a.labels);
    assert.deepEqual(b.features.image, a.features.image);
    assert.deepEqual(b.features.audio, a.features.audio);
  }
  const other = await buildAvmnist({ fsdd: FSDD, limit: { train: 50, valid: 5, test: 5 }, seed: 8 });
  const a = built.splits.train!.features.audio.subarray(0, 1024);
  assert.notDeepEqual(other.splits.train!.features.audio.subarray(0, 1024), a);
});

test('limit sizes: train L, valid ceil(L/10), test ceil(L/5); full sizes without a limit', () => {
  assert.deepEqual(avmnistSizes(500), { train: 500, valid: 50, test: 100 });
  assert.deepEqual(avmnistSizes(), { train: 55000, valid: 5000, test: 10000 });
  assert.deepEqual(avmnistSizes({ valid: 10 }), { train: 55000, valid: 10, test: 10000 });
  assert.throws(() => avmnistSizes(0), ModalfuseError);
  assert.equal(built.splits.train!.n, LIMIT);
  assert.equal(built.splits.valid!.n, 30);
  assert.equal(built.splits.test!.n, 60);
});

test('every pair shares its digit; FSDD test takes (0-4) only in test, never in train or valid', () => {
  for (const s of SPLITS) {
    const pairs = readAvmnistPairs(dir, s);
    const labels = built.splits[s]!.labels;
    assert.equal(pairs.recording.length, labels.length);
    assert.equal(pairs.mnistIndex.length, labels.length);
    pairs.recording.forEach((f, i) => {
      const [digit, , take] = f.replace('.wav', '').split('_');
      assert.equal(Number(digit), labels[i], `${s} sample ${i}: ${f} vs label ${labels[i]}`);
      if (s === 'test') assert.ok(Number(take) <= 4, `${f} in test`);
      else assert.ok(Number(take) >= 5, `${f} (an FSDD test take) in ${s}`);
    });
    assert.equal(pairs.mnistSet, s === 'test' ? 't10k' : 'train');
  }
  // train and valid come from disjoint MNIST rows
  const tr = new Set(readAvmnistPairs(dir, 'train').mnistIndex);
  assert.ok(readAvmnistPairs(dir, 'valid').mnistIndex.every((i) => !tr.has(i)));
  // labels are MNIST's
  const mnist = readMnist();
  const p = readAvmnistPairs(dir, 'train');
  p.mnistIndex.forEach((j, i) => assert.equal(built.splits.train!.labels[i], mnist.train.labels[j]));
});

test('the folder matches the DESIGN.md dataset format and reads back', () => {
  const m = readManifest(dir);
  assert.equal(m.schemaVersion, 1);
  assert.equal(m.name, 'avmnist');
  assert.deepEqual(m.task, { kind: 'classification', classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] });
  assert.deepEqual(m.modalities.image, { kind: 'image', shape: [28, 28, 1] });
  assert.deepEqual(m.modalities.audio, { kind: 'audio', shape: [32, 32, 1] });
  assert.deepEqual(m.splits, { train: LIMIT, valid: 30, test: 60 });
  const prov = m.provenance as Record<string, any>;
  assert.equal(prov.seed, 7);
  assert.equal(typeof prov.audio.snrDb, 'number');
  assert.ok(prov.image.components >= 1);
  for (const s of SPLITS) {
    const img = readNpy(path.join(dir, `image.${s}.npy`));
    assert.equal(img.dtype, '<f4');
    assert.deepEqual(img.shape, [m.splits[s], 28, 28, 1]);
    assert.deepEqual(readNpy(path.join(dir, `audio.${s}.npy`)).shape, [m.splits[s], 32, 32, 1]);
    const lab = readNpy(path.join(dir, `labels.${s}.npy`));
    assert.deepEqual(lab.shape, [m.splits[s]]);
    assert.ok(lab.data instanceof Int32Array);
  }
  const back = readDatasetFolder(dir);
  assert.deepEqual(back.splits.test!.features.audio, built.splits.test!.features.audio);
  const t = avmnistPreprocessing(dir);
  assert.equal(t.pcaComponents.length, t.modalities.image.k * 784);
  assert.deepEqual(readNpy(path.join(dir, 'preprocessing', 'pca_components.npy')).shape, [t.modalities.image.k, 784]);
  assert.equal(t.modalities.audio.frames, 32);
  assert.ok(fs.existsSync(path.join(dir, 'preprocessing', 'spectrogram.json')));
});

test('the PCA keeps >= 25% of the variance and one component fewer keeps < 25% (checked independently)', () => {
  const t = avmnistPreprocessing(dir);
  const info = t.modalities.image;
  assert.ok(info.keptFraction >= 0.25, `kept ${info.keptFraction}`);
  assert.ok(info.previousFraction < 0.25, `previous ${info.previousFraction}`);
  // independent check: variance of the projections of the train images vs their total variance
  const mnist = readMnist();
  const idx = readAvmnistPairs(dir, 'train').mnistIndex;
  const n = idx.length;
  const d = 784;
  const mean = new Float64Array(d);
  for (const j of idx) for (let p = 0; p < d; p++) mean[p] += mnist.train.images[j * d + p] / 255 / n;
  let total = 0;
  const proj = Array.from({ length: info.k }, () => new Float64Array(n));
  idx.forEach((j, i) => {
    for (let p = 0; p < d; p++) {
      const c = mnist.train.images[j * d + p] / 255 - mean[p];
      total += (c * c) / n;
      for (let k = 0; k < info.k; k++) proj[k][i] += c * t.pcaComponents[k * d + p];
    }
  });
  const fracs = proj.map((v) => v.reduce((a, x) => a + x * x, 0) / n / total);
  const kept = fracs.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(kept - info.keptFraction) < 1e-4, `kept ${kept} vs recorded ${info.keptFraction}`);
  assert.ok(kept - fracs[fracs.length - 1] < 0.25);
  // components are orthonormal
  for (let a = 0; a < info.k; a++) {
    for (let b = 0; b < info.k; b++) {
      let s = 0;
      for (let p = 0; p < d; p++) s += t.pcaComponents[a * d + p] * t.pcaComponents[b * d + p];
      assert.ok(Math.abs(s - (a === b ? 1 : 0)) < 1e-5, `<v${a}, v${b}> = ${s}`);
    }
  }
});

test('real FFT matches a direct DFT', () => {
  const n = 256;
  const rng = new Rng(3);
  const x = Float64Array.from({ length: n }, () => rng.normal());
  const re = new Float64Array(n / 2 + 1);
  const im = new Float64Array(n / 2 + 1);
  new RealFFT(n).transform(x, re, im);
  const pow = new Float64Array(n / 2 + 1);
  new RealFFT(n).power(x, pow);
  for (const k of [0, 1, 5, 64, 100, 127, 128]) {
    let r = 0;
    let i = 0;
    for (let t = 0; t < n; t++) {
      r += x[t] * Math.cos((2 * Math.PI * k * t) / n);
      i -= x[t] * Math.sin((2 * Math.PI * k * t) / n);
    }
    assert.ok(Math.abs(re[k] - r) < 1e-9 && Math.abs(im[k] - i) < 1e-9, `bin ${k}`);
    assert.ok(Math.abs(pow[k] - (r * r + i * i)) < 1e-7 * Math.max(1, r * r + i * i), `power bin ${k}`);
  }
});

test('log-mel of a pure tone peaks in the mel band nearest its frequency', () => {
  const p = AVMNIST_LOGMEL;
  const centres = melBandCenters(p);
  const lm = new LogMel(p);
  for (const f of [250, 1000, 2600]) {
    const x = Float32Array.from({ length: p.length }, (_, i) => Math.sin((2 * Math.PI * f * i) / p.sampleRate));
    const s = lm.compute(x);
    const avg = new Float64Array(p.nMels);
    for (let t = 0; t < p.frames; t++) for (let m = 0; m < p.nMels; m++) avg[m] += s[t * p.nMels + m];
    const peak = avg.indexOf(Math.max(...avg));
    const nearest = centres.reduce((b, c, i) => (Math.abs(c - f) < Math.abs(centres[b] - f) ? i : b), 0);
    assert.equal(peak, nearest, `${f} Hz: peak band ${peak} (${centres[peak].toFixed(0)} Hz), nearest ${nearest} (${centres[nearest].toFixed(0)} Hz)`);
  }
});

test('prepareImage and prepareAudio reproduce data set samples exactly (transforms from the folder)', () => {
  const t = avmnistPreprocessing(dir);
  const mnist = readMnist();
  const pairs = readAvmnistPairs(dir, 'train');
  for (const i of [0, 17]) {
    const j = pairs.mnistIndex[i];
    const img = prepareImage(mnist.train.images.subarray(j * 784, (j + 1) * 784), t);
    assert.deepEqual(img, built.splits.train!.features.image.subarray(i * 784, (i + 1) * 784));
    const wav = decodeWav(fs.readFileSync(path.join(FSDD, pairs.recording[i])));
    const a = prepareAudio(wav.samples, wav.sampleRate, t, { snrDb: t.modalities.audio.snrDb, seed: avmnistNoiseSeed(7, 'train', i) });
    assert.deepEqual(a, built.splits.train!.features.audio.subarray(i * 1024, (i + 1) * 1024));
  }
  // a resampled recording still gives a spectrogram of the right size
  const wav = decodeWav(fs.readFileSync(path.join(FSDD, pairs.recording[0])));
  const up = new Float32Array(wav.samples.length * 2);
  for (let k = 0; k < up.length; k++) up[k] = wav.samples[k >> 1];
  assert.equal(prepareAudio(up, 16000, t).length, 1024);
  assert.throws(() => prepareImage(new Uint8Array(10), t), ModalfuseError);
});

test('attachTransforms copies the transforms into a model folder and records them in modalfuse.json', async () => {
  const fm = FusionModel.create('image-only', built, { hidden: 8, convFilters: '4' });
  const mdir = path.join(tmpDir(), 'model');
  await fm.save(mdir);
  attachTransforms(mdir, dir);
  const meta = JSON.parse(fs.readFileSync(path.join(mdir, 'modalfuse.json'), 'utf8'));
  assert.equal(meta.transforms.dir, 'transforms');
  assert.equal(meta.transforms.modalities.image.kind, 'pca-reconstruct');
  assert.equal(meta.method, 'image-only');
  const t = modelTransforms(mdir)!;
  assert.deepEqual(t.pcaComponents, avmnistPreprocessing(dir).pcaComponents);
  assert.equal(modelTransforms(tmpDir()), null);
  const loaded = await FusionModel.load(mdir);
  loaded.dispose();
  fm.dispose();
});

test('the cache: loadAvmnist builds once and reuses; loadDatasets("avmnist") reads the cache', async () => {
  const cache = tmpDir('modalfuse-cache-');
  const t0 = performance.now();
  const a = await loadAvmnist({ fsdd: FSDD, limit: 40, cacheDir: cache });
  const first = performance.now() - t0;
  assert.ok(fs.existsSync(path.join(a.dir, 'dataset.json')));
  assert.match(path.basename(a.dir), /^avmnist-[0-9a-f]{12}$/);
  const mtime = fs.statSync(path.join(a.dir, 'dataset.json')).mtimeMs;
  const b = await loadAvmnist({ fsdd: FSDD, limit: 40, cacheDir: cache });
  assert.equal(b.dir, a.dir);
  assert.equal(fs.statSync(path.join(a.dir, 'dataset.json')).mtimeMs, mtime);
  assert.deepEqual(b.splits.train!.features.audio, a.splits.train!.features.audio);
  assert.equal(fs.readdirSync(cache).length, 1, 'no temporary folders left');
  assert.ok(first > 0);
  // the name resolver: place a built folder where the quick settings would go
  const env = { cache: process.env.MODALFUSE_CACHE, fsdd: process.env.MODALFUSE_FSDD };
  try {
    process.env.MODALFUSE_CACHE = cache;
    process.env.MODALFUSE_FSDD = FSDD;
    const target = avmnistCachePath({ quick: true });
    fs.cpSync(a.dir, target, { recursive: true });
    const [ds] = await loadDatasets('avmnist', { quick: true });
    assert.equal(ds.name, 'avmnist');
    assert.equal(ds.splits.train!.n, a.splits.train!.n);
  } finally {
    for (const [k, v] of [['MODALFUSE_CACHE', env.cache], ['MODALFUSE_FSDD', env.fsdd]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test('without FSDD the error names the option and MODALFUSE_FSDD', () => {
  const saved = process.env.MODALFUSE_FSDD;
  const cwd = process.cwd();
  try {
    delete process.env.MODALFUSE_FSDD;
    process.chdir(tmpDir());
    assert.throws(() => fsddDir(), (e: Error) => e instanceof ModalfuseError && /fsdd/.test(e.message) && /MODALFUSE_FSDD/.test(e.message));
    assert.throws(() => fsddDir('/no/such/folder'), ModalfuseError);
  } finally {
    process.chdir(cwd);
    if (saved !== undefined) process.env.MODALFUSE_FSDD = saved;
  }
});

test('CNN encoder options: filters, kernel, pooling, batch norm; cost known before building', () => {
  const spec = { task: built.task, modalities: built.modalities };
  const fm = FusionModel.create('audio-only', spec, { convFilters: '4,8,8', convKernel: 5, convPool: 'avg', convBatchNorm: true, hidden: 12 });
  const convs = fm.model.layers.filter((l) => l.getClassName() === 'Conv2D');
  assert.deepEqual(convs.map((l) => (l.getConfig() as { filters: number }).filters), [4, 8, 8]);
  assert.deepEqual((convs[0].getConfig() as { kernelSize: number[] }).kernelSize, [5, 5]);
  assert.equal(fm.model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length, 3);
  assert.equal(fm.model.layers.filter((l) => l.getClassName() === 'AveragePooling2D').length, 3);
  const enc = tfl.model({ inputs: fm.model.inputs, outputs: encoderOutput(fm.model, 'enc_audio') });
  const est = cnnEncoderCost(spec.modalities.audio, { hidden: 12, activation: 'relu', dropout: 0, cnn: cnnOptionsFrom(fm.meta.options) });
  const c = modelCost(enc);
  assert.equal(est.params, c.params);
  assert.equal(est.flops, c.flopsPerSample);
  fm.dispose();
  assert.throws(() => FusionModel.create('audio-only', spec, { convFilters: '4,x' }), ModalfuseError);
  assert.throws(() => FusionModel.create('audio-only', spec, { convPool: 'min' }), ModalfuseError);
});

test('CNN encoders start from PyTorch\'s default initialisation; heads, fusion and MLP encoders keep Glorot', () => {
  const spec = { task: built.task, modalities: built.modalities };
  const weights = (fm: FusionModel, name: string) => fm.model.getLayer(name).getWeights().map((w) => w.dataSync() as Float32Array);
  const maxAbs = (v: Float32Array) => v.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
  const fm = FusionModel.create('concat', spec, { hidden: 16 }, { seed: 3 });
  for (const m of ['audio', 'image']) {
    const [H, W, C] = spec.modalities[m].shape;
    const fans: Record<string, number> = { conv1: 9 * C, conv2: 9 * 16, dense: Math.floor(H / 4) * Math.floor(W / 4) * 32 };
    for (const [layer, fanIn] of Object.entries(fans)) {
      const bound = 1 / Math.sqrt(fanIn);
      const [k, b] = weights(fm, `enc_${m}_${layer}`);
      assert.ok(maxAbs(k) <= bound * (1 + 1e-6) && maxAbs(k) > 0.9 * bound, `${m} ${layer} kernel in +-1/sqrt(${fanIn})`);
      assert.ok(maxAbs(b) <= bound * (1 + 1e-6) && maxAbs(b) > 0.5 * bound, `${m} ${layer} bias in +-1/sqrt(${fanIn}), not zero`);
    }
  }
  // the head stays Glorot-uniform with zero biases
  const [hk, hb] = weights(fm, 'head_dense');
  assert.ok(maxAbs(hk) <= Math.sqrt(6 / (32 + 64)) * (1 + 1e-6));
  assert.equal(maxAbs(hb), 0);
  // seeded: the same seed gives the same weights, another seed others
  const again = FusionModel.create('concat', spec, { hidden: 16 }, { seed: 3 });
  const other = FusionModel.create('concat', spec, { hidden: 16 }, { seed: 4 });
  assert.deepEqual(weights(again, 'enc_audio_conv1'), weights(fm, 'enc_audio_conv1'));
  assert.notDeepEqual(weights(other, 'enc_audio_conv1'), weights(fm, 'enc_audio_conv1'));
  [fm, again, other].forEach((x) => x.dispose());
  // CnnOptions.init 'glorot': the former initialisation (zero biases)
  const x = tfl.input({ shape: spec.modalities.audio.shape });
  const y = encode(x, spec.modalities.audio, { hidden: 4, encoderLayers: 1, dropout: 0, activation: 'relu', cnn: { init: 'glorot' } }, new Rng(1), 'enc_g');
  const g = tfl.model({ inputs: x, outputs: y });
  assert.equal(maxAbs(g.getLayer('enc_g_conv1').getWeights()[1].dataSync() as Float32Array), 0);
  assert.ok(maxAbs(g.getLayer('enc_g_conv1').getWeights()[0].dataSync() as Float32Array) <= Math.sqrt(6 / (9 + 9 * 16)) * (1 + 1e-6));
  g.dispose();
  // MLP encoders (vector data) are untouched: Glorot weights, zero biases
  const syn = makeSynthetic('unique', { seed: 2, sizes: { train: 20, valid: 5, test: 5 } });
  const v = FusionModel.create('concat', syn, {}, { seed: 1 });
  const vb = v.model.layers.filter((l) => l.name.startsWith('enc_') && l.getClassName() === 'Dense').map((l) => maxAbs(l.getWeights()[1].dataSync() as Float32Array));
  assert.ok(vb.length > 0 && vb.every((b) => b === 0));
  v.dispose();
});

test('corrupt: missing gives the mean input, noise has the asked std, names are checked', () => {
  const data = makeSynthetic('unique', { seed: 2, sizes: { train: 400, valid: 50, test: 50 } });
  const f = data.splits.train!.features;
  const out = corrupt(f, data, { missing: ['b'], noise: { a: 0.5 }, seed: 1 });
  assert.equal(out.b.length, f.b.length);
  const d = data.modalities.b.shape[0];
  for (let j = 0; j < d; j++) assert.equal(out.b[j], out.b[d + j]);
  let s2 = 0;
  let v2 = 0;
  const mean = f.a.reduce((x, y) => x + y, 0) / f.a.length;
  for (let i = 0; i < f.a.length; i++) {
    s2 += (out.a[i] - f.a[i]) ** 2;
    v2 += (f.a[i] - mean) ** 2;
  }
  const ratio = Math.sqrt(s2 / v2);
  assert.ok(ratio > 0.4 && ratio < 0.6, `noise/feature std ${ratio}`);
  assert.equal(out.a === f.a, false);
  assert.equal(corrupt(f, data, {}).a, f.a, 'untouched modalities are not copied');
  assert.deepEqual(corrupt(f, data, { noise: { a: 1 }, seed: 3 }).a, corrupt(f, data, { noise: { a: 1 }, seed: 3 }).a);
  assert.throws(() => corrupt(f, data, { missing: ['c'] }), ModalfuseError);
  assert.throws(() => corrupt(f, data, { noise: { a: -1 } }), ModalfuseError);
  assert.deepEqual(parseNoiseSpec('audio=0.5,image=1'), { audio: 0.5, image: 1 });
  assert.throws(() => parseNoiseSpec('audio'), ModalfuseError);
});

test('robustness sweep: an entry per modality and level; missing the informative modality drops accuracy', async () => {
  const data = makeSynthetic('unique', { seed: 4, sizes: { train: 1500, valid: 200, test: 400 } });
  const fm = FusionModel.create('concat', data, {}, { seed: 1 });
  await train(fm, data, { epochs: 4, lr: 3e-3 });
  const clean = evaluate(fm, data).metrics.accuracy;
  const levels = [0.5, 2];
  const r = robustnessSweep(fm, data, { levels });
  assert.equal(r.length, 2 * (1 + levels.length));
  for (const m of ['a', 'b']) {
    assert.ok(r.some((e) => e.modality === m && e.corruption === 'missing'));
    for (const l of levels) assert.ok(r.some((e) => e.modality === m && e.corruption === 'noise' && e.level === l));
  }
  const missA = r.find((e) => e.modality === 'a' && e.corruption === 'missing')!.metrics.accuracy;
  const missB = r.find((e) => e.modality === 'b' && e.corruption === 'missing')!.metrics.accuracy;
  const noiseA = r.filter((e) => e.modality === 'a' && e.corruption === 'noise').map((e) => e.metrics.accuracy);
  assert.ok(clean > 0.8, `clean ${clean}`);
  assert.ok(missA < clean - 0.3, `missing a: ${missA} vs clean ${clean}`);
  assert.ok(missB > clean - 0.15, `missing b: ${missB} vs clean ${clean}`);
  assert.ok(noiseA[1] < noiseA[0], `noise on a should hurt more at level 2: ${noiseA}`);
  fm.dispose();
});

test('modality dropout: masks never drop every modality; training with it runs without leaks', async () => {
  const rng = new Rng(5);
  const masks = modalityDropoutMasks(500, 2, 0.6, rng);
  let dropped = 0;
  for (let i = 0; i < 500; i++) {
    assert.ok(masks[0][i] + masks[1][i] >= 1);
    dropped += 2 - masks[0][i] - masks[1][i];
  }
  assert.ok(dropped > 200, `dropped ${dropped}`);
  const data = makeSynthetic('redundant', { seed: 1, sizes: { train: 300, valid: 50, test: 50 } });
  const fm = FusionModel.create('concat', data, {}, { seed: 1 });
  const n0 = tf.memory().numTensors;
  await train(fm, data, { epochs: 2, modalityDropout: 0.5 });
  assert.equal(tf.memory().numTensors, n0);
  await assert.rejects(() => train(fm, data, { epochs: 1, modalityDropout: 1 }), ModalfuseError);
  fm.dispose();
});

test('protocol: unimodal CNNs, fusion on frozen features, robustness, end to end', async () => {
  const r = await runAvmnistProtocol({
    data: built,
    unimodalEpochs: 1,
    fusionEpochs: 1,
    patience: 0,
    methods: ['concat', 'late-mean'],
    endToEnd: ['concat'],
    encoderOptions: { hidden: 8, convFilters: '4,8' },
    levels: [1],
  });
  assert.equal(r.schemaVersion, 1);
  const main = r.datasets.find((d) => d.dataset === 'avmnist')!;
  assert.deepEqual(main.results.map((x) => x.method), ['audio-only', 'image-only', 'concat', 'late-mean']);
  for (const x of main.results) {
    assert.ok(x.metrics.accuracy >= 0 && x.metrics.accuracy <= 1);
    assert.ok(x.params > 0 && x.flopsPerSample > 0);
    assert.ok(x.confusion && x.confusion.length === 10);
  }
  const concat = main.results.find((x) => x.method === 'concat')!;
  assert.equal(concat.encoders, 'frozen');
  assert.equal(concat.robustness!.length, 4);
  assert.ok(concat.fusionParams! < concat.params);
  assert.deepEqual(r.protocol.featureDataset.modalities, { audio: { kind: 'vector', shape: [8] }, image: { kind: 'vector', shape: [8] } });
  assert.match(String(r.protocol.featureDataset.provenance.features), /frozen/);
  const e2e = r.datasets.find((d) => d.dataset === 'avmnist:end-to-end')!;
  assert.equal(e2e.results[0].encoders, 'end-to-end');
  // the result is a valid results.json
  const schema = JSON.parse(fs.readFileSync(path.resolve('schema/results.schema.json'), 'utf8'));
  const validate = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);
  assert.ok(validate(JSON.parse(JSON.stringify(r))), JSON.stringify(validate.errors));
});
