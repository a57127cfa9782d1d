/**
 * The library and a trained model in a web page, end to end: a small model is trained and
 * saved here, served by `serveDemo`, and run in headless Chromium (Debian's package, driven
 * by playwright-core). The page's class probabilities, modality contributions and fusion
 * weights must equal the Node library's for the same inputs; switching a modality off must
 * equal Node's prediction with that modality zeroed after standardisation; a bad model
 * folder must give a readable error. Without /usr/bin/chromium the browser cases are
 * skipped with the install command (in CI, where CI is set, they fail instead).
 *
 * The server / URL-loading cases need no browser and always run.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { makeSynthetic } from '../src/datasets/synthetic.js';
import { sizeOf, type Dataset } from '../src/data/types.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { train } from '../src/train/train.js';
import { explainSample, fusionWeights, predictWithout, type Explanation } from '../src/web/explain.js';
import { serveDemo, type DemoSamples, type DemoServer } from '../src/web/server.js';
import { chromiumMissing, inCI, launchChromium, type Browser } from './browser_helpers.js';
import { maxAbsDiff, tmpDir } from './helpers.js';

interface DemoApi {
  state: 'loading' | 'ready' | 'error';
  error: string | null;
  updates: number;
  last: (Explanation & { sample: number | null; ms: number }) | null;
  whenIdle(): Promise<void>;
}
type DemoWindow = { modalfuseDemo?: DemoApi };

const TOL = 1e-4;
const METHOD = 'hybrid'; // learned source weights (early head + one head per modality)

let tmp: string;
let data: Dataset;
let modelDir: string;
let badDir: string;
let emptyDir: string;
let reportDir: string;
let node: FusionModel;

before(async () => {
  await initBackend({ backend: 'wasm' });
  tmp = tmpDir('modalfuse-browser-');
  data = makeSynthetic('redundant', { seed: 7, sizes: { train: 1000, valid: 200, test: 100 } });
  const fm = FusionModel.create(METHOD, data, { hidden: 16 }, { seed: 1, dataset: data.name });
  await train(fm, data, { epochs: 5, batchSize: 64, lr: 3e-3, seed: 1 });
  modelDir = path.join(tmp, 'model');
  await fm.save(modelDir);
  fm.dispose();
  node = await FusionModel.load(modelDir);

  // A broken folder: metadata fine, network description garbage.
  badDir = path.join(tmp, 'bad-model');
  fs.mkdirSync(badDir);
  fs.copyFileSync(path.join(modelDir, 'modalfuse.json'), path.join(badDir, 'modalfuse.json'));
  fs.writeFileSync(path.join(badDir, 'model.json'), '{"modelTopology": 42');
  emptyDir = path.join(tmp, 'empty');
  fs.mkdirSync(emptyDir);
  reportDir = path.join(tmp, 'report');
  fs.mkdirSync(reportDir);
  fs.writeFileSync(path.join(reportDir, 'index.html'), '<!doctype html><title>modalfuse benchmark</title><h1>report</h1>');
});

after(() => {
  node?.dispose();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Raw features of test row `i`, one sample per modality. */
function testRow(i: number): Record<string, Float32Array> {
  const split = data.splits.test!;
  const out: Record<string, Float32Array> = {};
  for (const [m, spec] of Object.entries(data.modalities)) {
    const size = sizeOf(spec.shape);
    out[m] = split.features[m].slice(i * size, (i + 1) * size);
  }
  return out;
}

// ------------------------------------------------------------------ no browser needed

test('serveDemo: samples, model files, report, refusals', async () => {
  const demo = await serveDemo({ modelDir, dataset: data, port: 0, reportDir });
  try {
    assert.match(demo.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const s = (await (await fetch(`${demo.url}samples?n=5`)).json()) as DemoSamples;
    assert.equal(s.samples.length, 5);
    assert.equal(s.split, 'test');
    const row = testRow(2);
    assert.deepEqual(s.samples[2].features.a, Array.from(row.a));
    assert.equal(s.samples[2].label, data.splits.test!.labels[2]);
    for (const p of ['', 'index.html', 'demo.js', 'worker.js', 'lib/modalfuse.js', 'model/modalfuse.json', 'model/model.json', 'model/weights.bin', 'report/']) {
      const r = await fetch(demo.url + p);
      assert.equal(r.status, 200, p);
      await r.arrayBuffer();
    }
    const wasm = await fetch(`${demo.url}lib/tfjs-backend-wasm-simd.wasm`);
    assert.equal(wasm.headers.get('content-type'), 'application/wasm');
    await wasm.arrayBuffer();
    assert.match(await (await fetch(`${demo.url}report/`)).text(), /modalfuse benchmark/);
    for (const p of ['model/../modalfuse.json', 'model/%2e%2e/%2e%2e/package.json', 'lib/../../package.json', 'nope.html']) {
      const r = await fetch(demo.url + p);
      assert.equal(r.status, 404, p);
      await r.arrayBuffer();
    }
    assert.equal((await fetch(`${demo.url}samples?n=-1`)).status, 400);
    const info = (await (await fetch(`${demo.url}info`)).json()) as { report: string | null };
    assert.equal(info.report, '/report/');
  } finally {
    await demo.close();
  }
  await assert.rejects(serveDemo({ modelDir: path.join(tmp, 'missing'), port: 0 }), /model folder not found/);
});

test('FusionModel.loadUrl (over HTTP) predicts exactly as FusionModel.load (from disk)', async () => {
  const demo = await serveDemo({ modelDir, port: 0 });
  try {
    const viaUrl = await FusionModel.loadUrl(`${demo.url}model/`);
    const split = data.splits.test!;
    const a = node.predict(split.features, split.n);
    const b = viaUrl.predict(split.features, split.n);
    assert.equal(maxAbsDiff(a, b), 0);
    assert.deepEqual(viaUrl.meta, node.meta);
    viaUrl.dispose();
    await assert.rejects(FusionModel.loadUrl(`${demo.url}nothing/`), /not a model folder \(modalfuse\.json: HTTP 404/);
  } finally {
    await demo.close();
  }
});

test('explainSample agrees with predict and predictWithout', () => {
  const row = testRow(0);
  const ex = explainSample(node, row);
  assert.ok(maxAbsDiff(ex.probs, node.predict(row, 1)) < 1e-6);
  for (const m of node.inputModalities) {
    const without = predictWithout(node, row, 1, [m]);
    assert.ok(Math.abs(ex.contributions[m]! - (ex.probs[ex.predicted] - without[ex.predicted])) < 1e-6, m);
  }
  const w = fusionWeights(node);
  assert.equal(w.length, 1);
  assert.deepEqual(w[0].sources, ['early', 'a', 'b']);
  assert.ok(Math.abs(w[0].values.reduce((x, y) => x + y, 0) - 1) < 1e-5);
  assert.throws(() => explainSample(node, row, ['c']), /cannot switch off a modality/);
});

// ------------------------------------------------------------------ in Chromium

const missing = chromiumMissing();
const skip = missing && !inCI() ? missing : false;

async function openDemo(browser: Browser, url: string): Promise<DemoApi> {
  await browser.page.goto(url);
  await browser.page.waitForFunction(() => {
    const d = (window as unknown as DemoWindow).modalfuseDemo;
    return !!d && d.state !== 'loading';
  }, undefined, { timeout: 60_000 });
  return browser.page.evaluate(() => (window as unknown as DemoWindow).modalfuseDemo!);
}

/** The page's latest result once every request sent so far is answered. */
async function settled(browser: Browser): Promise<DemoApi> {
  return browser.page.evaluate(async () => {
    const d = (window as unknown as DemoWindow).modalfuseDemo!;
    await d.whenIdle();
    return d;
  });
}

test('in Chromium: the page predicts as Node does, with modalities switched off, weights and contributions', { skip, timeout: 180_000 }, async () => {
  if (missing) assert.fail(`CI is set but ${missing}`);
  const demo: DemoServer = await serveDemo({ modelDir, dataset: data, port: 0, reportDir });
  const browser = await launchChromium(tmp);
  const why = () => `\npage log:\n${browser.log.join('\n')}`;
  const foreign: string[] = []; // offline: nothing but the demo server is ever asked
  browser.context.on('request', (r) => {
    if (!r.url().startsWith(demo.url) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) foreign.push(r.url());
  });
  try {
    const first = await openDemo(browser, demo.url);
    assert.equal(first.state, 'ready', `page state ${first.state}: ${first.error}${why()}`);
    assert.equal(first.last?.sample, 0);

    // Pick test sample #3 in the select list.
    const i = 3;
    await browser.page.selectOption('#sample', String(i));
    await browser.page.waitForFunction((k) => (window as unknown as DemoWindow).modalfuseDemo?.last?.sample === k, i);
    const d1 = await settled(browser);
    const row = testRow(i);
    const want = explainSample(node, row);
    const got = d1.last!;
    assert.equal(got.sample, i);
    assert.ok(maxAbsDiff(got.probs, want.probs) < TOL, `page ${got.probs} vs node ${want.probs}${why()}`);
    assert.ok(maxAbsDiff(got.probs, node.predict(row, 1)) < TOL);
    assert.equal(got.predicted, want.predicted);
    for (const m of node.inputModalities) assert.ok(Math.abs(got.contributions[m]! - want.contributions[m]!) < TOL, `contribution of ${m}`);
    assert.deepEqual(got.weights.map((w) => w.sources), want.weights.map((w) => w.sources));
    assert.ok(maxAbsDiff(got.weights[0].values, want.weights[0].values) < 1e-6);

    // What the page shows: one bar per class carrying the same probabilities.
    const shown = await browser.page.$$eval('#probs .bar', (els) => els.map((e) => Number((e as HTMLElement).dataset.prob)));
    assert.ok(maxAbsDiff(shown, want.probs) < TOL);
    assert.equal(await browser.page.locator('#weights .bar').count(), 3);
    assert.match((await browser.page.textContent('#prediction')) ?? '', /^Predicted: \d/);

    // Switch modality `a` off: the page must equal Node with `a` zeroed after standardisation.
    const before = d1.updates;
    await browser.page.uncheck('#mod-a');
    await browser.page.waitForFunction((n) => ((window as unknown as DemoWindow).modalfuseDemo?.updates ?? 0) > n, before);
    const d2 = await settled(browser);
    const off = d2.last!;
    assert.deepEqual(off.disabled, ['a']);
    const wantOff = predictWithout(node, row, 1, ['a']);
    assert.ok(maxAbsDiff(off.probs, wantOff) < TOL, `page ${off.probs} vs node ${Array.from(wantOff)}${why()}`);
    assert.ok(maxAbsDiff(off.probs, got.probs) > 1e-3, 'switching a modality off changed nothing');
    // The change shown equals Node's: p(all) - p(without a), for the class predicted with all.
    const k = want.predicted;
    assert.ok(Math.abs((got.probs[k] - off.probs[k]) - want.contributions.a!) < TOL);
    assert.equal(off.contributions.a, null);
    assert.equal((await browser.page.textContent('#contribs .bar[data-modality="a"] .val'))?.trim(), 'off');

    // Both off: Node with both zeroed.
    await browser.page.uncheck('#mod-b');
    await browser.page.waitForFunction(() => (window as unknown as DemoWindow).modalfuseDemo?.last?.disabled.length === 2);
    const both = (await settled(browser)).last!;
    assert.ok(maxAbsDiff(both.probs, predictWithout(node, row, 1, ['a', 'b'])) < TOL);
    await browser.page.check('#mod-b');
    await browser.page.waitForFunction(() => (window as unknown as DemoWindow).modalfuseDemo?.last?.disabled.length === 1);
    await settled(browser);
    const shotOff = path.join(tmp, 'demo-a-off.png');
    await browser.page.screenshot({ path: shotOff, fullPage: true });

    // Everything on again: back to the first prediction.
    await browser.page.check('#mod-a');
    await browser.page.waitForFunction(() => (window as unknown as DemoWindow).modalfuseDemo?.last?.disabled.length === 0);
    const again = (await settled(browser)).last!;
    assert.ok(maxAbsDiff(again.probs, want.probs) < TOL);
    const shot = path.join(tmp, 'demo.png');
    await browser.page.screenshot({ path: shot, fullPage: true });
    assert.ok(fs.statSync(shot).size > 10_000);
    const keep = process.env.MODALFUSE_KEEP_SCREENSHOTS; // a folder to copy the screenshots to
    if (keep) for (const f of [shot, shotOff]) fs.copyFileSync(f, path.join(keep, path.basename(f)));

    // The benchmark report opens from the demo server, and the page links to it.
    assert.equal(await browser.page.locator('#report-link').isVisible(), true);
    await browser.page.goto(`${demo.url}report/`);
    assert.equal(await browser.page.title(), 'modalfuse benchmark');
    assert.deepEqual(browser.log.filter((l) => l.startsWith('[pageerror]')), []);
    assert.deepEqual(foreign, [], 'the page asked for something outside the demo server');
  } finally {
    await browser.close();
    await demo.close();
  }
});

test('in Chromium: a bad model folder gives a readable error, not a blank page', { skip, timeout: 120_000 }, async () => {
  if (missing) assert.fail(`CI is set but ${missing}`);
  const browser = await launchChromium(tmp);
  try {
    for (const [dir, reason] of [
      [badDir, /cannot load the network/],
      [emptyDir, /not a model folder \(modalfuse\.json: HTTP 404/],
    ] as const) {
      const demo = await serveDemo({ modelDir: dir, port: 0 });
      try {
        const d = await openDemo(browser, demo.url);
        assert.equal(d.state, 'error');
        const box = browser.page.locator('#error');
        assert.equal(await box.isVisible(), true);
        const text = (await box.textContent()) ?? '';
        assert.match(text, /^Could not load the model from \/model\/: /);
        assert.match(text, reason);
        assert.equal(await browser.page.locator('#app').isVisible(), false);
        const shot = path.join(tmp, `error-${path.basename(dir)}.png`);
        await browser.page.screenshot({ path: shot });
        const keep = process.env.MODALFUSE_KEEP_SCREENSHOTS;
        if (keep) fs.copyFileSync(shot, path.join(keep, path.basename(shot)));
      } finally {
        await demo.close();
      }
    }
  } finally {
    await browser.close();
  }
});
