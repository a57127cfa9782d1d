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
import { CNN_DEFAULTS, cnnEncoder, type CnnOptions } from './cnn.js';
import { FastLSTM } from './lstm.js';

export { SeededDropout };
export { CNN_DEFAULTS, cnnEncoder, cnnEncoderCost, cnnOptionsFrom, encoderOutput, kaimingUniform, parseFilters, type CnnInit, type CnnOptions, type PoolKind } from './cnn.js';

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

/** Apply the default encoder of `spec` to `x`; returns a [batch, hidden] tensor. */
export function encode(x: Sym, spec: ModalitySpec, opts: EncoderOptions, rng: Rng, prefix: string): Sym {
  const kind = encoderKind(spec);
  let h = x;
  if (kind === 'mlp') {
    if (spec.shape.length > 1) h = tfl.layers.flatten({ name: `${prefix}_flatten` }).apply(h) as Sym;
    for (let i = 0; i < opts.encoderLayers; i++) {
      h = dense(h, opts.hidden, rng, `${prefix}_dense${i + 1}`, opts.activation);
      h = dropout(h, opts.dropout, rng, `${prefix}_drop${i + 1}`);
    }
    return h;
  }
  if (kind === 'lstm') {
    // tfl.layers.lstm's math, weights and initialisers (same seeds), fewer kernels (./lstm.ts)
    h = new FastLSTM({
      units: opts.hidden,
      kernelInitializer: glorot(rng),
      recurrentInitializer: tfl.initializers.orthogonal({ seed: rng.seed(), gain: 1 }),
      name: `${prefix}_lstm`,
    }).apply(h) as Sym;
    return dropout(h, opts.dropout, rng, `${prefix}_drop`);
  }
  if (kind === 'cnn') {
    const cnn = { ...CNN_DEFAULTS, ...(opts.convFilters ? { filters: opts.convFilters } : {}), ...opts.cnn };
    return cnnEncoder(h, spec, { hidden: opts.hidden, activation: opts.activation, dropout: opts.dropout, cnn }, rng, prefix, glorot, dropout);
  }
  throw new ModalfuseError('no encoder for modality', { expected: 'vector, sequence or image shape', found: spec });
}
