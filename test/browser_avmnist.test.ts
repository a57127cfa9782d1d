/**
 * AV-MNIST-shaped models in the page: a model folder with `transforms` (a PCA basis and the
 * log-mel parameters, attached by `attachTransforms`) prepares a drawn digit and an uploaded
 * WAV in the browser exactly as Node does (`prepareImage`, `decodeWav` + `prepareAudio`).
 * The model is tiny and untrained (only its standardisation is fitted): what is checked is
 * that page and Node give the same numbers, not that they are good. Skipped without
 * /usr/bin/chromium (fails when CI is set), like test/browser.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import wavefile from 'wavefile';
import { initBackend } from '../src/backend/index.js';
import { writeNpy } from '../src/data/npy.js';
import { attachTransforms, decodeWav, modelTransforms, prepareAudio, prepareImage, AVMNIST_LOGMEL, type AvmnistTransformsInfo } from '../src/datasets/avmnist/build.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { Rng } from '../src/util/rng.js';
import { chromiumMissing, inCI, launchChromium } from './browser_helpers.js';
import { maxAbsDiff, smallDataset, tmpDir } from './helpers.js';
import { serveDemo } from '../src/web/server.js';
import type { Dataset } from '../src/data/types.js';

const TOL = 1e-4;
const K = 6;

let tmp: string;
let modelDir: string;
let wavFile: string;
let data: Dataset;
let node: FusionModel;
let pixels: Float32Array;

before(async () => {
  await initBackend({ backend: 'wasm' });
  tmp = tmpDir('modalfuse-browser-avmnist-');
  data = smallDataset(
    { image: { kind: 'image', shape: [28, 28, 1] }, audio: { kind: 'audio', shape: [AVMNIST_LOGMEL.frames, AVMNIST_LOGMEL.nMels, 1] } },
    { kind: 'classification', classes: ['0', '1', '2', '3'] },
    { train: 48, valid: 8, test: 6 },
  );
  data.name = 'avmnist';
  const fm = FusionModel.create('concat', data, { hidden: 8 }, { seed: 2, dataset: 'avmnist' });
  fm.fitPreprocessing(data.splits.train!);
  modelDir = path.join(tmp, 'model');
  await fm.save(modelDir);
  fm.dispose();

  // A data folder's preprocessing/ (random orthonormal-ish PCA basis), attached to the model.
  const rng = new Rng(5);
  const pre = path.join(tmp, 'data', 'preprocessing');
  fs.mkdirSync(pre, { recursive: true });
  const mean = Float32Array.from({ length: 784 }, () => Math.abs(rng.normal()) * 0.1);
  const comps = Float32Array.from({ length: K * 784 }, () => rng.normal() / 28);
  writeNpy(path.join(pre, 'pca_mean.npy'), mean, [784]);
  writeNpy(path.join(pre, 'pca_components.npy'), comps, [K, 784]);
  const info: AvmnistTransformsInfo = {
    schemaVersion: 1,
    dataset: 'avmnist',
    modalities: {
      image: {
        kind: 'pca-reconstruct', shape: [28, 28, 1], inputScale: 1 / 255, k: K, targetFraction: 0.25, keptFraction: 0.26, previousFraction: 0.24,
        files: { mean: 'pca_mean.npy', components: 'pca_components.npy' },
      },
      audio: { ...AVMNIST_LOGMEL, shape: [AVMNIST_LOGMEL.frames, AVMNIST_LOGMEL.nMels, 1], snrDb: -4 },
    },
  };
  fs.writeFileSync(path.join(pre, 'transforms.json'), JSON.stringify(info));
  attachTransforms(modelDir, path.join(tmp, 'data'));
  node = await FusionModel.load(modelDir);

  // A "digit": a thick ring, 0..255.
  pixels = new Float32Array(784);
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
    const r = Math.hypot(x - 13.5, y - 13.5);
    pixels[y * 28 + x] = r > 5 && r < 9 ? 255 : r > 4 && r < 10 ? 128 : 0;
  }
  // A recording: 0.5 s of a falling chirp at 11025 Hz, 16-bit (resampled to 8 kHz on the way).
  const rate = 11025;
  const samples = Int16Array.from({ length: rate / 2 }, (_, i) => Math.round(12000 * Math.sin(2 * Math.PI * (900 - 600 * (i / rate)) * (i / rate))));
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, rate, '16', samples);
  wavFile = path.join(tmp, 'chirp.wav');
  fs.writeFileSync(wavFile, wav.toBuffer());
});

after(() => {
  node?.dispose();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

const missing = chromiumMissing();
const skip = missing && !inCI() ? missing : false;

type Api = {
  state: string;
  error: string | null;
  updates: number;
  last: { probs: number[] } | null;
  whenIdle(): Promise<void>;
  explain(f: Record<string, number[]>, disabled: string[], inputs: Record<string, unknown>): Promise<{ probs: number[] }>;
};
type W = { modalfuseDemo?: Api };

test('in Chromium: a drawn digit and an uploaded WAV are prepared with the model\'s transforms exactly as in Node', { skip, timeout: 180_000 }, async () => {
  if (missing) assert.fail(`CI is set but ${missing}`);
  const t = modelTransforms(modelDir)!;
  assert.ok(t, 'transforms attached');
  const img = prepareImage(pixels, t);
  const dec = decodeWav(new Uint8Array(fs.readFileSync(wavFile)));
  // An uploaded recording gets the training noise by default (the model's SNR, seed 0: what
  // `predict --wav` does); `{ snrDb: 'none' }` / the unticked box = clean (`--wav-snr-db none`).
  const aud = prepareAudio(dec.samples, dec.sampleRate, t, { snrDb: t.modalities.audio.snrDb, seed: 0 });
  const audClean = prepareAudio(dec.samples, dec.sampleRate, t);
  const want = Array.from(node.predict({ image: img, audio: aud }, 1));
  const wantClean = Array.from(node.predict({ image: img, audio: audClean }, 1));
  assert.ok(maxAbsDiff(want, wantClean) > 1e-3, 'the noise changes the prediction');

  const demo = await serveDemo({ modelDir, dataset: data, port: 0 });
  const browser = await launchChromium(tmp);
  const why = () => `\npage log:\n${browser.log.join('\n')}`;
  try {
    await browser.page.goto(demo.url);
    await browser.page.waitForFunction(() => {
      const d = (window as unknown as W).modalfuseDemo;
      return !!d && d.state !== 'loading';
    }, undefined, { timeout: 60_000 });
    const st = await browser.page.evaluate(() => (window as unknown as W).modalfuseDemo!.state);
    assert.equal(st, 'ready', why());
    assert.equal(await browser.page.locator('#image-panel').isVisible(), true);
    assert.equal(await browser.page.locator('#audio-panel').isVisible(), true);
    assert.equal(await browser.page.locator('#draw-use').isEnabled(), true);

    // The page's API: the same raw inputs -> the same probabilities.
    const [got, gotClean] = await browser.page.evaluate(
      async ({ pixels, wav }) => {
        const d = (window as unknown as W).modalfuseDemo!;
        const image = { kind: 'image', pixels: Float32Array.from(pixels), width: 28, height: 28 };
        const r = await d.explain({}, [], { image, audio: { kind: 'audio', wav: Uint8Array.from(wav) } });
        const c = await d.explain({}, [], { image, audio: { kind: 'audio', wav: Uint8Array.from(wav), noise: { snrDb: 'none' } } });
        return [Array.from(r.probs), Array.from(c.probs)];
      },
      { pixels: Array.from(pixels), wav: Array.from(fs.readFileSync(wavFile)) },
    );
    assert.ok(maxAbsDiff(got, want) < TOL, `page ${got} vs node ${want}${why()}`);
    assert.ok(maxAbsDiff(gotClean, wantClean) < TOL, `clean: page ${gotClean} vs node ${wantClean}${why()}`);

    // The UI: upload the WAV (the image stays the selected test sample's), with the noise box ticked (the default).
    assert.equal(await browser.page.locator('#wav-noise').isChecked(), true);
    await browser.page.waitForFunction(() => /SNR \u2212\s*4 dB/.test(document.getElementById('wav-noise-label')?.textContent ?? ''));
    const before = await browser.page.evaluate(() => (window as unknown as W).modalfuseDemo!.updates);
    await browser.page.setInputFiles('#wav', wavFile);
    await browser.page.waitForFunction((n) => ((window as unknown as W).modalfuseDemo?.updates ?? 0) > n, before);
    const up = await browser.page.evaluate(async () => {
      const d = (window as unknown as W).modalfuseDemo!;
      await d.whenIdle();
      return d.last!.probs;
    });
    const row0 = data.splits.test!.features.image.slice(0, 784);
    const wantUp = Array.from(node.predict({ image: row0, audio: aud }, 1));
    assert.ok(maxAbsDiff(up, wantUp) < TOL, `upload: page ${up} vs node ${wantUp}${why()}`);
    // Untick the box: the same recording, clean.
    const n1 = await browser.page.evaluate(() => (window as unknown as W).modalfuseDemo!.updates);
    await browser.page.uncheck('#wav-noise');
    await browser.page.waitForFunction((n) => ((window as unknown as W).modalfuseDemo?.updates ?? 0) > n, n1);
    const upClean = await browser.page.evaluate(async () => {
      const d = (window as unknown as W).modalfuseDemo!;
      await d.whenIdle();
      return d.last!.probs;
    });
    const wantUpClean = Array.from(node.predict({ image: row0, audio: audClean }, 1));
    assert.ok(maxAbsDiff(upClean, wantUpClean) < TOL, `upload, no noise: page ${upClean} vs node ${wantUpClean}${why()}`);

    // The UI: draw on the canvas and predict the drawing (no error, a new prediction).
    const box = (await browser.page.locator('#draw').boundingBox())!;
    await browser.page.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.2);
    await browser.page.mouse.down();
    for (let i = 1; i <= 12; i++) await browser.page.mouse.move(box.x + box.width * (0.5 + 0.01 * i), box.y + box.height * (0.2 + 0.05 * i));
    await browser.page.mouse.up();
    const n2 = await browser.page.evaluate(() => (window as unknown as W).modalfuseDemo!.updates);
    await browser.page.click('#draw-use');
    await browser.page.waitForFunction((n) => ((window as unknown as W).modalfuseDemo?.updates ?? 0) > n, n2);
    const err = await browser.page.evaluate(() => (window as unknown as W).modalfuseDemo!.error);
    assert.equal(err, null, why());
    const shot = path.join(tmp, 'demo-avmnist.png');
    await browser.page.screenshot({ path: shot, fullPage: true });
    const keep = process.env.MODALFUSE_KEEP_SCREENSHOTS;
    if (keep) fs.copyFileSync(shot, path.join(keep, path.basename(shot)));
  } finally {
    await browser.close();
    await demo.close();
  }
});
