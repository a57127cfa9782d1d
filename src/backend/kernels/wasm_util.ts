/**
 * Small helpers for kernels written against the wasm backend's heap.
 *
 * Kernels here call other wasm kernels directly through the kernel registry (not through
 * the public ops), so nothing they create is tracked by the engine or recorded on a
 * gradient tape; every intermediate is released with `free`. Heap views (`f32`) must be
 * taken after the last allocation of a step: growing the wasm memory detaches them.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type TensorInfo = tf.TensorInfo;
export type { BackendWasm };

/** Runs the wasm kernel `name` directly and returns its (untracked) output. */
export function runWasmKernel(
  backend: BackendWasm,
  name: string,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown> = {},
): TensorInfo {
  const cfg = tf.getKernel(name, 'wasm');
  if (!cfg) throw new Error(`wasm kernel '${name}' is not registered`);
  const out = cfg.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap });
  if (Array.isArray(out)) throw new Error(`wasm kernel '${name}' returned several outputs`);
  return out;
}

/** Releases intermediates created inside a kernel (honours reshape's shared data). */
export function free(backend: BackendWasm, ...infos: Array<TensorInfo | null | undefined>): void {
  for (const t of infos) if (t) backend.disposeData(t.dataId);
}

/** A Float32Array view of a float32 tensor's data on the wasm heap. */
export function f32(backend: BackendWasm, t: TensorInfo): Float32Array {
  if (t.dtype !== 'float32') throw new Error(`expected a float32 tensor, found ${t.dtype}`);
  return backend.typedArrayFromHeap(t) as Float32Array;
}

/** Allocates an output tensor on the wasm heap, zero-filled when asked. */
export function alloc(backend: BackendWasm, shape: number[], dtype: tf.DataType, zero = false): TensorInfo {
  const out = backend.makeOutput(shape, dtype);
  if (zero && tf.util.sizeFromShape(shape) > 0) (backend.typedArrayFromHeap(out) as Float32Array).fill(0);
  return out;
}

/** Reshape sharing the data (the result must still be `free`d). */
export function reshape(backend: BackendWasm, x: TensorInfo, shape: number[]): TensorInfo {
  return runWasmKernel(backend, 'Reshape', { x }, { shape });
}

export function transpose(backend: BackendWasm, x: TensorInfo, perm: number[]): TensorInfo {
  return runWasmKernel(backend, 'Transpose', { x }, { perm });
}

/** `a` [m, k] x `b` [k, n] -> [m, n] through the wasm (XNNPACK) matmul, no transposes. */
export function matMul(backend: BackendWasm, a: TensorInfo, b: TensorInfo): TensorInfo {
  return runWasmKernel(backend, 'BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
}

export function pair(v: number | number[] | undefined, dflt = 1): [number, number] {
  if (v === undefined || v === null) return [dflt, dflt];
  if (typeof v === 'number') return [v, v];
  return [v[0], v.length > 1 ? v[1] : v[0]];
}

/** Largest number of batch items per chunk so that one im2col buffer stays near `maxFloats`. */
export function batchChunk(batch: number, floatsPerItem: number, maxFloats = 1 << 24): number {
  if (floatsPerItem <= 0) return Math.max(1, batch);
  return Math.max(1, Math.min(batch, Math.floor(maxFloats / floatsPerItem)));
}
