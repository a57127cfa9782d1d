/**
 * Backend selection, the wasm kernel fills (compared against the cpu backend), gradients
 * that need them, and the file IO handler.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tf, tfl, initBackend, backendName } from '../src/backend/index.js';
import { activeFills, registerFills, setBackpropInputStrategy, unregisterFills } from '../src/backend/fills.js';
import { fileHandler } from '../src/backend/file_io.js';
import { ModalfuseError } from '../src/errors.js';

delete process.env.MODALFUSE_BACKEND;
delete process.env.MODALFUSE_NO_FILLS;

const TOL = 1e-4;
type Shape4 = [number, number, number, number];

interface Result {
  shape: number[];
  values: Float32Array | Int32Array | Uint8Array;
}

/** Runs `f` on one backend inside tidy and reads the result back. */
async function on(backend: 'cpu' | 'wasm', f: () => tf.Tensor): Promise<Result> {
  await tf.setBackend(backend);
  const t = tf.tidy(f);
  const values = t.dataSync().slice();
  const shape = t.shape.slice();
  t.dispose();
  return { shape, values };
}

/** max |a - b| <= tol * max(1, max |a|): float32 sums of many terms differ in the last bits. */
function assertClose(a: Result, b: Result, what: string, tol = TOL): void {
  assert.deepEqual(b.shape, a.shape, `${what}: shape`);
  let maxDiff = 0;
  let scale = 1;
  for (let i = 0; i < a.values.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a.values[i] - b.values[i]));
    scale = Math.max(scale, Math.abs(a.values[i]));
  }
  assert.ok(maxDiff <= tol * scale, `${what}: max |cpu - wasm| = ${maxDiff} (scale ${scale})`);
}

async function compare(f: () => tf.Tensor, what: string, tol = TOL): Promise<void> {
  const a = await on('cpu', f);
  const b = await on('wasm', f);
  assertClose(a, b, what, tol);
}

/** Deterministic data: seeded normal values, independent of the backend. */
const rnd = (shape: number[], seed: number): tf.Tensor => tf.randomNormal(shape, 0, 1, 'float32', seed);

/** Runs a kernel on wasm and checks that neither engine tensors nor wasm buffers leak. */
async function assertNoLeak(run: () => tf.Tensor | tf.Tensor[], what: string): Promise<void> {
  await tf.setBackend('wasm');
  const inputsMade = tf.tidy(() => run()); // warm-up (operator caches etc.)
  tf.dispose(inputsMade);
  const tensors = tf.memory().numTensors;
  const buffers = tf.backend().numDataIds();
  tf.dispose(tf.tidy(() => run()));
  assert.equal(tf.memory().numTensors, tensors, `${what}: engine tensors leaked`);
  assert.equal(tf.backend().numDataIds(), buffers, `${what}: wasm buffers leaked`);
}

const indexUrl = new URL('../src/backend/index.js', import.meta.url).href;

async function backendInFreshProcess(env: Record<string, string | undefined>): Promise<string> {
  const script = `import(${JSON.stringify(indexUrl)}).then((m) => m.initBackend()).then(` +
    `(n) => console.log('BACKEND=' + n), (e) => console.log('ERROR=' + e.name));`;
  const childEnv = { ...process.env, ...env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k];
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
    env: childEnv,
    cwd: path.dirname(fileURLToPath(import.meta.url)),
  });
  const line = stdout.split('\n').find((l) => l.startsWith('BACKEND=') || l.startsWith('ERROR='));
  return line ?? stdout;
}

// ---------------------------------------------------------------------------------------
// Backend selection (the first initBackend call of this process must come first).

test('initBackend() with no arguments picks wasm (tfjs-node is not installed)', async () => {
  const name = await initBackend();
  assert.equal(name, 'wasm');
  assert.equal(backendName(), 'wasm');
  assert.deepEqual(activeFills().sort(),
    ['BatchMatMul', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Slice', 'SplitV', 'Tanh', 'Unpack', 'UnsortedSegmentSum']);
});

test('{backend: "cpu"} selects cpu, and wasm again after', async () => {
  assert.equal(await initBackend({ backend: 'cpu' }), 'cpu');
  assert.equal(tf.getBackend(), 'cpu');
  assert.equal(await initBackend({ backend: 'wasm' }), 'wasm');
  assert.equal(tf.getBackend(), 'wasm');
});

test('MODALFUSE_BACKEND=cpu selects cpu', async () => {
  process.env.MODALFUSE_BACKEND = 'cpu';
  try {
    assert.equal(await initBackend(), 'cpu');
    assert.equal(tf.getBackend(), 'cpu');
  } finally {
    delete process.env.MODALFUSE_BACKEND;
    await initBackend({ backend: 'wasm' });
  }
  // and in a fresh process, where it decides the first initialisation
  assert.equal(await backendInFreshProcess({ MODALFUSE_BACKEND: 'cpu' }), 'BACKEND=cpu');
  assert.equal(await backendInFreshProcess({ MODALFUSE_BACKEND: undefined }), 'BACKEND=wasm');
});

test('an unknown backend name throws ModalfuseError', async () => {
  await assert.rejects(initBackend({ backend: 'nope' as never }), ModalfuseError);
  process.env.MODALFUSE_BACKEND = 'bogus';
  try {
    await assert.rejects(initBackend(), (e: unknown) => e instanceof ModalfuseError && /bogus/.test(String(e)));
  } finally {
    delete process.env.MODALFUSE_BACKEND;
  }
  assert.equal(await backendInFreshProcess({ MODALFUSE_BACKEND: 'bogus' }), 'ERROR=ModalfuseError');
  assert.equal(await initBackend({ backend: 'wasm' }), 'wasm');
});

test('registerFills is idempotent and unregisterFills restores the stock kernels', async () => {
  await initBackend({ backend: 'wasm' });
  const overridden = ['Conv2DBackpropInput', 'BatchMatMul', 'Unpack', 'Slice', 'SplitV', 'Tanh'];
  const ours = overridden.map((k) => tf.getKernel(k, 'wasm'));
  registerFills();
  registerFills();
  assert.deepEqual(overridden.map((k) => tf.getKernel(k, 'wasm')), ours);
  unregisterFills();
  try {
    assert.deepEqual(activeFills(), []);
    assert.equal(tf.getKernel('Conv2DBackpropFilter', 'wasm'), undefined);
    assert.equal(tf.getKernel('UnsortedSegmentSum', 'wasm'), undefined);
    overridden.forEach((k, i) => {
      assert.notEqual(tf.getKernel(k, 'wasm'), undefined, `${k}: stock kernel restored`);
      assert.notEqual(tf.getKernel(k, 'wasm'), ours[i], `${k}: stock kernel restored`);
    });
    // the stock matMul still works after the swap back
    assert.deepEqual(Array.from(tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).dataSync()), [11]);
  } finally {
    registerFills();
  }
  assert.deepEqual(overridden.map((k) => tf.getKernel(k, 'wasm')), ours);
  assert.equal(tf.getKernel('Conv2DBackpropFilter', 'cpu')?.backendName, 'cpu'); // cpu untouched
});

// ---------------------------------------------------------------------------------------
// Conv gradient kernels against the cpu backend.

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  x: Shape4; // NHWC
  f: Shape4; // [fh, fw, inC, outC]
  s: number | [number, number];
  pad: Pad;
}

const CASES: ConvCase[] = [
  { x: [2, 8, 8, 1], f: [3, 3, 1, 4], s: 1, pad: 'same' },
  { x: [2, 8, 8, 1], f: [3, 3, 1, 4], s: 2, pad: 'same' },
  { x: [2, 7, 9, 3], f: [3, 3, 3, 5], s: 1, pad: 'valid' },
  { x: [2, 9, 7, 3], f: [3, 3, 3, 5], s: 2, pad: 'valid' },
  { x: [2, 8, 8, 8], f: [3, 3, 8, 6], s: 1, pad: 'same' },
  { x: [2, 9, 9, 8], f: [3, 3, 8, 6], s: 2, pad: 'same' },
  { x: [1, 10, 10, 16], f: [5, 5, 16, 4], s: 2, pad: 'same' },
  { x: [2, 6, 6, 16], f: [1, 1, 16, 8], s: 2, pad: 'valid' },
  { x: [2, 8, 7, 4], f: [4, 2, 4, 3], s: [2, 1], pad: 'same' },
  { x: [2, 8, 8, 4], f: [3, 3, 4, 4], s: 1, pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [2, 8, 8, 4], f: [3, 3, 4, 4], s: 2, pad: [[0, 0], [4, 2], [3, 1], [0, 0]] },
  { x: [2, 11, 9, 6], f: [5, 5, 6, 5], s: 3, pad: 'same' },
];

function label(c: ConvCase): string {
  return `x[${c.x}] f[${c.f}] s${JSON.stringify(c.s)} ${JSON.stringify(c.pad)}`;
}

function dyShapeOf(c: ConvCase): number[] {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.f, c.s, 1, c.pad);
  return info.outShape;
}

function backpropInput(c: ConvCase, seed = 1): tf.Tensor {
  return tf.engine().runKernel('Conv2DBackpropInput', { dy: rnd(dyShapeOf(c), seed), filter: rnd(c.f, seed + 1) }, {
    strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

function backpropFilter(c: ConvCase, seed = 1): tf.Tensor {
  return tf.engine().runKernel('Conv2DBackpropFilter', { x: rnd(c.x, seed + 2), dy: rnd(dyShapeOf(c), seed) }, {
    strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
}

test('Conv2DBackpropInput: wasm matches cpu (both formulations and the automatic choice)', async () => {
  await initBackend({ backend: 'wasm' });
  try {
    for (const strategy of ['auto', 'conv', 'col2im'] as const) {
      setBackpropInputStrategy(strategy);
      for (const c of CASES) await compare(() => backpropInput(c), `dx ${strategy} ${label(c)}`);
    }
  } finally {
    setBackpropInputStrategy('auto');
  }
});

test('Conv2DBackpropFilter: wasm matches cpu', async () => {
  for (const c of CASES) await compare(() => backpropFilter(c), `dW ${label(c)}`);
});

test('conv gradient kernels handle dataFormat NCHW', async () => {
  const attrs = { strides: 2, pad: 'same', dataFormat: 'NCHW' };
  await compare(() => tf.engine().runKernel('Conv2DBackpropInput', { dy: rnd([2, 4, 4, 4], 1), filter: rnd([3, 3, 3, 4], 2) },
    { ...attrs, inputShape: [2, 3, 7, 7] } as unknown as tf.NamedAttrMap) as tf.Tensor, 'dx NCHW');
  await compare(() => tf.engine().runKernel('Conv2DBackpropFilter', { x: rnd([2, 3, 7, 7], 3), dy: rnd([2, 4, 4, 4], 1) },
    { ...attrs, filterShape: [3, 3, 3, 4] } as unknown as tf.NamedAttrMap) as tf.Tensor, 'dW NCHW');
});

test('conv gradient kernels honour dilations (against the zero-inserted filter on cpu)', async () => {
  // The tfjs gradient kernels carry no dilations; ours accept them. A dilated conv equals a
  // plain conv with the filter spread out by zeros, which the cpu kernels can compute.
  const x: Shape4 = [2, 10, 9, 3];
  const f: Shape4 = [3, 2, 3, 5];
  const [dh, dw] = [2, 3];
  const ef: Shape4 = [(f[0] - 1) * dh + 1, (f[1] - 1) * dw + 1, f[2], f[3]];
  for (const pad of ['same', 'valid'] as const) {
    const dyShape = tf.backend_util.computeConv2DInfo(x, f, 1, [dh, dw], pad).outShape;
    const spread = (): tf.Tensor => {
      const w = rnd(f, 2).arraySync() as number[][][][];
      const b = tf.buffer(ef);
      for (let i = 0; i < f[0]; i++) for (let j = 0; j < f[1]; j++) for (let c = 0; c < f[2]; c++) {
        for (let o = 0; o < f[3]; o++) b.set(w[i][j][c][o], i * dh, j * dw, c, o);
      }
      return b.toTensor();
    };
    const refDx = await on('cpu', () => tf.engine().runKernel('Conv2DBackpropInput', { dy: rnd(dyShape, 1), filter: spread() },
      { strides: 1, pad, dataFormat: 'NHWC', inputShape: x } as unknown as tf.NamedAttrMap) as tf.Tensor);
    const refDw = await on('cpu', () => tf.stridedSlice(tf.engine().runKernel('Conv2DBackpropFilter',
      { x: rnd(x, 3), dy: rnd(dyShape, 1) }, { strides: 1, pad, dataFormat: 'NHWC', filterShape: ef } as unknown as tf.NamedAttrMap) as tf.Tensor,
    [0, 0, 0, 0], ef, [dh, dw, 1, 1]));
    for (const strategy of ['conv', 'col2im'] as const) {
      setBackpropInputStrategy(strategy);
      const dx = await on('wasm', () => tf.engine().runKernel('Conv2DBackpropInput', { dy: rnd(dyShape, 1), filter: rnd(f, 2) },
        { strides: 1, pad, dataFormat: 'NHWC', inputShape: x, dilations: [dh, dw] } as unknown as tf.NamedAttrMap) as tf.Tensor);
      assertClose(refDx, dx, `dilated dx ${strategy} ${pad}`);
    }
    setBackpropInputStrategy('auto');
    const dW = await on('wasm', () => tf.engine().runKernel('Conv2DBackpropFilter', { x: rnd(x, 3), dy: rnd(dyShape, 1) },
      { strides: 1, pad, dataFormat: 'NHWC', filterShape: f, dilations: [dh, dw] } as unknown as tf.NamedAttrMap) as tf.Tensor);
    assertClose(refDw, dW, `dilated dW ${pad}`);
  }
});

test('a batch larger than one im2col chunk gives the same result', async () => {
  // 40 items x 24*24 positions x 3*3*16 taps > 2^24 floats: split into chunks.
  const c: ConvCase = { x: [40, 24, 24, 16], f: [3, 3, 16, 2], s: 1, pad: 'same' };
  await compare(() => backpropFilter(c), 'dW chunked', 2e-4);
  setBackpropInputStrategy('col2im');
  try {
    await compare(() => backpropInput(c), 'dx col2im chunked');
  } finally {
    setBackpropInputStrategy('auto');
  }
});

// ---------------------------------------------------------------------------------------
// UnsortedSegmentSum.

test('UnsortedSegmentSum: wasm matches cpu for 1-D ids (repeats, gaps, out-of-range ids)', async () => {
  const ids = (): tf.Tensor1D => tf.tensor1d([0, 2, 2, 7, 1, -1, 0, 3, 6, 6], 'int32');
  await compare(() => tf.unsortedSegmentSum(rnd([10, 3, 4], 5), ids(), 6), 'uss rank-3 data');
  await compare(() => tf.unsortedSegmentSum(rnd([10], 6), ids(), 9), 'uss 1-D data');
  await compare(() => tf.unsortedSegmentSum(rnd([10, 5], 7), ids(), 1), 'uss one segment');
  await compare(() => tf.unsortedSegmentSum(rnd([10, 5], 7), ids(), 20), 'uss many empty segments');
});

test('UnsortedSegmentSum: multi-dimensional segment ids', async () => {
  // The cpu kernel broadcasts N-D ids wrongly, so the reference flattens the id dims.
  const idsData = [[0, 2, 2, 4], [1, 5, 0, 3]];
  const ref = await on('cpu', () =>
    tf.reshape(tf.unsortedSegmentSum(tf.reshape(rnd([2, 4, 3, 5], 8), [8, 15]), tf.tensor1d(idsData.flat(), 'int32'), 5), [5, 3, 5]));
  const got = await on('wasm', () => tf.unsortedSegmentSum(rnd([2, 4, 3, 5], 8), tf.tensor2d(idsData, [2, 4], 'int32') as unknown as tf.Tensor1D, 5));
  assertClose(ref, got, 'uss 2-D ids');
  // ids covering all of x: out[s] = sum of x where ids == s
  const x = [[1, 2, 3], [4, 5, 6]];
  const out = await on('wasm', () => tf.unsortedSegmentSum(tf.tensor2d(x), tf.tensor2d([[0, 1, 0], [2, 1, 9]], [2, 3], 'int32') as unknown as tf.Tensor1D, 3));
  assert.deepEqual(out.shape, [3]);
  assert.deepEqual(Array.from(out.values), [4, 7, 4]);
});

// ---------------------------------------------------------------------------------------
// Gradients that go through the filled kernels.

test('gradient of a tf.layers conv2d model w.r.t. its kernels and its input: wasm equals cpu', async () => {
  await tf.setBackend('wasm');
  const model = tfl.sequential({
    layers: [
      tfl.layers.conv2d({ inputShape: [9, 9, 3], filters: 6, kernelSize: 3, strides: 2, padding: 'same',
        activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
      tfl.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'valid', activation: 'tanh',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
      tfl.layers.flatten(),
      tfl.layers.dense({ units: 2, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }),
    ],
  });
  const kernels = model.layers.slice(0, 2).map((l) => l.getWeights()[0]);
  const loss = (x: tf.Tensor): tf.Scalar => tf.sum(tf.square(model.apply(x) as tf.Tensor));
  const input = (): tf.Tensor => rnd([3, 9, 9, 3], 11);
  await compare(() => tf.grad(loss)(input()), 'd loss / d input');
  for (const [i, k] of kernels.entries()) {
    const variable = model.layers[i].trainableWeights[0].read() as tf.Variable;
    assert.equal(variable.shape.join(), k.shape.join());
    await compare(() => {
      const { grads } = tf.variableGrads(() => loss(input()), [variable]);
      return grads[variable.name];
    }, `d loss / d kernel ${i}`);
  }
  model.dispose();
});

test('gradient of tf.gather w.r.t. params: wasm equals cpu', async () => {
  const params = (): tf.Tensor => rnd([10, 6], 12);
  const w = (shape: number[]): tf.Tensor => rnd(shape, 13);
  await compare(() => tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.gather(p, tf.tensor2d([[1, 3], [3, 9], [0, 1]], [3, 2], 'int32')),
    w([3, 2, 6]))))(params()), 'gather axis 0');
  await compare(() => tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.gather(p, tf.tensor1d([5, 0, 5, 2], 'int32'), 1),
    w([10, 4]))))(params()), 'gather axis 1');
  // and an embedding layer's gradient, the usual route to it
  await tf.setBackend('wasm');
  const emb = tfl.layers.embedding({ inputDim: 10, outputDim: 4, embeddingsInitializer: tfl.initializers.randomNormal({ seed: 4 }) });
  emb.apply(tf.zeros([1, 1]));
  const table = emb.trainableWeights[0].read() as tf.Variable;
  await compare(() => {
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.square(emb.apply(tf.tensor2d([[1, 2, 2], [9, 0, 1]], [2, 3], 'int32')) as tf.Tensor)), [table]);
    return grads[table.name];
  }, 'embedding table');
});

// ---------------------------------------------------------------------------------------
// BatchMatMul and Unpack.

/** tf.matMul of seeded operands; shapes are the stored ones (transposed where asked). */
function matMulCase(aShape: number[], bShape: number[], tA: boolean, tB: boolean, seed = 1): tf.Tensor {
  return tf.matMul(rnd(aShape, seed), rnd(bShape, seed + 1), tA, tB);
}

/** Stored shapes of a [..., m, k] x [..., k, n] product with the given transposes. */
function stored(aOuter: number[], bOuter: number[], m: number, k: number, n: number, tA: boolean, tB: boolean): [number[], number[]] {
  return [[...aOuter, ...(tA ? [k, m] : [m, k])], [...bOuter, ...(tB ? [n, k] : [k, n])]];
}

const TRANSPOSES: Array<[boolean, boolean]> = [[false, false], [false, true], [true, false], [true, true]];

// Sizes on both sides of the fill's 32^3 threshold (tiny products run the stock loop), m < n
// and m > n (A B^T is computed either way round), batch dims shared, broadcast or on one side.
const MATMUL_CASES: Array<{ aOuter: number[]; bOuter: number[]; m: number; k: number; n: number }> = [
  { aOuter: [], bOuter: [], m: 40, k: 33, n: 30 },
  { aOuter: [], bOuter: [], m: 8, k: 70, n: 64 },
  { aOuter: [], bOuter: [], m: 5, k: 7, n: 3 },
  { aOuter: [1], bOuter: [1], m: 32, k: 40, n: 50 },
  { aOuter: [3], bOuter: [], m: 40, k: 33, n: 30 },
  { aOuter: [3], bOuter: [1], m: 6, k: 70, n: 100 },
  { aOuter: [4], bOuter: [], m: 5, k: 7, n: 3 },
  { aOuter: [], bOuter: [3], m: 40, k: 33, n: 30 },
  { aOuter: [1], bOuter: [4], m: 5, k: 7, n: 3 },
  { aOuter: [3], bOuter: [3], m: 40, k: 33, n: 30 },
  { aOuter: [4], bOuter: [4], m: 5, k: 7, n: 3 },
  { aOuter: [2, 3], bOuter: [3], m: 36, k: 33, n: 30 },
  { aOuter: [2, 3], bOuter: [2, 3], m: 36, k: 33, n: 30 },
  { aOuter: [1, 1], bOuter: [2, 1, 1], m: 32, k: 33, n: 34 },
];

test('BatchMatMul: wasm matches cpu for all four transpose combinations, batches and broadcasting', async () => {
  await initBackend({ backend: 'wasm' });
  for (const c of MATMUL_CASES) {
    for (const [tA, tB] of TRANSPOSES) {
      const [as, bs] = stored(c.aOuter, c.bOuter, c.m, c.k, c.n, tA, tB);
      await compare(() => matMulCase(as, bs, tA, tB), `matMul [${as}]${tA ? 'T' : ''} x [${bs}]${tB ? 'T' : ''}`);
    }
  }
});

test('BatchMatMul: general broadcasting of batch dims (against tiled operands on cpu)', async () => {
  // [2, 1] x [1, 3] batch dims: the cpu kernel indexes broadcast batches modulo their count,
  // right only when one side has a single item, so the reference tiles the operands first.
  for (const [m, k, n] of [[36, 33, 30], [4, 5, 6]]) {
    for (const [tA, tB] of TRANSPOSES) {
      const [as, bs] = stored([2, 1], [1, 3], m, k, n, tA, tB);
      const ref = await on('cpu', () => tf.matMul(tf.tile(rnd(as, 1), [1, 3, 1, 1]), tf.tile(rnd(bs, 2), [2, 1, 1, 1]), tA, tB));
      const got = await on('wasm', () => matMulCase(as, bs, tA, tB));
      assertClose(ref, got, `broadcast matMul [${as}] x [${bs}] ${tA} ${tB}`);
    }
  }
});

test('BatchMatMul: empty inner dimension gives zeros; mismatched inner dims throw', async () => {
  await tf.setBackend('wasm');
  const z = await on('wasm', () => tf.matMul(tf.zeros([5, 0]), tf.zeros([0, 3])));
  assert.deepEqual(z.shape, [5, 3]);
  assert.ok(Array.from(z.values).every((v) => v === 0));
  assert.throws(() => tf.matMul(tf.zeros([2, 3]), tf.zeros([4, 2])), /inner shapes/);
});

test('Unpack: wasm matches cpu on every axis for float32, int32 and bool', async () => {
  const shape = [3, 4, 5];
  const makers: Array<[string, () => tf.Tensor]> = [
    ['float32', () => rnd(shape, 3)],
    ['int32', () => tf.cast(tf.mul(rnd(shape, 4), 100), 'int32')],
    ['bool', () => tf.greater(rnd(shape, 5), 0)],
  ];
  for (const [dtype, make] of makers) {
    for (const axis of [0, 1, 2, -1]) {
      const n = shape[axis < 0 ? axis + 3 : axis];
      for (let i = 0; i < n; i++) {
        await compare(() => tf.unstack(make(), axis)[i], `unstack ${dtype} axis ${axis} part ${i}`, 0);
      }
      await tf.setBackend('wasm');
      const parts = tf.tidy(() => tf.unstack(make(), axis).map((p) => p.clone()));
      assert.equal(parts.length, n);
      assert.ok(parts.every((p) => p.dtype === dtype && p.shape.join() === shape.filter((_, j) => j !== (axis + 3) % 3).join()));
      tf.dispose(parts);
    }
  }
  await compare(() => tf.unstack(rnd([1, 6], 6), 0)[0], 'unstack a single part');
  await compare(() => tf.stack(tf.unstack(rnd([2, 0, 3], 7), 2)), 'unstack with an empty dim');
});

test('Slice: wasm matches cpu for ranks 1-5, partial and whole dims, every dtype', async () => {
  const cases: Array<[number[], number[], number[]]> = [
    [[10], [3], [4]],
    [[6, 7], [1, 2], [3, 4]],
    [[6, 7], [2, 0], [3, 7]], // whole rows: one block
    [[6, 7], [0, 0], [-1, -1]],
    [[4, 5, 6], [1, 0, 2], [2, 5, 3]],
    [[4, 5, 6], [0, 2, 0], [4, 2, 6]],
    [[3, 4, 5, 6], [1, 1, 1, 1], [2, 2, 3, 4]],
    [[2, 3, 4, 5, 6], [1, 0, 2, 1, 0], [1, 3, 2, 3, 6]],
    [[4, 5], [1, 2], [0, 3]], // empty
  ];
  for (const [shape, begin, size] of cases) {
    await compare(() => tf.slice(rnd(shape, 1), begin, size), `slice float32 [${shape}] ${begin} ${size}`, 0);
    await compare(() => tf.slice(tf.cast(tf.mul(rnd(shape, 2), 50), 'int32'), begin, size), `slice int32 [${shape}]`, 0);
    await compare(() => tf.slice(tf.greater(rnd(shape, 3), 0), begin, size), `slice bool [${shape}]`, 0);
  }
  await tf.setBackend('wasm');
  const words = tf.tensor2d([['a', 'b', 'c'], ['d', 'e', 'f']]);
  assert.deepEqual(tf.slice(words, [0, 1], [2, 2]).arraySync(), [['b', 'c'], ['e', 'f']]);
  words.dispose();
});

test('SplitV: wasm matches cpu on every axis, equal and uneven sizes', async () => {
  const x = (): tf.Tensor => rnd([4, 6, 8], 4);
  for (const axis of [0, 1, 2, -1]) {
    for (const parts of [2, [1, 3, -1]] as Array<number | number[]>) {
      const n = typeof parts === 'number' ? parts : parts.length;
      for (let i = 0; i < n; i++) await compare(() => tf.split(x(), parts, axis)[i], `split axis ${axis} ${JSON.stringify(parts)} part ${i}`, 0);
    }
  }
  await compare(() => tf.split(tf.cast(tf.mul(rnd([6, 4], 5), 9), 'int32'), 3, 0)[2], 'split int32', 0);
});

test('Tanh: wasm within a few float32 ulp of cpu (Math.tanh) from 1e-8 to 1e2, and its special values', async () => {
  const n = 20001;
  const xs = Float32Array.from({ length: n }, (_, i) => {
    const u = (i / (n - 1)) * 2 - 1;
    return Math.sign(u) * 10 ** (-8 + 10 * Math.abs(u));
  });
  const a = await on('cpu', () => tf.tanh(tf.tensor1d(xs)));
  const b = await on('wasm', () => tf.tanh(tf.tensor1d(xs)));
  let rel = 0;
  for (let i = 0; i < n; i++) if (a.values[i] !== 0) rel = Math.max(rel, Math.abs(a.values[i] - b.values[i]) / Math.abs(a.values[i]));
  assert.ok(rel < 4e-7, `max relative error ${rel}`);
  const special = await on('wasm', () => tf.tanh(tf.tensor1d([NaN, Infinity, -Infinity, 0, -0, 30, -30])));
  assert.ok(Number.isNaN(special.values[0]));
  assert.deepEqual(Array.from(special.values.slice(1)), [1, -1, 0, -0, 1, -1]);
  assert.ok(Object.is(special.values[4], -0));
  // and its gradient (from the output) through a model
  await compare(() => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.tanh(x), rnd([50, 30], 2))))(rnd([50, 30], 1)), 'tanh gradient');
});

test('gradient of a tfl LSTM model (unstack, matMul gradients with transposes): wasm equals cpu', async () => {
  await tf.setBackend('wasm');
  const model = tfl.sequential({
    layers: [
      tfl.layers.lstm({ inputShape: [6, 40], units: 36, recurrentActivation: 'sigmoid',
        kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }), recurrentInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
      tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }),
    ],
  });
  const loss = (x: tf.Tensor): tf.Scalar => tf.sum(tf.square(model.apply(x) as tf.Tensor));
  const input = (): tf.Tensor => rnd([33, 6, 40], 21);
  await compare(() => tf.grad(loss)(input()), 'd loss / d input');
  for (const w of model.trainableWeights) {
    const v = w.read() as tf.Variable;
    await compare(() => tf.variableGrads(() => loss(input()), [v]).grads[v.name], `d loss / d ${w.name}`);
  }
  model.dispose();
});

// ---------------------------------------------------------------------------------------
// No leaks.

test('the filled kernels leak neither tensors nor wasm buffers', async () => {
  const c: ConvCase = { x: [2, 9, 9, 8], f: [3, 3, 8, 6], s: 2, pad: 'same' };
  for (const strategy of ['conv', 'col2im'] as const) {
    setBackpropInputStrategy(strategy);
    await assertNoLeak(() => backpropInput(c), `Conv2DBackpropInput ${strategy}`);
  }
  setBackpropInputStrategy('auto');
  await assertNoLeak(() => backpropInput({ x: [2, 8, 8, 4], f: [3, 3, 4, 4], s: 1, pad: 'valid' }), 'Conv2DBackpropInput s1');
  await assertNoLeak(() => backpropFilter(c), 'Conv2DBackpropFilter');
  await assertNoLeak(() => tf.engine().runKernel('Conv2DBackpropFilter', { x: rnd([2, 3, 7, 7], 3), dy: rnd([2, 4, 4, 4], 1) },
    { strides: 2, pad: 'same', dataFormat: 'NCHW', filterShape: [3, 3, 3, 4] } as unknown as tf.NamedAttrMap) as tf.Tensor,
  'Conv2DBackpropFilter NCHW');
  await assertNoLeak(() => tf.unsortedSegmentSum(rnd([6, 4], 1), tf.tensor1d([0, 1, 1, 3, 0, 2], 'int32'), 4),
    'UnsortedSegmentSum');
  await assertNoLeak(() => tf.grad((p: tf.Tensor) => tf.sum(tf.gather(p, tf.tensor1d([1, 1, 0], 'int32'))))(rnd([3, 2], 1)),
    'gather gradient');
  for (const c of MATMUL_CASES) {
    for (const [tA, tB] of TRANSPOSES) {
      const [as, bs] = stored(c.aOuter, c.bOuter, c.m, c.k, c.n, tA, tB);
      await assertNoLeak(() => matMulCase(as, bs, tA, tB), `BatchMatMul [${as}] x [${bs}] ${tA} ${tB}`);
    }
  }
  await assertNoLeak(() => matMulCase([2, 1, 36, 33], [1, 3, 33, 30], false, false), 'BatchMatMul general broadcast');
  await assertNoLeak(() => tf.unstack(rnd([3, 4, 5], 1), 1), 'Unpack');
  await assertNoLeak(() => tf.slice(rnd([3, 4, 5], 1), [1, 0, 2], [2, 4, 2]), 'Slice');
  await assertNoLeak(() => tf.split(rnd([3, 4, 6], 1), [1, 2, 3], 2), 'SplitV');
  await assertNoLeak(() => tf.tanh(rnd([3, 4, 5], 1)), 'Tanh');
});

// ---------------------------------------------------------------------------------------
// File IO handler.

test('fileHandler: save and load a tfl.sequential model gives identical predictions', async () => {
  await tf.setBackend('wasm');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modalfuse-io-'));
  try {
    const model = tfl.sequential({
      layers: [
        tfl.layers.dense({ inputShape: [5], units: 7, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }) }),
        tfl.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 6 }) }),
      ],
    });
    const result = await model.save(fileHandler(dir));
    assert.ok((result.modelArtifactsInfo.weightDataBytes ?? 0) > 0);
    assert.ok(fs.existsSync(path.join(dir, 'model.json')));
    assert.ok(fs.existsSync(path.join(dir, 'weights.bin')));
    const loaded = await tfl.loadLayersModel(fileHandler(`file://${dir}`));
    const x = rnd([4, 5], 9);
    const a = (model.predict(x) as tf.Tensor).dataSync();
    const b = (loaded.predict(x) as tf.Tensor).dataSync();
    assert.deepEqual(Array.from(b), Array.from(a));
    tf.dispose([x]);
    model.dispose();
    loaded.dispose();
    await assert.rejects(tfl.loadLayersModel(fileHandler(path.join(dir, 'missing'))), ModalfuseError);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
