/**
 * Training and inference throughput of TFN and LMF at the configuration of the LMF paper's
 * CMU-MOSI code, against the same two models in PyTorch (bench/torch_reference.py), one
 * thread on both sides.
 *
 *   npm run bench:throughput -- [--seconds S] [--batch N] [--no-torch] [--python PATH] [--profile] [--flat] [--tfl-lstm]
 *
 * `--profile` prints kernel time per training step by kernel; `--flat` adds a table row for
 * TFN built as flat tensor layer -> tfjs Dense (the generic gradient) to show what the fused
 * layer saves; `--tfl-lstm` adds rows for both models with the text LSTM built by
 * tfl.layers.lstm instead of the library's FastLSTM (src/encoders/lstm.ts). The wasm kernel fills (src/backend/fills.ts: BatchMatMul with transposed
 * operands, Unpack, ...) are on as in the library; `MODALFUSE_NO_FILLS=1` measures without.
 *
 * Models (built from the library's layers: its TFN/LMF fusion layers, its dense/dropout
 * helpers and tfjs-layers):
 * - audio [5] and video [20]: SubNet = BatchNorm -> Dropout(0.2) -> (Linear 32 -> ReLU) x3
 *   (as in the official TFN/LMF code);
 * - text [20, 300]: TextSubNet = LSTM(64) (the library's FastLSTM, sigmoid gates as PyTorch's),
 *   last hidden state -> Dropout(0.2) -> Linear 64;
 * - TFN: [1; audio] x [1; text] x [1; video] (33 x 65 x 33 = 70,785 entries) -> 64 ReLU ->
 *   64 ReLU -> 1 (the first post-fusion layer computed inside the fused TFN layer; the official
 *   code's dropout on the fused tensor is left out on both sides);
 * - LMF: rank 4, output 64, then Linear 1.
 * Batch 32, Adam (lr 1e-3), L1 loss, random inputs and targets.
 *
 * Prints a table, then as the last stdout line one JSON object:
 * {"schemaVersion":1,"backend":"wasm","threads":N,"ours":{"tfn":{...},"lmf":{...}},
 *  "pytorch":{...}|null,"ratio":{"tfn":{"train":x,"infer":x},"lmf":{...}}|null}
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, tf, tfl, wasmThreads } from '../src/backend/index.js';
import { dense, dropout } from '../src/encoders/index.js';
import { FastLSTM } from '../src/encoders/lstm.js';
import { LowRankFusion, TensorFusion } from '../src/fusion/index.js';
import { Rng } from '../src/util/rng.js';
import { packageRoot as repoRoot } from '../src/util/package_root.js';

type Sym = tfl.SymbolicTensor;
type ModelName = 'tfn' | 'lmf';
const MODELS: ModelName[] = ['tfn', 'lmf'];

interface Speed {
  trainSamplesPerSec: number;
  inferSamplesPerSec: number;
}

export interface Args {
  seconds: number;
  batch: number;
  torch: boolean;
  python: string;
  profile: boolean;
  /** Also measure TFN as flat tensor -> tfjs Dense (the table only). */
  flat: boolean;
  /** Also measure both models with tfl.layers.lstm as the text LSTM (the table only). */
  tflLstm: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 3, batch: 32, torch: true, python: '/usr/bin/python3', profile: false, flat: false, tflLstm: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    if (k === '--seconds') a.seconds = Number(next());
    else if (k === '--batch') a.batch = Number(next());
    else if (k === '--no-torch') a.torch = false;
    else if (k === '--python') a.python = next();
    else if (k === '--profile') a.profile = true;
    else if (k === '--flat') a.flat = true;
    else if (k === '--tfl-lstm') a.tflLstm = true;
    else throw new Error(`unknown argument ${k} (use --seconds S, --batch N, --no-torch, --python PATH, --profile, --flat, --tfl-lstm)`);
  }
  if (!(a.seconds > 0) || !Number.isInteger(a.batch) || a.batch < 2) throw new Error('bad --seconds or --batch');
  return a;
}

// ---------------------------------------------------------------------------- models

export const DIMS = { audio: 5, video: 20, textSteps: 20, text: 300, hidden: 32, textHidden: 64, textOut: 64, post: 64, rank: 4, lmfOut: 64 };

function subNet(x: Sym, rng: Rng, name: string): Sym {
  let h = tfl.layers.batchNormalization({ name: `${name}_bn` }).apply(x) as Sym;
  h = dropout(h, 0.2, rng, `${name}_drop`);
  for (let i = 1; i <= 3; i++) h = dense(h, DIMS.hidden, rng, `${name}_dense${i}`, 'relu');
  return h;
}

export type LstmImpl = 'fast' | 'tfl';

function textSubNet(x: Sym, rng: Rng, lstm: LstmImpl): Sym {
  const args = {
    units: DIMS.textHidden,
    recurrentActivation: 'sigmoid' as const, // as PyTorch's LSTM (the tfjs default is hardSigmoid)
    kernelInitializer: tfl.initializers.glorotUniform({ seed: rng.seed() }),
    recurrentInitializer: tfl.initializers.glorotUniform({ seed: rng.seed() }),
    name: 'text_lstm',
  };
  let h = (lstm === 'fast' ? new FastLSTM(args) : tfl.layers.lstm(args)).apply(x) as Sym;
  h = dropout(h, 0.2, rng, 'text_drop');
  return dense(h, DIMS.textOut, rng, 'text_dense');
}

/** `tfn-flat`: TFN as flat tensor layer -> tfjs Dense (the generic gradient), for comparison. */
export function buildModel(kind: ModelName | 'tfn-flat', seed = 1, lstm: LstmImpl = 'fast'): tfl.LayersModel {
  const rng = new Rng(seed);
  const audio = tfl.input({ shape: [DIMS.audio], name: 'audio' });
  const text = tfl.input({ shape: [DIMS.textSteps, DIMS.text], name: 'text' });
  const video = tfl.input({ shape: [DIMS.video], name: 'video' });
  const hs = [subNet(audio, rng, 'audio'), textSubNet(text, rng, lstm), subNet(video, rng, 'video')];
  const modalities = ['audio', 'text', 'video'];
  let out: Sym;
  if (kind === 'tfn' || kind === 'tfn-flat') {
    let h: Sym;
    if (kind === 'tfn') {
      h = new TensorFusion({ modalities, units: DIMS.post, activation: 'relu', seed: rng.seed(), name: 'fusion_tfn' }).apply(hs) as Sym;
    } else {
      h = new TensorFusion({ modalities, seed: rng.seed(), name: 'fusion_tfn' }).apply(hs) as Sym;
      h = dense(h, DIMS.post, rng, 'post1', 'relu');
    }
    h = dense(h, DIMS.post, rng, 'post2', 'relu');
    out = dense(h, 1, rng, 'post3');
  } else {
    const h = new LowRankFusion({ modalities, rank: DIMS.rank, units: DIMS.lmfOut, seed: rng.seed(), name: 'fusion_lmf' }).apply(hs) as Sym;
    out = dense(h, 1, rng, 'out');
  }
  return tfl.model({ inputs: [audio, text, video], outputs: out, name: `bench_${kind}` });
}

// ---------------------------------------------------------------------------- measurement

function randomBatches(count: number, batch: number, seed: number): { xs: tf.Tensor[]; y: tf.Tensor }[] {
  const rng = new Rng(seed);
  const rnd = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  return Array.from({ length: count }, () => ({
    xs: [
      tf.tensor2d(rnd(batch * DIMS.audio), [batch, DIMS.audio]),
      tf.tensor3d(rnd(batch * DIMS.textSteps * DIMS.text), [batch, DIMS.textSteps, DIMS.text]),
      tf.tensor2d(rnd(batch * DIMS.video), [batch, DIMS.video]),
    ],
    y: tf.tensor2d(rnd(batch), [batch, 1]),
  }));
}

/** Runs `step` for at least `seconds` (after `warmup` runs); returns runs per second. */
function rate(step: (i: number) => void, seconds: number, warmup = 3): number {
  for (let i = 0; i < warmup; i++) step(i);
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < seconds * 1000 || n < 3) step(n++);
  return n / ((performance.now() - t0) / 1000);
}

export function measureOurs(kind: ModelName | 'tfn-flat', args: Args, lstm: LstmImpl = 'fast'): Speed {
  const model = buildModel(kind, 1, lstm);
  const batches = randomBatches(8, args.batch, 7);
  const opt = tf.train.adam(1e-3);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const trainStep = (i: number) => {
    const { xs, y } = batches[i % batches.length];
    const loss = tf.tidy(() => opt.minimize(() => tf.mean(tf.abs(tf.sub(model.apply(xs, { training: true }) as tf.Tensor, y))) as tf.Scalar, true, vars)!);
    loss.dataSync();
    loss.dispose();
  };
  const inferStep = (i: number) => {
    const y = tf.tidy(() => model.apply(batches[i % batches.length].xs, { training: false }) as tf.Tensor);
    y.dataSync();
    y.dispose();
  };
  const train = rate(trainStep, args.seconds) * args.batch;
  const infer = rate(inferStep, args.seconds) * args.batch;
  opt.dispose();
  model.dispose();
  batches.forEach((b) => tf.dispose([...b.xs, b.y]));
  return { trainSamplesPerSec: train, inferSamplesPerSec: infer };
}

/** Kernel time per training step by kernel name (tf.profile). */
async function profileOurs(kind: ModelName, args: Args): Promise<void> {
  const model = buildModel(kind);
  const [{ xs, y }] = randomBatches(1, args.batch, 7);
  const opt = tf.train.adam(1e-3);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const step = () => tf.tidy(() => {
    opt.minimize(() => tf.mean(tf.abs(tf.sub(model.apply(xs, { training: true }) as tf.Tensor, y))) as tf.Scalar, false, vars);
  });
  for (let i = 0; i < 3; i++) step();
  const info = await tf.profile(() => {
    step();
  });
  const agg = new Map<string, { n: number; ms: number }>();
  for (const k of info.kernels) {
    const a = agg.get(k.name) ?? { n: 0, ms: 0 };
    a.n++;
    a.ms += k.kernelTimeMs as number;
    agg.set(k.name, a);
  }
  const total = [...agg.values()].reduce((s, a) => s + a.ms, 0);
  console.error(`\nprofile ${kind}: ${info.kernels.length} kernels, ${total.toFixed(1)} ms kernel time per training step`);
  for (const [name, a] of [...agg.entries()].sort((p, q) => q[1].ms - p[1].ms).slice(0, 15)) {
    console.error(`  ${name.padEnd(28)} ${String(a.n).padStart(5)} calls ${a.ms.toFixed(2).padStart(9)} ms`);
  }
  opt.dispose();
  model.dispose();
  tf.dispose([...xs, y]);
}


/** The PyTorch side, or null (with the reason on stderr) when torch cannot run. */
function measureTorch(args: Args): Record<ModelName, Speed> | null {
  const script = path.join(repoRoot(), 'bench', 'torch_reference.py');
  const probe = spawnSync(args.python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    console.error(`PyTorch side skipped: ${args.python} cannot import torch (${probe.error?.message ?? probe.stderr.trim().split('\n').pop()})`);
    return null;
  }
  const r = spawnSync(args.python, [script, '--seconds', String(args.seconds), '--batch', String(args.batch)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' },
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) {
    console.error(`PyTorch side failed (exit ${r.status}): ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    return null;
  }
  const last = r.stdout.trim().split('\n').pop() ?? '';
  const parsed = JSON.parse(last) as { torch: string; threads: number; models: Record<ModelName, Speed> };
  console.error(`PyTorch ${parsed.torch}, ${parsed.threads} thread(s)`);
  return parsed.models;
}

function fmt(n: number | null | undefined, digits = 0): string {
  return n === null || n === undefined ? '-' : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const backend = await initBackend({ backend: 'wasm' });
  const threads = wasmThreads();
  console.error(`modalfuse throughput: backend ${backend}, ${threads} thread(s), batch ${args.batch}, ${args.seconds} s per measurement`);
  const ours = {} as Record<ModelName, Speed>;
  for (const m of MODELS) {
    ours[m] = measureOurs(m, args);
    console.error(`  ours ${m}: train ${fmt(ours[m].trainSamplesPerSec)} / infer ${fmt(ours[m].inferSamplesPerSec)} samples/s`);
    if (args.profile) await profileOurs(m, args);
  }
  const flat = args.flat ? measureOurs('tfn-flat', args) : null;
  if (flat) console.error(`  ours tfn as flat tensor -> Dense: train ${fmt(flat.trainSamplesPerSec)} / infer ${fmt(flat.inferSamplesPerSec)} samples/s`);
  const withTflLstm = args.tflLstm ? Object.fromEntries(MODELS.map((m) => [m, measureOurs(m, args, 'tfl')])) as Record<ModelName, Speed> : null;
  for (const m of args.tflLstm ? MODELS : []) {
    console.error(`  ours ${m} with tfl.layers.lstm: train ${fmt(withTflLstm![m].trainSamplesPerSec)} / infer ${fmt(withTflLstm![m].inferSamplesPerSec)} samples/s`);
  }
  const pytorch = args.torch ? measureTorch(args) : null;
  const ratio = pytorch
    ? (Object.fromEntries(
        MODELS.map((m) => [
          m,
          {
            train: ours[m].trainSamplesPerSec / pytorch[m].trainSamplesPerSec,
            infer: ours[m].inferSamplesPerSec / pytorch[m].inferSamplesPerSec,
          },
        ]),
      ) as Record<ModelName, { train: number; infer: number }>)
    : null;

  const rows = [['model', 'ours train/s', 'torch train/s', 'ratio', 'ours infer/s', 'torch infer/s', 'ratio']];
  for (const m of MODELS) {
    rows.push([
      m,
      fmt(ours[m].trainSamplesPerSec),
      fmt(pytorch?.[m].trainSamplesPerSec),
      fmt(ratio?.[m].train, 2),
      fmt(ours[m].inferSamplesPerSec),
      fmt(pytorch?.[m].inferSamplesPerSec),
      fmt(ratio?.[m].infer, 2),
    ]);
  }
  if (flat) {
    rows.push([
      'tfn (flat + Dense)',
      fmt(flat.trainSamplesPerSec),
      fmt(pytorch?.tfn.trainSamplesPerSec),
      pytorch ? fmt(flat.trainSamplesPerSec / pytorch.tfn.trainSamplesPerSec, 2) : '-',
      fmt(flat.inferSamplesPerSec),
      fmt(pytorch?.tfn.inferSamplesPerSec),
      pytorch ? fmt(flat.inferSamplesPerSec / pytorch.tfn.inferSamplesPerSec, 2) : '-',
    ]);
  }
  for (const m of withTflLstm ? MODELS : []) {
    const s = withTflLstm![m];
    rows.push([
      `${m} (tfl LSTM)`,
      fmt(s.trainSamplesPerSec),
      fmt(pytorch?.[m].trainSamplesPerSec),
      pytorch ? fmt(s.trainSamplesPerSec / pytorch[m].trainSamplesPerSec, 2) : '-',
      fmt(s.inferSamplesPerSec),
      fmt(pytorch?.[m].inferSamplesPerSec),
      pytorch ? fmt(s.inferSamplesPerSec / pytorch[m].inferSamplesPerSec, 2) : '-',
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  '));
  const round = (x: number) => Math.round(x * 1000) / 1000;
  const roundSpeeds = (s: Record<ModelName, Speed>) =>
    Object.fromEntries(MODELS.map((m) => [m, { trainSamplesPerSec: round(s[m].trainSamplesPerSec), inferSamplesPerSec: round(s[m].inferSamplesPerSec) }]));
  console.log(
    JSON.stringify({
      schemaVersion: 1,
      backend,
      threads,
      ours: roundSpeeds(ours),
      pytorch: pytorch ? roundSpeeds(pytorch) : null,
      ratio: ratio ? Object.fromEntries(MODELS.map((m) => [m, { train: round(ratio[m].train), infer: round(ratio[m].infer) }])) : null,
    }),
  );
}

const invokedDirectly = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
