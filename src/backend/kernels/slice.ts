/**
 * `Slice` and `SplitV` for the wasm backend, copying from heap views.
 *
 * The stock kernels of tfjs-backend-wasm 4.22 first copy the whole input out of the wasm
 * heap (readSync) for every slice, then copy the slice row by row; SplitV does that once per
 * output. Every LSTM (tfl's cell splits its gates each step), the FastLSTM backward pass
 * and the fusion layers slice tensors many times per training step. These kernels copy each
 * contiguous block of the slice straight from a heap view. Any rank; float32, int32, bool
 * (on the heap) and string (the backend keeps their bytes in JS) tensors.
 */
import { backend_util, slice_util, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from './wasm_util.js';

/**
 * Calls `copy(srcOffset, dstOffset, length)` for the contiguous blocks of the slice
 * [begin, begin + size) of a row-major tensor of `shape`, in output order.
 */
function forEachBlock(shape: number[], begin: number[], size: number[], copy: (src: number, dst: number, n: number) => void): void {
  const rank = shape.length;
  if (util.sizeFromShape(size) === 0) return;
  if (rank === 0) {
    copy(0, 0, 1);
    return;
  }
  const strides = util.computeStrides(shape);
  const stride = (d: number) => (d < rank - 1 ? strides[d] : 1);
  // Dims after k are whole: a block is size[k] * stride(k) contiguous elements.
  let k = rank - 1;
  while (k > 0 && begin[k] === 0 && size[k] === shape[k]) k--;
  const block = size[k] * stride(k);
  const idx = new Array(k).fill(0);
  let base = begin[k] * stride(k);
  for (let d = 0; d < k; d++) base += begin[d] * stride(d);
  let dst = 0;
  for (;;) {
    let src = base;
    for (let d = 0; d < k; d++) src += idx[d] * stride(d);
    copy(src, dst, block);
    dst += block;
    let d = k - 1;
    while (d >= 0 && ++idx[d] === size[d]) idx[d--] = 0;
    if (d < 0) break;
  }
}

/** Copies the slice of `x` into `out` (allocated, same dtype). */
function copySlice(be: BackendWasm, x: TensorInfo, begin: number[], size: number[], out: TensorInfo): void {
  if (x.dtype === 'string') {
    const src = be.dataIdMap.get(x.dataId)!.stringBytes!;
    const res: Uint8Array[] = [];
    forEachBlock(x.shape, begin, size, (s, _d, n) => {
      for (let i = 0; i < n; i++) res.push(src[s + i]);
    });
    be.dataIdMap.get(out.dataId)!.stringBytes = res;
    return;
  }
  const src = be.typedArrayFromHeap(x);
  const dst = be.typedArrayFromHeap(out);
  forEachBlock(x.shape, begin, size, (s, d, n) => dst.set((src as Float32Array).subarray(s, s + n), d));
}

function checkDtype(t: TensorInfo, what: string): void {
  if (t.dtype === 'complex64') throw new Error(`${what} (wasm) does not support complex64 tensors`);
}

export const sliceWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as BackendWasm;
  const { x } = inputs as { x: TensorInfo };
  checkDtype(x, 'Slice');
  const a = attrs as unknown as { begin: number | number[]; size?: number | number[] };
  const [begin, size] = slice_util.parseSliceParams(x as never, a.begin, a.size);
  slice_util.assertParamsValid(x as never, begin, size);
  const out = be.makeOutput(size, x.dtype);
  copySlice(be, x, begin, size, out);
  return out;
};

export const splitVWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as BackendWasm;
  const { x } = inputs as { x: TensorInfo };
  checkDtype(x, 'SplitV');
  const { numOrSizeSplits, axis } = attrs as unknown as { numOrSizeSplits: number | number[]; axis: number | number[] };
  const ax = util.parseAxisParam(axis, x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x as never, numOrSizeSplits, ax);
  const shapes = sizes.map((s) => x.shape.map((d, i) => (i === ax ? s : d)));
  // Allocate every output before taking heap views (allocation can grow the heap).
  const outs = shapes.map((shape) => be.makeOutput(shape, x.dtype));
  const begin = new Array(x.shape.length).fill(0);
  outs.forEach((out, i) => {
    copySlice(be, x, begin.slice(), shapes[i], out);
    begin[ax] += sizes[i];
  });
  return outs;
};

export const sliceConfig: KernelConfig = { kernelName: 'Slice', backendName: 'wasm', kernelFunc: sliceWasm };
export const splitVConfig: KernelConfig = { kernelName: 'SplitV', backendName: 'wasm', kernelFunc: splitVWasm };
