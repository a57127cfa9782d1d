/**
 * Kernel gap fills for the wasm backend.
 *
 * - `Conv2DBackpropFilter` and `UnsortedSegmentSum` are missing from tfjs-backend-wasm
 *   4.22 (conv2d kernel gradients and gather / embedding gradients fail without them).
 * - `Conv2DBackpropInput` exists but runs several times slower than the forward
 *   convolution; it is deliberately overridden.
 * - `BatchMatMul` runs XNNPACK only for one matrix pair without transposes; transposed
 *   operands (every matMul gradient) and batches fall to a loop 10-20x slower, and batch
 *   broadcasting is wrong. Overridden: the operands are rearranged so that the fast path runs.
 * - `Unpack`, `Slice` and `SplitV` copy the whole input out of the heap once per output
 *   (every tfjs-layers RNN unstacks its input over time and splits its gates every step);
 *   overridden by copies from heap views.
 * - `Tanh` runs the scalar C tanh (15x the vectorised sigmoid); overridden by a rational
 *   approximation in JS (5x faster, within a few float32 ulp).
 * Overridden stock kernels are kept and restored by `unregisterFills()`.
 *
 * Registration touches only the 'wasm' backend's kernels, registers a kernel only where it
 * is missing or deliberately overridden, and is idempotent. `MODALFUSE_NO_FILLS=1` turns it
 * off (for "before" measurements).
 */
import * as tf from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './kernels/conv2d_backprop_filter.js';
import { conv2DBackpropInputConfig } from './kernels/conv2d_backprop_input.js';
import { batchMatMulConfig } from './kernels/batch_mat_mul.js';
import { unpackConfig } from './kernels/unpack.js';
import { sliceConfig, splitVConfig } from './kernels/slice.js';
import { tanhConfig } from './kernels/tanh.js';
import { unsortedSegmentSumConfig } from './kernels/unsorted_segment_sum.js';

export { setBackpropInputStrategy, type BackpropInputStrategy } from './kernels/conv2d_backprop_input.js';

const BACKEND = 'wasm';

interface Fill {
  config: tf.KernelConfig;
  /** Replace an existing kernel of that name (otherwise fill only when missing). */
  override: boolean;
}

const FILLS: Fill[] = [
  { config: conv2DBackpropFilterConfig, override: false },
  { config: unsortedSegmentSumConfig, override: false },
  { config: conv2DBackpropInputConfig, override: true },
  { config: batchMatMulConfig, override: true },
  { config: unpackConfig, override: true },
  { config: sliceConfig, override: true },
  { config: splitVConfig, override: true },
  { config: tanhConfig, override: true },
];

/** Stock kernels displaced by an override, by kernel name. */
const displaced = new Map<string, tf.KernelConfig>();

function fillsDisabled(): boolean {
  const v = typeof process !== 'undefined' ? process.env?.MODALFUSE_NO_FILLS : undefined;
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

function wasmAvailable(): boolean {
  try {
    return tf.findBackendFactory(BACKEND) != null || tf.findBackend(BACKEND) != null;
  } catch {
    return false;
  }
}

/** Registers the wasm kernel fills (idempotent; a no-op without the wasm backend). */
export function registerFills(): void {
  if (fillsDisabled() || !wasmAvailable()) return;
  for (const { config, override } of FILLS) {
    const current = tf.getKernel(config.kernelName, BACKEND);
    if (current?.kernelFunc === config.kernelFunc) continue; // already ours
    if (current) {
      if (!override) continue; // the backend has its own; keep it
      displaced.set(config.kernelName, current);
      tf.unregisterKernel(config.kernelName, BACKEND);
    }
    tf.registerKernel(config);
  }
}

/** Removes the fills and restores any stock kernel they replaced. */
export function unregisterFills(): void {
  for (const { config } of FILLS) {
    const current = tf.getKernel(config.kernelName, BACKEND);
    if (current?.kernelFunc !== config.kernelFunc) continue;
    tf.unregisterKernel(config.kernelName, BACKEND);
    const stock = displaced.get(config.kernelName);
    if (stock) {
      tf.registerKernel(stock);
      displaced.delete(config.kernelName);
    }
  }
}

/** Names of the fill kernels currently registered on the wasm backend. */
export function activeFills(): string[] {
  return FILLS.filter(({ config }) => tf.getKernel(config.kernelName, BACKEND)?.kernelFunc === config.kernelFunc)
    .map(({ config }) => config.kernelName);
}
