/**
 * `UnsortedSegmentSum` for the wasm backend (the stock backend has none; it is what the
 * gradient of gather / embedding lookups calls).
 *
 * out[s, ...] = sum of x[i, ...] over the positions i of segmentIds equal to s, for
 * segmentIds of any shape (it indexes the leading dims of x) and any numSegments. Ids
 * outside [0, numSegments) are dropped, as on the cpu backend. Float sums accumulate in
 * float64 before rounding, like the cpu backend's reduction.
 */
import { util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from './wasm_util.js';

export const unsortedSegmentSumWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as BackendWasm;
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const numSegments = Number((attrs as { numSegments: number }).numSegments);
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`UnsortedSegmentSum: numSegments must be a non-negative integer, found ${numSegments}`);
  }
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum (wasm) supports float32 and int32 data; found ${x.dtype}`);
  }
  if (segmentIds.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum: segmentIds must be int32, found ${segmentIds.dtype}`);
  }
  const idsRank = segmentIds.shape.length;
  const lead = x.shape.slice(0, idsRank);
  if (lead.length !== idsRank || lead.some((d, i) => d !== segmentIds.shape[i])) {
    throw new Error(
      `UnsortedSegmentSum: segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`);
  }
  const inner = util.sizeFromShape(x.shape.slice(idsRank));
  const numIds = util.sizeFromShape(segmentIds.shape);
  const outShape = [numSegments, ...x.shape.slice(idsRank)];
  const out = be.makeOutput(outShape, x.dtype);
  const outSize = numSegments * inner;
  if (outSize === 0) return out;
  // Views after the only allocation.
  const ids = be.typedArrayFromHeap(segmentIds) as Int32Array;
  const xv = be.typedArrayFromHeap(x) as Float32Array | Int32Array;
  const ov = be.typedArrayFromHeap(out) as Float32Array | Int32Array;
  if (x.dtype === 'int32') {
    ov.fill(0);
    for (let i = 0; i < numIds; i++) {
      const s = ids[i];
      if (s < 0 || s >= numSegments) continue;
      const src = i * inner;
      const dst = s * inner;
      for (let k = 0; k < inner; k++) ov[dst + k] = (ov[dst + k] + xv[src + k]) | 0;
    }
    return out;
  }
  const acc = new Float64Array(outSize);
  for (let i = 0; i < numIds; i++) {
    const s = ids[i];
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner;
    const dst = s * inner;
    for (let k = 0; k < inner; k++) acc[dst + k] += xv[src + k];
  }
  ov.set(acc);
  return out;
};

export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSumWasm,
};
