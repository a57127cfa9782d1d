/**
 * AV-MNIST measurements (never part of `npm test`):
 *
 *   node dist/bench/avmnist.js build [--out DIR] [--snr DB] [--limit N] [--seed S]
 *       wall time of a build (default: full 70,000 samples, into a temporary folder)
 *   node dist/bench/avmnist.js unimodal [--snr DB] [--epochs N] [--data DIR] [--json FILE]
 *       test accuracy of image-only and audio-only (default CNN encoders) on a full build
 *   node dist/bench/avmnist.js protocol [--quick] [--epochs N] [--fusion-epochs N] [--methods a,b] [--end-to-end a,b] [--json FILE]
 *       the frozen-encoder protocol (src/experiments/avmnist_protocol.ts); prints a table
 *
 * Progress goes to stderr; the table and a JSON line to stdout. Wall times are measured
 * with performance.now() around the whole step.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { buildAvmnist, loadAvmnist } from '../src/datasets/avmnist/build.js';
import { readDatasetFolder } from '../src/data/folder.js';
import type { Dataset } from '../src/data/types.js';
import { evaluate } from '../src/eval/evaluate.js';
import { runAvmnistProtocol } from '../src/experiments/avmnist_protocol.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { train } from '../src/train/train.js';

function args(argv: string[]): { cmd: string; flags: Record<string, string | true> } {
  const [cmd, ...rest] = argv;
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const next = rest[i + 1];
    if (next === undefined || next.startsWith('--')) flags[a.slice(2)] = true;
    else {
      flags[a.slice(2)] = next;
      i++;
    }
  }
  return { cmd: cmd ?? 'help', flags };
}

const log = (l: string) => process.stderr.write(`${l}\n`);
const num = (v: string | true | undefined): number | undefined => (typeof v === 'string' ? Number(v) : undefined);
const list = (v: string | true | undefined): string[] | undefined => (typeof v === 'string' ? v.split(',').filter(Boolean) : undefined);

async function main(): Promise<void> {
  const { cmd, flags } = args(process.argv.slice(2));
  if (cmd === 'build') {
    const out = typeof flags.out === 'string' ? flags.out : fs.mkdtempSync(path.join(os.tmpdir(), 'avmnist-bench-'));
    const t0 = performance.now();
    const ds = await buildAvmnist({ out, snrDb: num(flags.snr), limit: num(flags.limit), seed: num(flags.seed), log });
    const secs = (performance.now() - t0) / 1000;
    console.log(`build: ${secs.toFixed(1)} s wall (${ds.splits.train!.n}/${ds.splits.valid!.n}/${ds.splits.test!.n}) -> ${out}`);
    console.log(JSON.stringify({ step: 'build', seconds: secs, out, provenance: ds.provenance }));
    if (typeof flags.out !== 'string') fs.rmSync(out, { recursive: true, force: true });
    return;
  }
  await initBackend();
  if (cmd === 'unimodal') {
    const t0 = performance.now();
    const data: Dataset = typeof flags.data === 'string' ? readDatasetFolder(flags.data) : await loadAvmnist({ snrDb: num(flags.snr), log });
    log(`data ready in ${((performance.now() - t0) / 1000).toFixed(1)}s (snr ${(data.provenance as { audio: { snrDb: number } }).audio.snrDb} dB)`);
    const rows: Record<string, unknown>[] = [];
    for (const m of list(flags.methods) ?? ['image-only', 'audio-only']) {
      const fm = FusionModel.create(m, data, {}, { seed: 1 });
      const ts = performance.now();
      const tr = await train(fm, data, { epochs: num(flags.epochs) ?? 8, patience: num(flags.patience) ?? 3, log: (l) => log(`  ${m}: ${l}`) });
      const secs = (performance.now() - ts) / 1000;
      const ev = evaluate(fm, data);
      rows.push({ method: m, accuracy: ev.metrics.accuracy, f1: ev.metrics.f1, epochs: tr.epochsRun, bestEpoch: tr.bestEpoch, seconds: secs });
      console.log(`${m}: test accuracy ${ev.metrics.accuracy.toFixed(4)} (${tr.epochsRun} epochs, best ${tr.bestEpoch}, ${secs.toFixed(0)} s)`);
      fm.dispose();
    }
    const json = { step: 'unimodal', snrDb: (data.provenance as { audio: { snrDb: number } }).audio.snrDb, rows };
    if (typeof flags.json === 'string') fs.writeFileSync(flags.json, JSON.stringify(json, null, 2));
    console.log(JSON.stringify(json));
    return;
  }
  if (cmd === 'protocol') {
    const r = await runAvmnistProtocol({
      quick: !!flags.quick,
      unimodalEpochs: num(flags.epochs),
      fusionEpochs: num(flags['fusion-epochs']),
      methods: list(flags.methods),
      endToEnd: list(flags['end-to-end']),
      modalityDropout: num(flags['modality-dropout']),
      log,
    });
    const pad = (s: string, n: number) => s.padEnd(n);
    console.log(`AV-MNIST protocol (${r.options.quick ? 'quick' : 'full'}): ${JSON.stringify(r.protocol.sizes)}, ${r.totalSeconds!.toFixed(0)} s total, unimodal ${r.protocol.unimodalSeconds.toFixed(0)} s`);
    console.log(`${pad('method', 16)}${pad('encoders', 12)}${pad('accuracy', 10)}${pad('f1', 8)}${pad('params', 10)}${pad('MFLOP', 8)}${pad('train s', 9)}audio missing / image missing`);
    for (const d of r.datasets) {
      for (const x of d.results) {
        const miss = (m: string) => x.robustness?.find((e) => e.modality === m && e.corruption === 'missing')?.metrics.accuracy;
        const f = (v?: number) => (v === undefined ? '-' : v.toFixed(3));
        console.log(
          `${pad(x.method, 16)}${pad(x.encoders, 12)}${pad(x.metrics.accuracy.toFixed(4), 10)}${pad(x.metrics.f1.toFixed(3), 8)}${pad(String(x.params), 10)}${pad((x.flopsPerSample / 1e6).toFixed(2), 8)}${pad(x.trainSeconds.toFixed(1), 9)}${f(miss('audio'))} / ${f(miss('image'))}`,
        );
      }
    }
    if (typeof flags.json === 'string') fs.writeFileSync(flags.json, JSON.stringify(r, null, 2));
    console.log(JSON.stringify({ step: 'protocol', totalSeconds: r.totalSeconds, results: r.datasets.map((d) => ({ dataset: d.dataset, results: d.results.map((x) => ({ method: x.method, encoders: x.encoders, accuracy: x.metrics.accuracy })) })) }));
    return;
  }
  console.log('usage: node dist/bench/avmnist.js build|unimodal|protocol [flags] (see the file comment)');
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
