/**
 * One description per encoder: the list of layers an encoder (or a head) is made of. The
 * same description builds the layers (`buildSteps`) and gives their cost before anything
 * is built (`describedCost`), so the two cannot drift apart. Layers are built in step
 * order and draw their seeds from the model's Rng in that order.
 */
import { tfl } from '../backend/index.js';
import type { ModalitySpec } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { batchNormCost, convCost, denseCost, elementwiseCost, poolCost, recurrentCost, type StepCost } from './cost_rules.js';
import { SeededDropout } from './dropout.js';
import { FastLSTM } from './lstm.js';

export type Sym = tfl.SymbolicTensor;

/** 'glorot' (default): tfjs's Glorot-uniform weights, zero biases; 'kaiming': PyTorch's default (CNN encoders; see ./cnn.ts). */
export type WeightInit = 'glorot' | 'kaiming';

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

/** Initialisers of a layer with `fanIn` inputs per output; one seed drawn from `rng` either way. */
function inits(init: WeightInit | undefined, fanIn: number, rng: Rng) {
  return init === 'kaiming' ? kaimingUniform(fanIn, rng.seed()) : { kernelInitializer: glorot(rng) };
}

export type EncoderStep =
  | { op: 'flatten'; name: string }
  | { op: 'dense'; units: number; activation: string; name: string; init?: WeightInit }
  | { op: 'dropout'; rate: number; name: string }
  | { op: 'lstm'; units: number; returnSequences: boolean; name: string }
  | { op: 'conv'; filters: number; kernel: number; activation: string; useBias: boolean; name: string; init?: WeightInit }
  | { op: 'batchnorm'; name: string }
  | { op: 'activation'; activation: string; name: string }
  | { op: 'pool'; mode: 'max' | 'avg'; name: string };

export interface Described {
  /** Per-sample input shape. */
  input: number[];
  steps: EncoderStep[];
}

function prod(s: number[]): number {
  return s.reduce((a, b) => a * b, 1);
}

/** Per-sample output shape of a step, and its cost, from its per-sample input shape. */
export function stepShapeAndCost(step: EncoderStep, inShape: number[]): { shape: number[]; cost: StepCost } {
  const size = prod(inShape);
  switch (step.op) {
    case 'flatten':
      return { shape: [size], cost: { params: 0, flops: 0, activations: 0 } };
    case 'dense': {
      const inW = inShape[inShape.length - 1];
      const rows = size / inW;
      const c = denseCost(inW, step.units, step.activation, rows);
      return { shape: [...inShape.slice(0, -1), step.units], cost: c };
    }
    case 'dropout':
      return { shape: inShape, cost: step.rate > 0 ? elementwiseCost(size) : { params: 0, flops: 0, activations: 0 } };
    case 'lstm': {
      const [T, D] = inShape;
      return { shape: step.returnSequences ? [T, step.units] : [step.units], cost: recurrentCost(T, D, step.units, step.returnSequences) };
    }
    case 'conv': {
      const [H, W, C] = inShape;
      return { shape: [H, W, step.filters], cost: convCost(H * W, C, step.filters, [step.kernel, step.kernel], step.activation, step.useBias) };
    }
    case 'batchnorm':
      return { shape: inShape, cost: batchNormCost(size, inShape[inShape.length - 1]) };
    case 'activation':
      return { shape: inShape, cost: elementwiseCost(size) };
    case 'pool': {
      const [H, W, C] = inShape;
      const shape = [Math.floor(H / 2), Math.floor(W / 2), C];
      return { shape, cost: poolCost(prod(shape), 4) };
    }
  }
}

/** Parameters, FLOPs and activations per sample of a description, and its output shape. */
export function describedCost(d: Described): StepCost & { outShape: number[]; outWidth: number } {
  let shape = d.input;
  const total: StepCost = { params: 0, flops: 0, activations: 0 };
  for (const s of d.steps) {
    const r = stepShapeAndCost(s, shape);
    total.params += r.cost.params;
    total.flops += r.cost.flops;
    total.activations += r.cost.activations;
    shape = r.shape;
  }
  return { ...total, outShape: shape, outWidth: shape[shape.length - 1] };
}

function glorot(rng: Rng) {
  return tfl.initializers.glorotUniform({ seed: rng.seed() });
}

/** Builds the layers of `steps` on `x`, drawing initialiser seeds from `rng` in step order. */
export function buildSteps(x: Sym, steps: EncoderStep[], rng: Rng): Sym {
  let h = x;
  for (const s of steps) {
    switch (s.op) {
      case 'flatten':
        h = tfl.layers.flatten({ name: s.name }).apply(h) as Sym;
        break;
      case 'dense':
        h = tfl.layers.dense({ units: s.units, activation: s.activation as never, ...inits(s.init, h.shape[h.shape.length - 1] as number, rng), name: s.name }).apply(h) as Sym;
        break;
      case 'dropout':
        if (s.rate > 0) h = new SeededDropout({ rate: s.rate, seed: rng.seed(), name: s.name }).apply(h) as Sym;
        break;
      case 'lstm':
        // tfl.layers.lstm's math, weights and initialisers (same seeds), fewer kernels (./lstm.ts)
        h = new FastLSTM({
          units: s.units,
          returnSequences: s.returnSequences,
          kernelInitializer: glorot(rng),
          recurrentInitializer: tfl.initializers.orthogonal({ seed: rng.seed(), gain: 1 }),
          name: s.name,
        }).apply(h) as Sym;
        break;
      case 'conv':
        h = tfl.layers
          .conv2d({ filters: s.filters, kernelSize: s.kernel, padding: 'same', activation: s.activation as never, useBias: s.useBias, ...inits(s.init, s.kernel * s.kernel * (h.shape[h.shape.length - 1] as number), rng), name: s.name })
          .apply(h) as Sym;
        break;
      case 'batchnorm':
        h = tfl.layers.batchNormalization({ name: s.name }).apply(h) as Sym;
        break;
      case 'activation':
        h = tfl.layers.activation({ activation: s.activation as never, name: s.name }).apply(h) as Sym;
        break;
      case 'pool': {
        const args = { poolSize: 2, name: s.name };
        h = (s.mode === 'max' ? tfl.layers.maxPooling2d(args) : tfl.layers.averagePooling2d(args)).apply(h) as Sym;
        break;
      }
    }
  }
  return h;
}

/** The head: `mlp` (dense headHidden relu, dropout, dense out) or `linear` (dense out). */
export function describeHead(inW: number, head: string, headHidden: number, dropout: number, outWidth: number, prefix: string): Described {
  const steps: EncoderStep[] =
    head === 'mlp'
      ? [
          { op: 'dense', units: headHidden, activation: 'relu', name: `${prefix}_dense` },
          { op: 'dropout', rate: dropout, name: `${prefix}_drop` },
          { op: 'dense', units: outWidth, activation: 'linear', name: `${prefix}_out` },
        ]
      : [{ op: 'dense', units: outWidth, activation: 'linear', name: `${prefix}_out` }];
  return { input: [inW], steps };
}

export function assertShape(cond: boolean, what: string, spec: ModalitySpec): void {
  if (!cond) throw new ModalfuseError(what, { expected: 'vector, sequence or image shape', found: spec });
}
