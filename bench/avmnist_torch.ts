/**
 * AV-MNIST end to end against PyTorch: `image-only`, `audio-only` and `lmf` trained from
 * the raw inputs with the library's defaults (exactly as `modalfuse train --dataset DIR
 * --method M --epochs E --seed S`), beside ordinary PyTorch CNNs of the same shape on the
 * same arrays and splits (bench/avmnist_torch.py, `/usr/bin/python3`, one thread).
 *
 *   npm run bench:avmnist-torch -- --data DIR [--epochs 3] [--seed 1] [--limit N]
 *       [--methods image-only,audio-only,lmf] [--set key=value ...] [--no-torch] [--python PATH]
 *
 * DIR is an AV-MNIST build (`modalfuse data build avmnist --seed 1 --out DIR`); `--limit N`
 * keeps the first N train, N/10 valid and N/5 test samples on both sides; `--set` passes a
 * method option to the library side only. The PyTorch side: one scalar mean and standard
 * deviation per modality from the training split; per modality conv 16 (3x3, padding 1) ->
 * ReLU -> max-pool 2 -> conv 32 (3x3, padding 1) -> ReLU -> max-pool 2 -> dense 64 -> ReLU;
 * head dense 64 -> ReLU -> 10; lmf of rank 4 and 64 units between them; PyTorch's default
 * initialisation; Adam (lr 1e-3, eps 1e-8), batch 64, cross-entropy, the weights of the best
 * validation epoch.
 *
 * Progress goes to stderr; a table (test accuracy per method, both sides, and the
 * difference) and, last, one JSON line to stdout:
 * {"step":"avmnist-torch","data":DIR,"epochs":E,"seed":S,"limit":N|null,"torch":version|null,
 *  "rows":[{"method":"audio-only","modalfuse":0.47,"pytorch":0.47,"diff":0.0,...}]}
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { readDatasetFolder } from '../src/data/folder.js';
import type { Dataset, SplitData, SplitName } from '../src/data/types.js';
import { evaluate } from '../src/eval/evaluate.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { train } from '../src/train/train.js';
import { packageRoot } from '../src/util/package_root.js';

interface Args {
  data: string;
  epochs: number;
  seed: number;
  limit: number | null;
  methods: string[];
  set: Record<string, string | number | boolean>;
  torch: boolean;
  python: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { data: '', epochs: 3, seed: 1, limit: null, methods: ['image-only', 'audio-only', 'lmf'], set: {}, torch: true, python: '/usr/bin/python3' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    if (k === '--data') a.data = v();
    else if (k === '--epochs') a.epochs = Number(v());
    else if (k === '--seed') a.seed = Number(v());
    else if (k === '--limit') a.limit = Number(v());
    else if (k === '--methods') a.methods = v().split(',').filter(Boolean);
    else if (k === '--python') a.python = v();
    else if (k === '--no-torch') a.torch = false;
    else if (k === '--set') {
      const [key, ...rest] = v().split('=');
      const val = rest.join('=');
      a.set[key] = val === 'true' ? true : val === 'false' ? false : val !== '' && !Number.isNaN(Number(val)) && !val.includes(',') ? Number(val) : val;
    } else throw new Error(`unknown argument ${k}`);
  }
  if (!a.data) throw new Error('--data DIR (an AV-MNIST build) is required');
  return a;
}

/** The first N train, ceil(N/10) valid and ceil(N/5) test samples (as `data build --limit`). */
function limited(data: Dataset, limit: number | null): Dataset {
  if (!limit) return data;
  const cap: Record<SplitName, number> = { train: limit, valid: Math.ceil(limit / 10), test: Math.ceil(limit / 5) };
  const splits: Partial<Record<SplitName, SplitData>> = {};
  for (const [s, sd] of Object.entries(data.splits) as [SplitName, SplitData][]) {
    if (!sd) continue;
    const n = Math.min(sd.n, cap[s]);
    const features: Record<string, Float32Array> = {};
    for (const [m, x] of Object.entries(sd.features)) features[m] = x.subarray(0, (x.length / sd.n) * n);
    splits[s] = { n, features, labels: sd.labels.subarray(0, n) };
  }
  return { ...data, splits };
}

interface Side {
  accuracy: number;
  bestEpoch: number;
  seconds: number;
  validAccuracy: number[];
}

const log = (l: string) => process.stderr.write(`${l}\n`);

async function ours(data: Dataset, method: string, a: Args): Promise<Side> {
  const fm = FusionModel.create(method, data, a.set, { seed: a.seed, dataset: data.name });
  try {
    const t0 = performance.now();
    const tr = await train(fm, data, { epochs: a.epochs, seed: a.seed, log: (l) => log(`  modalfuse ${method}: ${l}`) });
    const ev = evaluate(fm, data);
    const seconds = (performance.now() - t0) / 1000;
    log(`modalfuse ${method}: test accuracy ${ev.metrics.accuracy.toFixed(4)} (best epoch ${tr.bestEpoch}, ${seconds.toFixed(0)} s)`);
    return { accuracy: ev.metrics.accuracy, bestEpoch: tr.bestEpoch, seconds, validAccuracy: tr.history.map((h) => h.valid?.accuracy ?? NaN) };
  } finally {
    fm.dispose();
  }
}

function pytorch(a: Args): { torch: string; results: Record<string, Side> } | null {
  const probe = spawnSync(a.python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    log(`PyTorch side skipped: ${a.python} cannot import torch (${probe.error?.message ?? probe.stderr.trim().split('\n').pop()})`);
    return null;
  }
  const script = path.join(packageRoot(), 'bench', 'avmnist_torch.py');
  const argv = [script, '--data', a.data, '--methods', a.methods.join(','), '--epochs', String(a.epochs), '--seed', String(a.seed)];
  if (a.limit) argv.push('--limit', String(a.limit));
  const r = spawnSync(a.python, argv, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) {
    log(`PyTorch side failed (exit ${r.status})`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  await initBackend();
  const data = limited(readDatasetFolder(a.data), a.limit);
  const sizes = Object.fromEntries(Object.entries(data.splits).map(([s, sd]) => [s, sd!.n]));
  log(`AV-MNIST end to end: ${a.data} ${JSON.stringify(sizes)}, ${a.epochs} epochs, seed ${a.seed}`);
  const mine: Record<string, Side> = {};
  for (const m of a.methods) mine[m] = await ours(data, m, a);
  const theirs = a.torch ? pytorch(a) : null;
  const pad = (s: string, n: number) => s.padEnd(n);
  const f = (v?: number) => (v === undefined ? '-' : v.toFixed(4));
  console.log(`AV-MNIST end to end, ${a.epochs} epochs, seed ${a.seed}, ${JSON.stringify(sizes)}: test accuracy`);
  console.log(`${pad('method', 12)}${pad('modalfuse', 11)}${pad('pytorch', 11)}${pad('diff', 9)}${pad('modalfuse s', 13)}pytorch s`);
  const rows = a.methods.map((m) => {
    const t = theirs?.results[m];
    const diff = t ? mine[m].accuracy - t.accuracy : undefined;
    console.log(
      `${pad(m, 12)}${pad(f(mine[m].accuracy), 11)}${pad(f(t?.accuracy), 11)}${pad(diff === undefined ? '-' : (diff >= 0 ? '+' : '') + diff.toFixed(4), 9)}` +
        `${pad(mine[m].seconds.toFixed(0), 13)}${t ? t.seconds.toFixed(0) : '-'}`,
    );
    return {
      method: m,
      modalfuse: mine[m].accuracy,
      pytorch: t?.accuracy ?? null,
      diff: diff ?? null,
      modalfuseBestEpoch: mine[m].bestEpoch,
      pytorchBestEpoch: t?.bestEpoch ?? null,
      modalfuseSeconds: mine[m].seconds,
      pytorchSeconds: t?.seconds ?? null,
    };
  });
  console.log(JSON.stringify({ step: 'avmnist-torch', data: a.data, epochs: a.epochs, seed: a.seed, limit: a.limit, set: a.set, torch: theirs?.torch ?? null, sizes, rows }));
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
