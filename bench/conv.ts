/**
 * Convolution throughput on the wasm backend, before and after the kernel fills, with the
 * cpu backend for reference: forward conv (Conv2D), input gradient (Conv2DBackpropInput)
 * and filter gradient (Conv2DBackpropFilter), in GFLOP/s (2 * multiply-adds of the forward
 * conv, the same count for all three).
 *
 *   npm run bench:conv -- [--out FILE] [--budget SECONDS] [--max-reps N] [--no-cpu] [--shapes 1,3]
 *
 * "wasm stock" runs with the fills unregistered (the stock input gradient; the stock
 * backend has no filter gradient at all), "wasm fills" with them registered. Each
 * measurement runs the kernel as a gradient would, on fresh inputs every repetition
 * (inputs are created outside the timed region); the median time is reported. The cpu
 * reference runs at batch 4 (its filter gradient takes ~25 s per call at batch 32). Prints a
 * table, then one JSON line with every number; `--out FILE` also writes that JSON.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { tf, initBackend, wasmThreads } from '../src/backend/index.js';
import { activeFills, registerFills, unregisterFills } from '../src/backend/fills.js';

interface ConvShape {
  name: string;
  batch: number;
  h: number;
  w: number;
  inC: number;
  outC: number;
  k: number;
  stride: number;
  pad: 'same' | 'valid';
}

/** The cpu backend's filter gradient runs at ~0.01 GFLOP/s: it is measured on a smaller batch. */
const CPU_BATCH = 4;

const SHAPES: ConvShape[] = [
  { name: 'mnist conv1', batch: 32, h: 28, w: 28, inC: 1, outC: 32, k: 3, stride: 1, pad: 'same' },
  { name: 'mnist conv2', batch: 32, h: 14, w: 14, inC: 32, outC: 64, k: 3, stride: 1, pad: 'same' },
  { name: 'stem 5x5/2', batch: 32, h: 32, w: 32, inC: 1, outC: 16, k: 5, stride: 2, pad: 'same' },
  { name: 'down 3x3/2', batch: 32, h: 16, w: 16, inC: 32, outC: 64, k: 3, stride: 2, pad: 'same' },
  { name: 'deep 3x3', batch: 32, h: 7, w: 7, inC: 64, outC: 128, k: 3, stride: 1, pad: 'same' },
];

type Op = 'forward' | 'input_grad' | 'filter_grad';
const OPS: Op[] = ['forward', 'input_grad', 'filter_grad'];
const OP_LABEL: Record<Op, string> = { forward: 'forward', input_grad: 'input grad', filter_grad: 'filter grad' };
type Config = 'wasm_stock' | 'wasm_fills' | 'cpu';

interface Options {
  out?: string;
  budget: number;
  maxReps: number;
  cpu: boolean;
  shapes: number[];
}

function parseArgs(argv: string[]): Options {
  const o: Options = { budget: 0.5, maxReps: 15, cpu: true, shapes: SHAPES.map((_, i) => i) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--out') o.out = next();
    else if (a.startsWith('--out=')) o.out = a.slice(6);
    else if (a === '--budget') o.budget = Number(next());
    else if (a === '--max-reps') o.maxReps = Math.max(1, Math.floor(Number(next())));
    else if (a === '--no-cpu') o.cpu = false;
    else if (a === '--shapes') o.shapes = next().split(',').map((s) => Number(s) - 1);
    else if (a === '--help' || a === '-h') {
      console.log('usage: node dist/bench/conv.js [--out FILE] [--budget SECONDS] [--max-reps N] [--no-cpu] [--shapes 1,3]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.shapes.some((i) => !(i >= 0 && i < SHAPES.length))) throw new Error(`--shapes takes numbers 1..${SHAPES.length}`);
  return o;
}

function geometry(s: ConvShape): { x: number[]; f: number[]; dy: number[]; flops: number } {
  const info = tf.backend_util.computeConv2DInfo([s.batch, s.h, s.w, s.inC], [s.k, s.k, s.inC, s.outC], s.stride, 1, s.pad);
  const flops = 2 * s.batch * info.outHeight * info.outWidth * s.outC * s.k * s.k * s.inC;
  return { x: [s.batch, s.h, s.w, s.inC], f: [s.k, s.k, s.inC, s.outC], dy: info.outShape, flops };
}

/** The kernel call for one op, on fresh seeded inputs made by `inputs()`. */
function opCall(s: ConvShape, op: Op): { inputs: () => tf.Tensor[]; run: (t: tf.Tensor[]) => tf.Tensor } {
  const g = geometry(s);
  let seed = 1;
  const rnd = (shape: number[]): tf.Tensor => tf.randomNormal(shape, 0, 1, 'float32', seed++);
  const attrs = { strides: s.stride, pad: s.pad, dataFormat: 'NHWC', dimRoundingMode: undefined };
  switch (op) {
    case 'forward':
      return {
        inputs: () => [rnd(g.x), rnd(g.f)],
        run: ([x, f]) => tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, s.stride, s.pad),
      };
    case 'input_grad':
      return {
        inputs: () => [rnd(g.dy), rnd(g.f)],
        run: ([dy, filter]) => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter },
          { ...attrs, inputShape: g.x } as unknown as tf.NamedAttrMap) as tf.Tensor,
      };
    case 'filter_grad':
      return {
        inputs: () => [rnd(g.x), rnd(g.dy)],
        run: ([x, dy]) => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
          { ...attrs, filterShape: g.f } as unknown as tf.NamedAttrMap) as tf.Tensor,
      };
  }
}

interface Timing {
  ms: number;
  reps: number;
}

/** Median time of `run` over fresh inputs; null when the backend lacks the kernel. */
function measure(s: ConvShape, op: Op, budgetS: number, maxReps: number): Timing | null {
  const { inputs, run } = opCall(s, op);
  const once = (): number => {
    const ins = inputs();
    ins.forEach((t) => t.dataSync()); // materialise outside the timed region
    // Both backends run kernels synchronously: the result exists when run() returns.
    // (Reading it back is left out: copying a large output off the heap is not the kernel.)
    const t0 = performance.now();
    const out = run(ins);
    const dt = performance.now() - t0;
    tf.dispose([out, ...ins]);
    return dt;
  };
  let first: number;
  try {
    first = once(); // warm-up (and the probe for a missing kernel)
  } catch (e) {
    if (/not (yet )?(implemented|registered)|kernel/i.test(String(e))) return null;
    throw e;
  }
  const times: number[] = [];
  const reps = Math.max(1, Math.min(maxReps, Math.ceil((budgetS * 1000) / Math.max(first, 1e-3))));
  if (first > budgetS * 1000) times.push(first); // slow (cpu): the warm-up run counts
  else for (let i = 0; i < Math.max(3, reps); i++) times.push(once());
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], reps: times.length };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  await initBackend({ backend: 'wasm' });
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = wasmThreads();
  const configs: Config[] = opts.cpu ? ['wasm_stock', 'wasm_fills', 'cpu'] : ['wasm_stock', 'wasm_fills'];

  const results = [];
  for (const idx of opts.shapes) {
    const s = SHAPES[idx];
    const g = geometry(s);
    const row: Record<string, unknown> = {
      name: s.name,
      conv: { x: g.x, filter: g.f, dy: g.dy, stride: s.stride, pad: s.pad },
      gflop: g.flops / 1e9,
    };
    for (const op of OPS) {
      const cell: Record<string, { gflops: number | null; ms: number | null; reps: number; batch: number }> = {};
      for (const c of configs) {
        await tf.setBackend(c === 'cpu' ? 'cpu' : 'wasm');
        if (c === 'wasm_stock') unregisterFills();
        else registerFills();
        const sc = c === 'cpu' ? { ...s, batch: Math.min(s.batch, CPU_BATCH) } : s;
        const flops = geometry(sc).flops;
        const t = measure(sc, op, c === 'cpu' ? Math.min(opts.budget, 0.3) : opts.budget, opts.maxReps);
        cell[c] = t
          ? { gflops: flops / 1e9 / (t.ms / 1000), ms: t.ms, reps: t.reps, batch: sc.batch }
          : { gflops: null, ms: null, reps: 0, batch: sc.batch };
      }
      registerFills();
      row[op] = cell;
    }
    results.push(row);
    printRow(row, configs);
  }
  await tf.setBackend('wasm');
  registerFills();

  const summary = {
    bench: 'conv',
    unit: 'GFLOP/s',
    date: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    cpu_model: os.cpus()[0]?.model ?? 'unknown',
    wasm: { simd, threads },
    fills: activeFills(),
    cpu_batch: CPU_BATCH,
    results,
  };
  const json = JSON.stringify(summary);
  if (opts.out) {
    fs.mkdirSync(path.dirname(path.resolve(opts.out)), { recursive: true });
    fs.writeFileSync(opts.out, JSON.stringify(summary, null, 2) + '\n');
  }
  console.log(json);
}

let headerDone = false;
function printRow(row: Record<string, unknown>, configs: Config[]): void {
  const col = (v: string, n: number): string => v.padStart(n);
  const names: Record<Config, string> = { wasm_stock: 'wasm stock', wasm_fills: 'wasm fills', cpu: 'cpu' };
  if (!headerDone) {
    headerDone = true;
    console.log(`GFLOP/s (higher is better); "missing" = the backend has no such kernel; ` +
      `cpu measured at batch ${CPU_BATCH}`);
    console.log(`${'op'.padEnd(16)}` + configs.map((c) => col(names[c], 12)).join('') + col('fills/stock', 13));
  }
  const conv = row.conv as { x: number[]; filter: number[]; stride: number; pad: string };
  console.log(`${row.name}: x ${conv.x.join('x')} -> ${conv.filter[3]} ch, ${conv.filter[0]}x${conv.filter[1]} ` +
    `stride ${conv.stride} ${conv.pad} (${(row.gflop as number).toFixed(3)} GFLOP per call at batch ${conv.x[0]})`);
  OPS.forEach((op) => {
    const cell = row[op] as Record<Config, { gflops: number | null }>;
    const fmt = (v: number | null): string => (v === null ? 'missing' : v.toFixed(2));
    const stock = cell.wasm_stock.gflops;
    const fills = cell.wasm_fills.gflops;
    const ratio = stock && fills ? `${(fills / stock).toFixed(2)}x` : '-';
    console.log(`  ${OP_LABEL[op].padEnd(14)}` + configs.map((c) => col(fmt(cell[c].gflops), 12)).join('') + col(ratio, 13));
  });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
