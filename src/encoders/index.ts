/**
 * Unimodal encoders: turn one modality's (normalised) input into a feature vector.
 * - vector: MLP (`encoderLayers` dense layers of width `hidden`)
 * - sequence / text: LSTM of `hidden` units (last state)
 * - image / audio / video frame: small configurable CNN (./cnn.ts: `convFilters` blocks of
 *   conv-[bn]-relu-pool, then dense `hidden`)
 * Every initialiser takes a seed drawn from the model's seed, so builds are reproducible.
 */
import { tfl } from '../backend/index.js';
import type { ModalitySpec } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import type { Rng } from '../util/rng.js';
import { SeededDropout } from './dropout.js';
import { FastLSTM } from './lstm.js';
import { CNN_DEFAULTS, cnnSteps, type CnnOptions } from './cnn.js';
import { buildSteps, describedCost, type Described, type EncoderStep } from './describe.js';
import type { StepCost } from './cost_rules.js';

export { SeededDropout, FastLSTM };
export { CNN_DEFAULTS, cnnEncoder, cnnEncoderCost, cnnSteps, cnnOptionsFrom, encoderOutput, parseFilters, type CnnInit, type CnnOptions, type PoolKind } from './cnn.js';
export { kaimingUniform, type WeightInit } from './describe.js';

export interface EncoderOptions {
  hidden: number;
  encoderLayers: number;
  dropout: number;
  activation: string;
  /** Filters of the CNN's conv blocks (same as cnn.filters; kept for callers that set only this). */
  convFilters?: number[];
  /** CNN encoder settings (image/audio/video kinds); `cnnOptionsFrom(options)` makes them from method options. */
  cnn?: Partial<CnnOptions>;
}

export type Sym = tfl.SymbolicTensor;
export { buildSteps, describedCost, describeHead, stepShapeAndCost, type Described, type EncoderStep } from './describe.js';
export * from './cost_rules.js';

export function glorot(rng: Rng) {
  return tfl.initializers.glorotUniform({ seed: rng.seed() });
}

export function dense(x: Sym, units: number, rng: Rng, name: string, activation?: string): Sym {
  return tfl.layers
    .dense({ units, activation: activation as never, kernelInitializer: glorot(rng), name })
    .apply(x) as Sym;
}

export function dropout(x: Sym, rate: number, rng: Rng, name: string): Sym {
  if (rate <= 0) return x;
  return new SeededDropout({ rate, seed: rng.seed(), name }).apply(x) as Sym;
}

/** Which encoder a modality kind gets by default. */
export function encoderKind(spec: ModalitySpec): 'mlp' | 'lstm' | 'cnn' {
  switch (spec.kind) {
    case 'vector':
      return 'mlp';
    case 'sequence':
    case 'text':
      return spec.shape.length === 2 ? 'lstm' : 'mlp';
    case 'image':
    case 'audio':
    case 'video':
      return spec.shape.length === 3 ? 'cnn' : spec.shape.length === 2 ? 'lstm' : 'mlp';
  }
}

/**
 * The default encoder of `spec` as a description (./describe.ts): the layers it builds and
 * what they cost. `encode` builds it; `encoderCost` counts it before anything is built.
 */
export function describeEncoder(spec: ModalitySpec, opts: EncoderOptions, prefix: string): Described {
  const kind = encoderKind(spec);
  const steps: EncoderStep[] = [];
  if (kind === 'mlp') {
    if (spec.shape.length > 1) steps.push({ op: 'flatten', name: `${prefix}_flatten` });
    for (let i = 0; i < opts.encoderLayers; i++) {
      steps.push({ op: 'dense', units: opts.hidden, activation: opts.activation, name: `${prefix}_dense${i + 1}` });
      steps.push({ op: 'dropout', rate: opts.dropout, name: `${prefix}_drop${i + 1}` });
    }
  } else if (kind === 'lstm') {
    steps.push({ op: 'lstm', units: opts.hidden, returnSequences: false, name: `${prefix}_lstm` });
    steps.push({ op: 'dropout', rate: opts.dropout, name: `${prefix}_drop` });
  } else {
    const cnn = { ...CNN_DEFAULTS, ...(opts.convFilters ? { filters: opts.convFilters } : {}), ...opts.cnn };
    steps.push(...cnnSteps(spec, { hidden: opts.hidden, activation: opts.activation, dropout: opts.dropout, cnn }, prefix));
  }
  return { input: spec.shape, steps };
}

/** Apply the default encoder of `spec` to `x`; returns a [batch, hidden] tensor. */
export function encode(x: Sym, spec: ModalitySpec, opts: EncoderOptions, rng: Rng, prefix: string): Sym {
  return buildSteps(x, describeEncoder(spec, opts, prefix).steps, rng);
}

/** Parameters, FLOPs and activations per sample of the default encoder, and its output width. */
export function encoderCost(spec: ModalitySpec, opts: EncoderOptions): StepCost & { outWidth: number } {
  const c = describedCost(describeEncoder(spec, opts, 'enc'));
  return { params: c.params, flops: c.flops, activations: c.activations, outWidth: c.outWidth };
}
export { LastValidStep, MaskPadding, ConstantRow } from './seq_steps.js';
