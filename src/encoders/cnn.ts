/**
 * Small configurable CNN encoders for images and spectrograms ([H, W, C] inputs): blocks of
 * conv (`convKernel` x `convKernel`, 'same' padding) -> optional batch norm -> activation
 * -> 2x2 pooling (`convPool`), one block per entry of `convFilters`, then flatten and a
 * dense layer of width `hidden` (the encoder output every fusion method reads), dropout.
 *
 * The options (`convFilters`, `convKernel`, `convPool`, `convBatchNorm`) are common options
 * of every method (registry COMMON_OPTIONS); `cnnOptionsFrom` turns them into CnnOptions.
 * Layer names start with the encoder prefix (`enc_<modality>_...`), so the encoder of a
 * trained model can be cut out by name (see `encoderOutput`). The defaults (16,32 filters,
 * 3x3, max pooling, no batch norm) build the same layers, with the same seeds, as the
 * original fixed CNN did, except for the initialisation (below).
 *
 * Initialisation: every conv and dense layer of the encoder gets PyTorch's default for
 * `nn.Conv2d` / `nn.Linear` (`kaimingUniform`): weights and biases uniform in
 * +-1/sqrt(fan_in) (Kaiming-uniform with a = sqrt(5), fan_in = kernel^2 x input channels for a
 * conv, input width for the dense layer). Measured on AV-MNIST (issue 18): with tfjs's
 * Glorot-uniform weights and zero biases the spectrogram CNN learned far more slowly (3
 * epochs end to end, full build, seed 1: audio-only 33.7% test accuracy against 45.5% with this
 * initialisation, and against 47.4% for the same network in PyTorch); an ordinary PyTorch CNN
 * given Glorot weights, zero biases and `hidden` 32 stalls the same way. Only CNN encoders
 * are affected; MLP and LSTM encoders, fusion layers and heads keep Glorot-uniform.
 * `CnnOptions.init: 'glorot'` restores the former initialisation.
 */
import { tfl } from '../backend/index.js';
import type { ModalitySpec } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { buildSteps, describedCost, type EncoderStep } from './describe.js';

export type PoolKind = 'max' | 'avg' | 'none';

export interface CnnOptions {
  /** Filters of each conv block. */
  filters: number[];
  /** Square kernel size. */
  kernel: number;
  /** 2x2 pooling after each block (skipped where a side is already 1). */
  pool: PoolKind;
  /** Batch normalisation between each conv and its activation. */
  batchNorm: boolean;
  /**
   * Initialisation of the conv and dense layers: 'kaiming' (default; PyTorch's, see the file
   * comment) or 'glorot' (tfjs's Glorot-uniform weights and zero biases, as before issue 18).
   */
  init?: CnnInit;
}

export type CnnInit = 'kaiming' | 'glorot';

export const CNN_DEFAULTS: CnnOptions = { filters: [16, 32], kernel: 3, pool: 'max', batchNorm: false, init: 'kaiming' };

/** Parses "16,32" into [16, 32]; throws a ModalfuseError naming the option. */
export function parseFilters(text: string): number[] {
  const parts = String(text)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const out = parts.map(Number);
  if (out.length === 0 || out.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new ModalfuseError('bad value for option "convFilters"', { expected: 'positive integers separated by commas, e.g. "16,32"', found: text });
  }
  return out;
}

/** CNN options from resolved method options (absent keys take the defaults). */
export function cnnOptionsFrom(options: Record<string, unknown>): CnnOptions {
  return {
    filters: options.convFilters !== undefined ? parseFilters(String(options.convFilters)) : CNN_DEFAULTS.filters,
    kernel: (options.convKernel as number | undefined) ?? CNN_DEFAULTS.kernel,
    pool: ((options.convPool as PoolKind | undefined) ?? CNN_DEFAULTS.pool) as PoolKind,
    batchNorm: (options.convBatchNorm as boolean | undefined) ?? CNN_DEFAULTS.batchNorm,
    init: CNN_DEFAULTS.init,
  };
}

type Sym = tfl.SymbolicTensor;

export interface CnnBuildOptions {
  hidden: number;
  activation: string;
  dropout: number;
  cnn: CnnOptions;
}

/** The layers of the CNN encoder (./describe.ts): conv blocks, flatten, dense `hidden`, dropout. */
export function cnnSteps(spec: ModalitySpec, o: CnnBuildOptions, prefix: string): EncoderStep[] {
  if (spec.shape.length !== 3) {
    throw new ModalfuseError('a CNN encoder needs [height, width, channels] inputs', { expected: '[H, W, C]', found: spec.shape });
  }
  const { filters, kernel, pool, batchNorm } = o.cnn;
  const init = o.cnn.init ?? CNN_DEFAULTS.init;
  const steps: EncoderStep[] = [];
  let [H, W] = spec.shape;
  filters.forEach((f, i) => {
    const n = i + 1;
    steps.push({ op: 'conv', filters: f, kernel, activation: batchNorm ? 'linear' : 'relu', useBias: !batchNorm, init, name: `${prefix}_conv${n}` });
    if (batchNorm) {
      steps.push({ op: 'batchnorm', name: `${prefix}_bn${n}` });
      steps.push({ op: 'activation', activation: 'relu', name: `${prefix}_relu${n}` });
    }
    if (pool !== 'none' && H >= 2 && W >= 2) {
      steps.push({ op: 'pool', mode: pool, name: `${prefix}_pool${n}` });
      H = Math.floor(H / 2);
      W = Math.floor(W / 2);
    }
  });
  steps.push({ op: 'flatten', name: `${prefix}_flatten` });
  steps.push({ op: 'dense', units: o.hidden, activation: o.activation, init, name: `${prefix}_dense` });
  steps.push({ op: 'dropout', rate: o.dropout, name: `${prefix}_drop` });
  return steps;
}

/** Builds the CNN encoder on `x` (layer names start with `prefix`). */
export function cnnEncoder(x: Sym, spec: ModalitySpec, o: CnnBuildOptions, rng: Rng, prefix: string): Sym {
  return buildSteps(x, cnnSteps(spec, o, prefix), rng);
}

/**
 * The output tensor of the encoder whose layers are named `<prefix>_*` in a built model:
 * the output of the last such layer in topological order.
 */
export function encoderOutput(model: tfl.LayersModel, prefix: string): Sym {
  const layers = model.layers.filter((l) => l.name.startsWith(`${prefix}_`));
  if (layers.length === 0) {
    throw new ModalfuseError(`the model has no encoder "${prefix}"`, { expected: `layers named ${prefix}_*`, found: model.layers.map((l) => l.name) });
  }
  return layers[layers.length - 1].output as Sym;
}

/**
 * Cost of the CNN encoder before it is built, counted as `eval/cost.ts` counts a built
 * model (params; FLOPs per sample with a multiply-add as two; activations per sample in
 * values), for methods that state their cost up front.
 */
export function cnnEncoderCost(spec: ModalitySpec, o: CnnBuildOptions): { params: number; flops: number; activations: number; outWidth: number } {
  const c = describedCost({ input: spec.shape, steps: cnnSteps(spec, o, 'enc') });
  return { params: c.params, flops: c.flops, activations: c.activations, outWidth: c.outWidth };
}
