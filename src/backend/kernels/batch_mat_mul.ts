/**
 * `BatchMatMul` for the wasm backend, routed to its fast path wherever possible.
 *
 * The stock kernel of tfjs-backend-wasm 4.22 runs XNNPACK only for a single matrix pair
 * without transposes; with `transposeA`/`transposeB` or a batch dimension it falls back to a
 * scalar blocked loop 10-20x slower, and every matMul gradient (dA = dY B^T, dB = A^T dY:
 * every Dense and LSTM backward pass) takes that path. It also mishandles batch
 * broadcasting (one side with batch 1 is read out of bounds or only its first item used).
 *
 * This kernel calls the same C function (`BatchMatMul` of the wasm module) only in its fast
 * form, [1, m, k] x [1, k, n], after rearranging the operands with the wasm `Transpose`
 * kernel:
 * - b shared by every batch item (b's batch dims all 1): the rows of all of a's items are one
 *   [B*m, k] matrix, one product;
 * - a shared: b's items side by side, a x [k, B*n], then the result reordered;
 * - transposes: the transposed operand is rewritten by `Transpose`, except A^T B^T = (B A)^T
 *   and A B^T = (B A^T)^T where A is the smaller (XNNPACK packs the right operand anew for
 *   every new tensor, so the smaller one should be on the right);
 * - both sides batched: one fast product per output item (numpy-style broadcasting of the
 *   batch dims);
 * - tiny products (< 32^3 multiply-adds per call) go to the stock loop, as fast there.
 * Results equal the cpu backend's within float32 rounding (sums of the same products in
 * another order).
 */
import { broadcast_util, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import { alloc, f32, free, runWasmKernel, type BackendWasm } from './wasm_util.js';

type CMatMul = (
  aId: number, aShape: Uint8Array, aRank: number, bId: number, bShape: Uint8Array, bRank: number,
  transposeA: number, transposeB: number, outId: number,
) => void;

const cFuncs = new WeakMap<object, CMatMul>();

function cMatMul(be: BackendWasm): CMatMul {
  let f = cFuncs.get(be);
  if (!f) {
    const wasm = be.wasm as unknown as { cwrap(name: string, ret: null, args: string[]): CMatMul };
    f = wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']);
    cFuncs.set(be, f);
  }
  return f;
}

function idOf(be: BackendWasm, t: TensorInfo): number {
  const d = be.dataIdMap.get(t.dataId);
  if (!d) throw new Error('BatchMatMul: tensor data not found on the wasm backend');
  return d.id;
}

const bytes = (shape: number[]) => new Uint8Array(new Int32Array(shape).buffer);

/** `out` = a [ba, m, k] x b [bb, k, n] through the C kernel (fast only for ba = bb = 1, no transposes). */
function cRun(
  be: BackendWasm, a: TensorInfo, aShape: number[], b: TensorInfo, bShape: number[], out: TensorInfo,
  transposeA = false, transposeB = false,
): void {
  cMatMul(be)(idOf(be, a), bytes(aShape), 3, idOf(be, b), bytes(bShape), 3, transposeA ? 1 : 0, transposeB ? 1 : 0, idOf(be, out));
}

/** Transposes `x` seen as `shape` (same size as x) by `perm`; a new tensor. */
function transposeAs(be: BackendWasm, x: TensorInfo, shape: number[], perm: number[]): TensorInfo {
  return runWasmKernel(be, 'Transpose', { x: { dataId: x.dataId, shape, dtype: x.dtype } }, { perm });
}

function withShape(t: TensorInfo, shape: number[]): TensorInfo {
  (t as { shape: number[] }).shape = shape;
  return t;
}

/**
 * Below this many multiply-adds (per call of the fast path), the stock loop is as fast as
 * transposes + XNNPACK (measured: 32x32x32 break-even, 32x64x64 2x faster through XNNPACK).
 */
const SMALL_PRODUCT = 32 * 32 * 32;

/** Offsets into a's and b's items for each output item of the broadcast batch dims. */
function broadcastIndex(aOuter: number[], bOuter: number[], outOuter: number[]): { ia: Int32Array; ib: Int32Array } {
  const B = util.sizeFromShape(outOuter);
  const r = outOuter.length;
  const pad = (s: number[]) => [...new Array(r - s.length).fill(1), ...s];
  const as = pad(aOuter);
  const bs = pad(bOuter);
  const ia = new Int32Array(B);
  const ib = new Int32Array(B);
  const idx = new Array(r).fill(0);
  for (let i = 0; i < B; i++) {
    let oa = 0;
    let ob = 0;
    for (let d = 0; d < r; d++) {
      oa = oa * as[d] + (as[d] === 1 ? 0 : idx[d]);
      ob = ob * bs[d] + (bs[d] === 1 ? 0 : idx[d]);
    }
    ia[i] = oa;
    ib[i] = ob;
    for (let d = r - 1; d >= 0; d--) {
      if (++idx[d] < outOuter[d]) break;
      idx[d] = 0;
    }
  }
  return { ia, ib };
}

export const batchMatMulWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as BackendWasm;
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const tA = Boolean((attrs as { transposeA?: boolean }).transposeA);
  const tB = Boolean((attrs as { transposeB?: boolean }).transposeB);
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error('BatchMatMul for non non-float32 tensors not yet supported.');
  }
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (ra < 2 || rb < 2) throw new Error(`BatchMatMul needs rank >= 2 operands; found [${a.shape}] and [${b.shape}]`);
  const m = tA ? a.shape[ra - 1] : a.shape[ra - 2];
  const kA = tA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kB = tB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = tB ? b.shape[rb - 2] : b.shape[rb - 1];
  util.assert(kA === kB, () => `Error in matMul: inner shapes (${kA}) and (${kB}) of Tensors with shapes ${a.shape} and ` +
    `${b.shape} and transposeA=${tA} and transposeB=${tB} must match.`);
  const k = kA;
  const aOuter = a.shape.slice(0, -2);
  const bOuter = b.shape.slice(0, -2);
  const outOuter = broadcast_util.assertAndGetBroadcastShape(aOuter, bOuter);
  const Ba = util.sizeFromShape(aOuter);
  const Bb = util.sizeFromShape(bOuter);
  const B = util.sizeFromShape(outOuter);
  const outShape = [...outOuter, m, n];
  // operand shapes as the C kernel reads them (stored layout)
  const a3 = tA ? [Ba, k, m] : [Ba, m, k];
  const b3 = tB ? [Bb, n, k] : [Bb, k, n];

  if (B * m * n === 0 || k === 0) return alloc(be, outShape, 'float32', true);

  if (!tA && !tB && Ba === 1 && Bb === 1) {
    const out = alloc(be, outShape, 'float32');
    cRun(be, a, a3, b, b3, out);
    return out;
  }

  const { ia, ib } = broadcastIndex(aOuter, bOuter, outOuter);
  /** The stock loop over B items (operands expanded to B items where broadcast). */
  const loop = (): TensorInfo => {
    const expand = (x: TensorInfo, shape: number[], idx: Int32Array, items: number): TensorInfo => {
      if (items === B && idx.every((v, i) => v === i)) return x;
      const per = shape[1] * shape[2];
      const e = alloc(be, [B, shape[1], shape[2]], 'float32');
      const src = f32(be, x);
      const dst = f32(be, e);
      for (let i = 0; i < B; i++) dst.set(src.subarray(idx[i] * per, (idx[i] + 1) * per), i * per);
      return e;
    };
    const ae = expand(a, a3, ia, Ba);
    const bexp = expand(b, b3, ib, Bb);
    const out = alloc(be, outShape, 'float32');
    cRun(be, ae, [B, a3[1], a3[2]], bexp, [B, b3[1], b3[2]], out, tA, tB);
    free(be, ae === a ? null : ae, bexp === b ? null : bexp);
    return out;
  };

  if (Bb === 1) {
    // b shared: every item of a is rows of one product with b.
    if (B * m * k * n < SMALL_PRODUCT) {
      if (tA && Ba > 1) return loop();
      const out = alloc(be, outShape, 'float32');
      cRun(be, a, tA ? a3 : [1, Ba * m, k], b, b3, out, tA, tB);
      return out;
    }
    if (tA && tB && Ba === 1) {
      // A^T B^T = (B A)^T: no operand transpose, one of the result.
      const tmp = alloc(be, [n, m], 'float32');
      cRun(be, b, [1, n, k], a, [1, k, m], tmp);
      const out = transposeAs(be, tmp, [n, m], [1, 0]);
      free(be, tmp);
      return withShape(out, outShape);
    }
    if (!tA && tB && Ba * m < n) {
      // A B^T = (B A^T)^T: packs A^T [k, Ba*m] instead of B^T [k, n].
      const aT = transposeAs(be, a, [Ba * m, k], [1, 0]); // [k, Ba*m]
      const tmp = alloc(be, [n, Ba * m], 'float32');
      cRun(be, b, [1, n, k], aT, [1, k, Ba * m], tmp);
      const out = transposeAs(be, tmp, [n, Ba * m], [1, 0]);
      free(be, tmp, aT);
      return withShape(out, outShape);
    }
    const at = tA ? transposeAs(be, a, a3, [0, 2, 1]) : a; // [Ba, m, k]
    const bt = tB ? transposeAs(be, b, [n, k], [1, 0]) : b; // [k, n]
    const out = alloc(be, outShape, 'float32');
    cRun(be, at, [1, Ba * m, k], bt, [1, k, n], out);
    free(be, tA ? at : null, tB ? bt : null);
    return out;
  }

  if (Ba === 1) {
    if (B * m * k * n < SMALL_PRODUCT) return loop();
    // a shared: a x [b_1 | b_2 | ...] ([k, Bb*n]), then [m, Bb, n] -> [Bb, m, n].
    const bcat = transposeAs(be, b, b3, tB ? [2, 0, 1] : [1, 0, 2]); // [k, Bb, n]
    const at = tA ? transposeAs(be, a, [k, m], [1, 0]) : a; // [m, k]
    const tmp = alloc(be, [m, Bb * n], 'float32');
    cRun(be, at, [1, m, k], bcat, [1, k, Bb * n], tmp);
    const out = transposeAs(be, tmp, [m, Bb, n], [1, 0, 2]);
    free(be, bcat, tA ? at : null, tmp);
    return withShape(out, outShape);
  }

  // Both batched: one fast product per output item, unless each is tiny.
  if (m * k * n < SMALL_PRODUCT) return loop();
  const at = tA ? transposeAs(be, a, a3, [0, 2, 1]) : a; // [Ba, m, k]
  const bt = tB ? transposeAs(be, b, b3, [0, 2, 1]) : b; // [Bb, k, n]
  const out = alloc(be, outShape, 'float32');
  for (let i = 0; i < B; i++) {
    const ai = alloc(be, [m, k], 'float32');
    const bi = alloc(be, [k, n], 'float32');
    const oi = alloc(be, [m, n], 'float32');
    f32(be, ai).set(f32(be, at).subarray(ia[i] * m * k, (ia[i] + 1) * m * k));
    f32(be, bi).set(f32(be, bt).subarray(ib[i] * k * n, (ib[i] + 1) * k * n));
    cRun(be, ai, [1, m, k], bi, [1, k, n], oi);
    f32(be, out).set(f32(be, oi), i * m * n);
    free(be, ai, bi, oi);
  }
  free(be, tA ? at : null, tB ? bt : null);
  return out;
};

export const batchMatMulConfig: KernelConfig = {
  kernelName: 'BatchMatMul',
  backendName: 'wasm',
  kernelFunc: batchMatMulWasm,
};
