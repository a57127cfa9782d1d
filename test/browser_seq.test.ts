/**
 * Sequence fusion models in a web page (issue 12): mfn, graph-mfn, dfg and modal-attention
 * models, saved here, are loaded by the browser bundle over HTTP (`FusionModel.loadUrl`) in
 * headless Chromium and give the Node outputs, the explanation outputs and the valid
 * lengths included. Skipped without /usr/bin/chromium (failed in CI), as test/browser.test.ts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { train } from '../src/train/train.js';
import { serveDemo } from '../src/web/server.js';
import { chromiumMissing, inCI, launchChromium } from './browser_helpers.js';
import { maxAbsDiff, smallDataset, tmpDir } from './helpers.js';

const missing = chromiumMissing();
const skip = missing && !inCI() ? missing : false;
const SEQ = { a: { kind: 'sequence' as const, shape: [6, 3] }, b: { kind: 'sequence' as const, shape: [6, 2] } };
const TINY_MFN = { lstmHidden: 4, memory: 6, attHidden: [5, 4], gammaHidden: [5, 3], outHidden: 4 };
let tmp: string;

before(async () => {
  await initBackend({ backend: 'wasm' });
  tmp = tmpDir('modalfuse-browser-seq-');
});

after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('in Chromium: mfn, graph-mfn, dfg and modal-attention models saved in Node give the same outputs in the page', { skip, timeout: 240_000 }, async () => {
  if (missing) assert.fail(`CI is set but ${missing}`);
  const data = smallDataset(SEQ, { kind: 'classification', classes: ['0', '1', '2'] }, { train: 24, valid: 8, test: 6 });
  const t = data.splits.test!;
  const lengths = { a: Int32Array.from([6, 5, 4, 3, 2, 1]), b: Int32Array.from([1, 3, 6, 6, 2, 4]) };
  const browser = await launchChromium(tmp);
  try {
    for (const method of ['mfn', 'graph-mfn', 'dfg', 'modal-attention']) {
      const fm = FusionModel.create(method, { task: data.task, modalities: data.modalities }, method.endsWith('mfn') ? TINY_MFN : { hidden: 4 }, { seed: 3 });
      await train(fm, data, { epochs: 1, batchSize: 8 });
      const dir = path.join(tmp, method);
      await fm.save(dir);
      const want = fm.predictOutputs(t.features, t.n, { lengths }).values;
      fm.dispose();
      const demo = await serveDemo({ modelDir: dir, dataset: data, port: 0 });
      try {
        await browser.page.goto(`${demo.url}model/modalfuse.json`);
        const got = await browser.page.evaluate(
          async ({ features, lengths, n }) => {
            const bundle = '/lib/modalfuse.js';
            const mf = await import(bundle);
            await mf.initBackend();
            const m = await mf.FusionModel.loadUrl('/model/');
            const f = Object.fromEntries(Object.entries(features).map(([k, v]) => [k, Float32Array.from(v as number[])]));
            const l = Object.fromEntries(Object.entries(lengths).map(([k, v]) => [k, Int32Array.from(v as number[])]));
            const o = m.predictOutputs(f, n, { lengths: l });
            return Object.fromEntries(Object.entries(o.values as Record<string, Float32Array>).map(([k, v]) => [k, Array.from(v)]));
          },
          {
            features: Object.fromEntries(Object.entries(t.features).map(([k, v]) => [k, Array.from(v)])),
            lengths: Object.fromEntries(Object.entries(lengths).map(([k, v]) => [k, Array.from(v)])),
            n: t.n,
          },
        );
        assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), method);
        for (const k of Object.keys(want)) assert.ok(maxAbsDiff(got[k], want[k]) < 1e-4, `${method} output ${k}: page ${got[k]} vs node ${Array.from(want[k])}\n${browser.log.join('\n')}`);
      } finally {
        await demo.close();
      }
    }
  } finally {
    await browser.close();
  }
});
