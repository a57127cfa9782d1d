/**
 * Inference time of one model in headless Chromium (the demo page's worker, wasm backend)
 * beside Node (wasm backend), for the same inputs.
 *
 *   node dist/bench/browser.js [--model DIR --dataset NAME|PATH] [--repeats N] [--batch N]
 *
 * Without --model it trains the browser test's model (hybrid on a small synthetic:redundant,
 * seconds). Reports, per sample: a single-sample predict (latency), and a batch of `--batch`
 * samples (throughput); in the page also the round trip main thread -> worker -> main
 * thread for one sample. Needs Debian's chromium (`apt-get install -y chromium`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backendName, initBackend } from '../src/backend/index.js';
import { loadDataset } from '../src/datasets/resolve.js';
import { makeSynthetic } from '../src/datasets/synthetic.js';
import { sizeOf, type Dataset } from '../src/data/types.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { train } from '../src/train/train.js';
import { serveDemo } from '../src/web/server.js';
import { chromiumMissing, launchChromium } from '../test/browser_helpers.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function rows(ds: Dataset, modalities: string[], n: number): Record<string, Float32Array> {
  const split = ds.splits.test ?? ds.splits.valid ?? ds.splits.train!;
  const out: Record<string, Float32Array> = {};
  for (const m of modalities) out[m] = split.features[m].slice(0, n * sizeOf(ds.modalities[m].shape));
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

function timeNode(fm: FusionModel, features: Record<string, Float32Array>, n: number, repeats: number) {
  for (let i = 0; i < Math.min(10, repeats); i++) fm.predict(features, n);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    fm.predict(features, n);
    times.push(performance.now() - t0);
  }
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  return { meanMs: mean, medianMs: median(times), p95Ms: quantile(times, 0.95), perSampleMs: mean / n };
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

type Api = {
  state: string;
  error: string | null;
  bench(f: Record<string, number[]>, n: number, repeats: number): Promise<{ meanMs: number; medianMs: number; p95Ms: number; perSampleMs: number; backend: string }>;
  predict(f: Record<string, number[]>, n: number): Promise<number[]>;
};

async function main() {
  const why = chromiumMissing();
  if (why) {
    console.error(why);
    process.exit(2);
  }
  const repeats = Number(arg('repeats') ?? 200);
  const batch = Number(arg('batch') ?? 100);
  await initBackend({ backend: 'wasm' });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modalfuse-bench-browser-'));
  try {
    let modelDir = arg('model');
    let data: Dataset;
    if (modelDir) {
      const name = arg('dataset');
      if (!name) throw new Error('--model needs --dataset NAME|PATH (the samples to time)');
      data = await loadDataset(name, { quick: true });
    } else {
      data = makeSynthetic('redundant', { seed: 7, sizes: { train: 1000, valid: 200, test: Math.max(batch, 100) } });
      const fm = FusionModel.create('hybrid', data, { hidden: 16 }, { seed: 1, dataset: data.name });
      await train(fm, data, { epochs: 5, batchSize: 64, lr: 3e-3, seed: 1 });
      modelDir = path.join(tmp, 'model');
      await fm.save(modelDir);
      fm.dispose();
    }
    const node = await FusionModel.load(modelDir);
    const one = rows(data, node.inputModalities, 1);
    const many = rows(data, node.inputModalities, batch);
    const nBatch = many[node.inputModalities[0]].length / sizeOf(data.modalities[node.inputModalities[0]].shape);

    const node1 = timeNode(node, one, 1, repeats);
    const nodeB = timeNode(node, many, nBatch, Math.max(10, Math.round(repeats / 10)));

    const demo = await serveDemo({ modelDir, dataset: data, port: 0 });
    const browser = await launchChromium(tmp);
    try {
      await browser.page.goto(demo.url);
      await browser.page.waitForFunction(() => {
        const d = (window as unknown as { modalfuseDemo?: Api }).modalfuseDemo;
        return !!d && d.state !== 'loading';
      }, undefined, { timeout: 60_000 });
      const toJson = (f: Record<string, Float32Array>) => Object.fromEntries(Object.entries(f).map(([m, v]) => [m, Array.from(v)]));
      const res = await browser.page.evaluate(
        async ({ one, many, nBatch, repeats }) => {
          const d = (window as unknown as { modalfuseDemo: Api }).modalfuseDemo;
          if (d.state !== 'ready') throw new Error(`page not ready: ${d.error}`);
          const single = await d.bench(one, 1, repeats);
          const batched = await d.bench(many, nBatch, Math.max(10, Math.round(repeats / 10)));
          for (let i = 0; i < 10; i++) await d.predict(one, 1);
          const times: number[] = [];
          let probs: number[] = [];
          for (let i = 0; i < repeats; i++) {
            const t0 = performance.now();
            probs = await d.predict(one, 1);
            times.push(performance.now() - t0);
          }
          times.sort((a, b) => a - b);
          return { single, batched, roundTripMedianMs: times[times.length >> 1], roundTripMeanMs: times.reduce((a, b) => a + b, 0) / times.length, probs, ua: navigator.userAgent };
        },
        { one: toJson(one), many: toJson(many), nBatch, repeats },
      );
      const nodeProbs = Array.from(node.predict(one, 1));
      const diff = Math.max(...nodeProbs.map((p, i) => Math.abs(p - res.probs[i])));
      const chrome = /Chrome\/([\d.]+)/.exec(res.ua)?.[1] ?? res.ua;
      const f = (x: number) => x.toFixed(3).padStart(9);
      console.log(`model: ${node.method} on ${node.meta.dataset} (${node.countParams()} parameters), inputs ${node.inputModalities.map((m) => `${m}[${data.modalities[m].shape}]`).join(' ')}`);
      console.log(`Node ${process.versions.node} (${backendName()} backend) vs Chromium ${chrome} (${res.single.backend} backend, in a Web Worker); ${repeats} repeats`);
      console.log(`max |p_browser - p_node| for the same sample: ${diff.toExponential(2)}`);
      console.log('');
      console.log(`                                         Node   Chromium   (ms per sample)`);
      console.log(`single sample, mean                 ${f(node1.meanMs)}  ${f(res.single.meanMs)}`);
      console.log(`single sample, median               ${f(node1.medianMs)}  ${f(res.single.medianMs)}`);
      console.log(`single sample, 95th percentile      ${f(node1.p95Ms)}  ${f(res.single.p95Ms)}`);
      console.log(`batch of ${String(nBatch).padEnd(4)} per sample           ${f(nodeB.perSampleMs)}  ${f(res.batched.perSampleMs)}`);
      console.log(`page round trip main->worker->main, med.        -  ${f(res.roundTripMedianMs)}`);
    } finally {
      await browser.close();
      await demo.close();
      node.dispose();
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack ?? e.message : e);
  process.exit(1);
});
