/**
 * Costs of methods before anything is built: parameters, FLOPs per sample and activation
 * bytes per sample of the whole model (encoders, fusion, heads), from the encoders' and
 * heads' descriptions (src/encoders/describe.ts) and the fusion layers' own cost
 * functions, counted by the same rules as a built model (src/eval/cost.ts).
 */
import { cnnOptionsFrom, describedCost, describeHead, encoderCost } from '../encoders/index.js';
import { taskWidth, type ModalitySpec } from '../data/types.js';
import type { FusionCost } from '../fusion/index.js';
import { optionsForModality, type DataSpec, type Options } from '../registry/index.js';

export interface Acc {
  params: number;
  flops: number;
  acts: number;
}

export function add(acc: Acc, c: { params?: number; flops: number; activations: number }): void {
  acc.params += c.params ?? 0;
  acc.flops += c.flops;
  acc.acts += c.activations;
}

/** Adds the default encoder of a modality (src/encoders: its description) to `acc`; returns its output width. */
export function encoderEstimate(spec: ModalitySpec, o: Options, acc: Acc): number {
  const c = encoderCost(spec, { hidden: o.hidden as number, encoderLayers: o.encoderLayers as number, dropout: o.dropout as number, activation: o.activation as string, cnn: cnnOptionsFrom(o) });
  add(acc, c);
  return c.outWidth;
}

/** Adds the head (its description, as compose builds it) to `acc`. */
export function headEstimate(inW: number, o: Options, outWidth: number, acc: Acc): void {
  add(acc, describedCost(describeHead(inW, o.head as string, o.headHidden as number, o.dropout as number, outWidth, 'head')));
}

/** A fusion layer's cost as eval/cost.ts counts it (kept activations at least the output). */
export function addFusion(acc: Acc, c: FusionCost): void {
  add(acc, { params: c.params, flops: c.flops, activations: Math.max(c.activations, c.outWidth) });
}

export type Cost = { params: number; flopsPerSample: number; activationBytesPerSample: number };

export function finish(acc: Acc): Cost {
  return { params: acc.params, flopsPerSample: Math.round(acc.flops), activationBytesPerSample: Math.round(acc.acts * 4) };
}

/** Encoders + fusion + head, for the vector-fusing methods. */
export function vectorMethodCost(spec: DataSpec, o: Options, fusion: (widths: number[]) => FusionCost): Cost {
  const acc: Acc = { params: 0, flops: 0, acts: 0 };
  const widths = Object.keys(spec.modalities)
    .sort()
    .map((m) => encoderEstimate(spec.modalities[m], optionsForModality(undefined, o, m), acc));
  const f = fusion(widths);
  addFusion(acc, f);
  headEstimate(f.outWidth, o, taskWidth(spec.task), acc);
  return finish(acc);
}

export function encodedWidths(spec: DataSpec, o: Options): number[] {
  const scratch: Acc = { params: 0, flops: 0, acts: 0 };
  return Object.keys(spec.modalities)
    .sort()
    .map((m) => encoderEstimate(spec.modalities[m], optionsForModality(undefined, o, m), scratch));
}


/**
 * Cost of the default encoder of one modality followed by the configured head: a lower
 * bound of any method's model that encodes that modality (src/models/size_limit.ts).
 */
export function encoderAndHeadCost(spec: DataSpec, modality: string, o: Options): Cost {
  const acc: Acc = { params: 0, flops: 0, acts: 0 };
  const w = encoderEstimate(spec.modalities[modality], optionsForModality(undefined, o, modality), acc);
  headEstimate(w, o, taskWidth(spec.task), acc);
  return finish(acc);
}
