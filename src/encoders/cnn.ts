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
import type { Options } from '../registry/types.js';
import type { Rng } from '../util/rng.js';

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

/** Offset of a layer's bias seed from its kernel seed (the kernel seed is drawn from the model's Rng as before). */
const BIAS_SEED_OFFSET = 0x9e37;

/**
 * PyTorch's default initialisation of a layer with `fanIn` inputs per output (nn.Conv2d,
 * nn.Linear: kaiming_uniform_(a=sqrt(5)) for the weights, the same bound for the biases):
 * kernel and bias uniform in +-1/sqrt(fanIn). `varianceScaling` (scale 1/3, fan in, uniform)
 * draws from +-sqrt(3 * scale / fanIn) = +-1/sqrt(fanIn) with the fan in it computes itself.
 */
export function kaimingUniform(fanIn: number, seed: number) {
  const bound = 1 / Math.sqrt(Math.max(1, fanIn));
  return {
    kernelInitializer: tfl.initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform', seed }),
    biasInitializer: tfl.initializers.randomUniform({ minval: -bound, maxval: bound, seed: (seed + BIAS_SEED_OFFSET) % 2147483647 }),
  };
}

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
export function cnnOptionsFrom(options: Partial<Options>): CnnOptions {
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

/** Applies the CNN encoder to `x` ([batch, H, W, C]); returns [batch, hidden]. */
export function cnnEncoder(
  x: Sym,
  spec: ModalitySpec,
  o: CnnBuildOptions,
  rng: Rng,
  prefix: string,
  glorot: (rng: Rng) => ReturnType<typeof tfl.initializers.glorotUniform>,
  dropout: (x: Sym, rate: number, rng: Rng, name: string) => Sym,
): Sym {
  if (spec.shape.length !== 3) {
    throw new ModalfuseError('a CNN encoder needs [height, width, channels] inputs', { expected: '[H, W, C]', found: spec.shape });
  }
  const { filters, kernel, pool, batchNorm } = o.cnn;
  const init = o.cnn.init ?? CNN_DEFAULTS.init;
  /** Initialisers of a layer with `fanIn` inputs per output; one seed drawn from `rng` either way. */
  const inits = (fanIn: number) => (init === 'glorot' ? { kernelInitializer: glorot(rng) } : kaimingUniform(fanIn, rng.seed()));
  let h = x;
  let [H, W, C] = spec.shape;
  filters.forEach((f, i) => {
    const n = i + 1;
    h = tfl.layers
      .conv2d({
        filters: f,
        kernelSize: kernel,
        padding: 'same',
        activation: batchNorm ? 'linear' : 'relu',
        useBias: !batchNorm,
        ...inits(kernel * kernel * C),
        name: `${prefix}_conv${n}`,
      })
      .apply(h) as Sym;
    C = f;
    if (batchNorm) {
      h = tfl.layers.batchNormalization({ name: `${prefix}_bn${n}` }).apply(h) as Sym;
      h = tfl.layers.activation({ activation: 'relu', name: `${prefix}_relu${n}` }).apply(h) as Sym;
    }
    if (pool !== 'none' && H >= 2 && W >= 2) {
      const args = { poolSize: 2, name: `${prefix}_pool${n}` };
      h = (pool === 'max' ? tfl.layers.maxPooling2d(args) : tfl.layers.averagePooling2d(args)).apply(h) as Sym;
      H = Math.floor(H / 2);
      W = Math.floor(W / 2);
    }
  });
  h = tfl.layers.flatten({ name: `${prefix}_flatten` }).apply(h) as Sym;
  h = tfl.layers
    .dense({ units: o.hidden, activation: o.activation as never, ...inits(H * W * C), name: `${prefix}_dense` })
    .apply(h) as Sym;
  return dropout(h, o.dropout, rng, `${prefix}_drop`);
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
  let [H, W, C] = spec.shape;
  const { filters, kernel, pool, batchNorm } = o.cnn;
  let params = 0;
  let flops = 0;
  let acts = 0;
  for (const f of filters) {
    const out = H * W * f;
    params += kernel * kernel * C * f + (batchNorm ? 0 : f);
    flops += H * W * f * (2 * kernel * kernel * C + 1) + (batchNorm ? 0 : out);
    acts += out;
    if (batchNorm) {
      params += 4 * f;
      flops += 2 * out; // batch norm and the activation layer
      acts += 2 * out;
    }
    if (pool !== 'none' && H >= 2 && W >= 2) {
      H = Math.floor(H / 2);
      W = Math.floor(W / 2);
      flops += H * W * f * 4;
      acts += H * W * f;
    }
    C = f;
  }
  const inW = H * W * C;
  params += inW * o.hidden + o.hidden;
  flops += 2 * inW * o.hidden + o.hidden + (o.activation !== 'linear' ? o.hidden : 0);
  acts += o.hidden;
  if (o.dropout > 0) {
    flops += o.hidden;
    acts += o.hidden;
  }
  return { params, flops, activations: acts, outWidth: o.hidden };
}
