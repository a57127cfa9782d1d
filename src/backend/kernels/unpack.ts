/**
 * `Unpack` (tf.unstack) for the wasm backend.
 *
 * The stock kernel slices once per output, and each slice of tfjs-backend-wasm 4.22 first
 * copies the whole input out of the wasm heap (readSync); every tfjs-layers RNN unstacks its
 * input along time, so a [32, 20, 300] sequence costs ~20 full copies per forward pass. This
 * kernel copies each output's rows straight from a heap view. Any axis and dtype whose data
 * lives on the heap (float32, int32, bool).
 */
import { util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from './wasm_util.js';

export const unpackWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as BackendWasm;
  const x = (inputs as { value: TensorInfo }).value;
  if (x.dtype === 'string' || x.dtype === 'complex64') throw new Error(`Unpack (wasm) does not support ${x.dtype} tensors`);
  const rank = x.shape.length;
  let axis = Number((attrs as { axis?: number }).axis ?? 0);
  if (axis < 0) axis += rank;
  if (!(axis >= 0 && axis < rank)) throw new Error(`Unpack: axis ${(attrs as { axis?: number }).axis} out of range for rank ${rank}`);
  const count = x.shape[axis];
  const outer = util.sizeFromShape(x.shape.slice(0, axis));
  const inner = util.sizeFromShape(x.shape.slice(axis + 1));
  const outShape = x.shape.filter((_, i) => i !== axis);
  const outs: TensorInfo[] = [];
  for (let i = 0; i < count; i++) outs.push(be.makeOutput(outShape, x.dtype));
  if (outer * inner === 0) return outs;
  // Heap views only after the last allocation (growing the heap detaches them).
  const src = be.typedArrayFromHeap(x);
  for (let i = 0; i < count; i++) {
    const dst = be.typedArrayFromHeap(outs[i]);
    if (outer === 1) {
      dst.set(src.subarray(i * inner, (i + 1) * inner));
      continue;
    }
    for (let r = 0; r < outer; r++) {
      const s = (r * count + i) * inner;
      dst.set(src.subarray(s, s + inner), r * inner);
    }
  }
  return outs;
};

export const unpackConfig: KernelConfig = {
  kernelName: 'Unpack',
  backendName: 'wasm',
  kernelFunc: unpackWasm,
};
