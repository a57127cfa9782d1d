/**
 * Issue 13 in the browser: dssm (RRF towers, learned gamma), ae-fusion and gan-fusion are
 * trained and saved here, served by `serveDemo`, loaded in headless Chromium with the
 * bundle's `FusionModel.loadUrl`; every output (embeddings, predictions, reconstructions,
 * discriminator logits; ae-fusion also with a modality missing) equals Node's within 1e-4.
 * Skipped without /usr/bin/chromium (fails in CI instead).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { makeSynthetic } from '../src/datasets/synthetic.js';
import { withTask } from '../src/data/with_task.js';
import { sizeOf } from '../src/data/types.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { train } from '../src/train/train.js';
import { serveDemo } from '../src/web/server.js';
import { chromiumMissing, inCI, launchChromium } from './browser_helpers.js';
import { maxAbsDiff, tmpDir } from './helpers.js';

const missing = chromiumMissing();
const skip = missing && !inCI() ? missing : false;
const base = makeSynthetic('redundant', { seed: 9, sizes: { train: 256, valid: 32, test: 8 } });
const CASES = [
  { method: 'dssm', options: { rrf: true, learnGamma: true, dim: 8 }, data: withTask(base, 'retrieval:a->b'), missing: [[]] },
  { method: 'ae-fusion', options: { latent: 8 }, data: base, missing: [[], ['a']] },
  { method: 'gan-fusion', options: { latent: 8 }, data: base, missing: [[]] },
];
let tmp: string;

before(async () => {
  await initBackend({ backend: 'wasm' });
  tmp = tmpDir('modalfuse-browser-coord-');
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('in Chromium: dssm, ae-fusion and gan-fusion give Node\'s outputs after save -> loadUrl', { skip, timeout: 180_000 }, async () => {
  if (missing) assert.fail(`CI is set but ${missing}`);
  const browser = await launchChromium(tmp);
  try {
    for (const c of CASES) {
      const fm = FusionModel.create(c.method, c.data, c.options, { seed: 2 });
      await train(fm, c.data, { epochs: 2, batchSize: 64, lr: 3e-3, seed: 1, patience: 0 });
      const dir = path.join(tmp, c.method);
      await fm.save(dir);
      const t = c.data.splits.test!;
      const features = Object.fromEntries(Object.entries(c.data.modalities).map(([m, s]) => [m, Array.from(t.features[m].subarray(0, t.n * sizeOf(s.shape)))]));
      const demo = await serveDemo({ modelDir: dir, port: 0 });
      try {
        await browser.page.goto(`${demo.url}lib/modalfuse.js`);
        for (const miss of c.missing) {
          const want = fm.predictOutputs(t.features, t.n, { missing: miss });
          const got = (await browser.page.evaluate(
            async ({ url, features, n, miss }) => {
              const mf = await import(`${url}lib/modalfuse.js`);
              await mf.initBackend();
              const m = await mf.FusionModel.loadUrl(`${url}model/`);
              const f = Object.fromEntries(Object.entries(features).map(([k, v]) => [k, Float32Array.from(v as number[])]));
              const o = m.predictOutputs(f, n, { missing: miss });
              return Object.fromEntries(Object.entries(o.values).map(([k, v]) => [k, Array.from(v as Float32Array)]));
            },
            { url: demo.url, features, n: t.n, miss },
          )) as Record<string, number[]>;
          assert.deepEqual(Object.keys(got).sort(), Object.keys(want.values).sort(), c.method);
          for (const k of Object.keys(want.values)) {
            const d = maxAbsDiff(Float32Array.from(got[k]), want.values[k]);
            assert.ok(d <= 1e-4, `${c.method} output ${k} (missing ${miss}): page vs node ${d}\n${browser.log.join('\n')}`);
          }
        }
      } finally {
        await demo.close();
        fm.dispose();
      }
    }
  } finally {
    await browser.close();
  }
});
