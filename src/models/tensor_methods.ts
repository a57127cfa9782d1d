/**
 * Registry entries of the tensor family: `tfn`, `lmf`, `ptp`, `hpfn`.
 *
 * Each entry states its cost before anything is built (`cost`): parameters, FLOPs per
 * sample and activation bytes per sample of the whole model (encoders, fusion, head), with
 * the same counting rules as `eval/cost.ts` applied to a built model. TFN refuses (through
 * `check`, so before building) a configuration whose estimated memory for one training
 * batch exceeds `maxMemoryMB`.
 */
import { tfl } from '../backend/index.js';
import { cnnEncoderCost, cnnOptionsFrom, dense, dropout, encoderKind, glorot } from '../encoders/index.js';
import { sizeOf, taskWidth, type ModalitySpec } from '../data/types.js';
import {
  denseCost,
  HierarchicalPolynomialFusion,
  hpfnCost,
  LowRankFusion,
  lmfCost,
  PolynomialTensorPooling,
  ptpCost,
  TensorFusion,
  tfnCost,
  type FusionCost,
  type PtpOptions,
} from '../fusion/index.js';
import { register, type MethodEntry, type Options, type OptionSpec, type Sym } from '../registry/index.js';
import type { DataSpec } from '../registry/types.js';

const ALL_TASKS: MethodEntry['tasks'] = ['classification', 'regression', 'multilabel'];

// ---------------------------------------------------------------------------- cost estimates

interface Acc {
  params: number;
  flops: number;
  acts: number;
}

function add(acc: Acc, c: { params?: number; flops: number; activations: number }): void {
  acc.params += c.params ?? 0;
  acc.flops += c.flops;
  acc.acts += c.activations;
}

function addDropout(acc: Acc, rate: number, size: number): void {
  if (rate > 0) add(acc, { flops: size, activations: size });
}

function lstmCost(steps: number, inW: number, units: number, returnSequences: boolean) {
  const perStep = 4 * (2 * (inW + units) * units + units) + 10 * units;
  const out = returnSequences ? steps * units : units;
  return { params: 4 * (inW * units + units * units + units), flops: steps * perStep, activations: steps * 6 * units + out };
}

/** Adds the default encoder of a modality (encoders/index.ts) to `acc`; returns its output width. */
function encoderEstimate(spec: ModalitySpec, o: Options, acc: Acc): number {
  const hidden = o.hidden as number;
  const rate = o.dropout as number;
  const act = o.activation as string;
  const kind = encoderKind(spec);
  if (kind === 'mlp') {
    let w = sizeOf(spec.shape);
    for (let i = 0; i < (o.encoderLayers as number); i++) {
      add(acc, denseCost(w, hidden, act));
      addDropout(acc, rate, hidden);
      w = hidden;
    }
    return w;
  }
  if (kind === 'lstm') {
    add(acc, lstmCost(spec.shape[0], spec.shape[1], hidden, false));
    addDropout(acc, rate, hidden);
    return hidden;
  }
  // cnn: the configurable CNN encoder (encoders/cnn.ts) with the method's conv options
  const c = cnnEncoderCost(spec, { hidden, activation: act, dropout: rate, cnn: cnnOptionsFrom(o) });
  add(acc, c);
  return c.outWidth;
}

function headEstimate(inW: number, o: Options, outWidth: number, acc: Acc): void {
  if (o.head === 'mlp') {
    add(acc, denseCost(inW, o.headHidden as number, 'relu'));
    addDropout(acc, o.dropout as number, o.headHidden as number);
    add(acc, denseCost(o.headHidden as number, outWidth, 'linear'));
  } else {
    add(acc, denseCost(inW, outWidth, 'linear'));
  }
}

/** A fusion layer's cost as eval/cost.ts counts it (kept activations at least the output). */
function addFusion(acc: Acc, c: FusionCost): void {
  add(acc, { params: c.params, flops: c.flops, activations: Math.max(c.activations, c.outWidth) });
}

type Cost = { params: number; flopsPerSample: number; activationBytesPerSample: number };

function finish(acc: Acc): Cost {
  return { params: acc.params, flopsPerSample: Math.round(acc.flops), activationBytesPerSample: Math.round(acc.acts * 4) };
}

/** Encoders + fusion + head, for the vector-fusing methods. */
function vectorMethodCost(spec: DataSpec, o: Options, fusion: (widths: number[]) => FusionCost): Cost {
  const acc: Acc = { params: 0, flops: 0, acts: 0 };
  const widths = Object.keys(spec.modalities)
    .sort()
    .map((m) => encoderEstimate(spec.modalities[m], o, acc));
  const f = fusion(widths);
  addFusion(acc, f);
  headEstimate(f.outWidth, o, taskWidth(spec.task), acc);
  return finish(acc);
}

/**
 * Cost of the default encoder of one modality followed by the configured head: a lower
 * bound of any method's model that encodes that modality (src/models/size_limit.ts).
 */
export function encoderAndHeadCost(spec: DataSpec, modality: string, o: Options): Cost {
  const acc: Acc = { params: 0, flops: 0, acts: 0 };
  const w = encoderEstimate(spec.modalities[modality], o, acc);
  headEstimate(w, o, taskWidth(spec.task), acc);
  return finish(acc);
}

function encodedWidths(spec: DataSpec, o: Options): number[] {
  const scratch: Acc = { params: 0, flops: 0, acts: 0 };
  return Object.keys(spec.modalities)
    .sort()
    .map((m) => encoderEstimate(spec.modalities[m], o, scratch));
}

// ---------------------------------------------------------------------------- TFN

const MiB = 1024 * 1024;

/**
 * Memory of one training batch: activations and their gradients for `batch` samples, plus
 * weights, gradients and the two Adam moments.
 */
export function tfnMemoryEstimate(spec: DataSpec, o: Options): { bytes: number; activationBytes: number; weightBytes: number; tensorWidth: number; cost: Cost } {
  const cost = tfnEntryCost(spec, o);
  const batch = o.batchSizeForMemory as number;
  const activationBytes = 2 * batch * cost.activationBytesPerSample;
  const weightBytes = 4 * 4 * cost.params;
  return { bytes: activationBytes + weightBytes, activationBytes, weightBytes, tensorWidth: TensorFusion.tensorWidth(encodedWidths(spec, o)), cost };
}

function tfnEntryCost(spec: DataSpec, o: Options): Cost {
  return vectorMethodCost(spec, o, (w) => tfnCost(w));
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function tfnCheck(spec: DataSpec, o: Options): string | null {
  const widths = encodedWidths(spec, o);
  const est = tfnMemoryEstimate(spec, o);
  const limit = o.maxMemoryMB as number;
  if (est.bytes / MiB <= limit) return null;
  const dims = widths.map((d) => d + 1).join(' x ');
  return (
    `the TFN tensor has ${dims} = ${fmtInt(est.tensorWidth)} entries per sample; one training batch of ${o.batchSizeForMemory} ` +
    `would need about ${fmtInt(est.bytes / MiB)} MiB (activations and their gradients ${fmtInt(est.activationBytes / MiB)} MiB, ` +
    `${fmtInt(est.cost.params)} weights with gradients and Adam state ${fmtInt(est.weightBytes / MiB)} MiB), over the limit maxMemoryMB=${limit}. ` +
    `Use lmf (low-rank factors, never forms the tensor) or ptp (polynomial tensor pooling with one shared low-rank factor) instead, ` +
    `or lower hidden`
  );
}

register({
  name: 'tfn',
  family: 'tensor',
  level: 'intermediate',
  description: 'tensor fusion: outer product of [1; h_m] over all modalities (unimodal, bimodal, ... terms), flattened, then the head',
  citation: 'Zadeh, Chen, Poria, Cambria, Morency. Tensor Fusion Network for Multimodal Sentiment Analysis. EMNLP 2017',
  tasks: ALL_TASKS,
  modalityKinds: 'any',
  minModalities: 2,
  options: {
    maxMemoryMB: { type: 'number', default: 2048, min: 1, description: 'refuse configurations whose estimated memory for one training batch exceeds this (MiB)' },
    batchSizeForMemory: { type: 'integer', default: 64, min: 1, description: 'batch size assumed by the memory estimate' },
    fused: {
      type: 'boolean',
      default: true,
      description: 'compute the first post-fusion linear layer inside the fusion layer with a hand-written gradient (same function, faster); false: flat tensor layer, then the standard head',
    },
  },
  check: tfnCheck,
  cost: tfnEntryCost,
  build(ctx) {
    const encoded = ctx.modalities.map((m) => ctx.encode(m));
    if (!ctx.options.fused) {
      const z = new TensorFusion({ modalities: ctx.modalities, seed: ctx.rng.seed(), name: 'fusion_tfn' }).apply(encoded) as Sym;
      return { main: ctx.head(z, 'head') };
    }
    // Same function as flat tensor -> ctx.head: the head's first dense layer lives in the fusion layer.
    if (ctx.options.head === 'linear') {
      const main = new TensorFusion({ modalities: ctx.modalities, units: ctx.outWidth, seed: ctx.rng.seed(), name: 'fusion_tfn' }).apply(encoded) as Sym;
      return { main };
    }
    let h = new TensorFusion({
      modalities: ctx.modalities,
      units: ctx.options.headHidden as number,
      activation: 'relu',
      seed: ctx.rng.seed(),
      name: 'fusion_tfn',
    }).apply(encoded) as Sym;
    h = dropout(h, ctx.options.dropout as number, ctx.rng, 'head_drop');
    return { main: dense(h, ctx.outWidth, ctx.rng, 'head_out') };
  },
});

// ---------------------------------------------------------------------------- LMF

const rankOpt: OptionSpec = { type: 'integer', default: 4, min: 1, description: 'rank r of the CP factorisation' };

register({
  name: 'lmf',
  family: 'tensor',
  level: 'intermediate',
  description: 'low-rank multimodal fusion: the TFN function with a rank-r CP-factored weight (one factor per modality), never forming the tensor',
  citation: 'Liu, Shen, Lakshminarasimhan, Liang, Zadeh, Morency. Efficient Low-rank Multimodal Fusion with Modality-Specific Factors. ACL 2018',
  tasks: ALL_TASKS,
  modalityKinds: 'any',
  minModalities: 2,
  options: {
    rank: rankOpt,
    units: { type: 'integer', default: 64, min: 1, description: 'output width of the fusion (each rank component has a full (d_m+1) x units factor per modality)' },
  },
  cost: (spec, o) => vectorMethodCost(spec, o, (w) => lmfCost(w, o.rank as number, o.units as number)),
  build(ctx) {
    const encoded = ctx.modalities.map((m) => ctx.encode(m));
    const z = new LowRankFusion({
      modalities: ctx.modalities,
      rank: ctx.options.rank as number,
      units: ctx.options.units as number,
      seed: ctx.rng.seed(),
      name: 'fusion_lmf',
    }).apply(encoded) as Sym;
    return { main: ctx.head(z, 'head') };
  },
});

// ---------------------------------------------------------------------------- PTP / HPFN

const ptpOptions: Record<string, OptionSpec> = {
  rank: rankOpt,
  order: { type: 'integer', default: 3, min: 1, max: 8, description: 'polynomial degree P (copies of the shared projection multiplied; the official code\'s default poly_order=2 multiplies 3)' },
  constant: { type: 'number', default: 0.5, description: 'constant prepended to the concatenation (0.5 in the official code)' },
  signedSqrt: { type: 'boolean', default: true, description: 'signed square root after pooling (official poly_norm=1)' },
  l2norm: { type: 'boolean', default: false, description: 'L2-normalise each rank component over the units (official euclid_norm)' },
};

function ptpOpts(o: Options, units: number): PtpOptions {
  return {
    rank: o.rank as number,
    units,
    order: o.order as number,
    constant: o.constant as number,
    signedSqrt: o.signedSqrt as boolean,
    l2norm: o.l2norm as boolean,
  };
}

register({
  name: 'ptp',
  family: 'tensor',
  level: 'intermediate',
  description: 'polynomial tensor pooling: order-P polynomial of [c; h_1; ...; h_M] through one shared rank-r factor, then the head',
  citation: 'Hou, Tang, Yin, Zhao. Deep Multimodal Multilinear Fusion with High-order Polynomial Pooling. NeurIPS 2019',
  tasks: ALL_TASKS,
  modalityKinds: 'any',
  minModalities: 2,
  options: { ...ptpOptions, units: { type: 'integer', default: 64, min: 1, description: 'output width of the pooling' } },
  cost: (spec, o) =>
    vectorMethodCost(spec, o, (w) => {
      const D = w.reduce((a, b) => a + b, 0);
      const p = ptpOpts(o, o.units as number);
      const c = ptpCost(D, p.rank, p.units, p.order, p.signedSqrt, p.l2norm);
      return { ...c, flops: c.flops + D, activations: c.activations + D };
    }),
  build(ctx) {
    const encoded = ctx.modalities.map((m) => ctx.encode(m));
    const z = new PolynomialTensorPooling({
      modalities: ctx.modalities,
      seed: ctx.rng.seed(),
      name: 'fusion_ptp',
      ...ptpOpts(ctx.options, ctx.options.units as number),
    }).apply(encoded) as Sym;
    return { main: ctx.head(z, 'head') };
  },
});

function hpfnCheck(spec: DataSpec): string | null {
  const ms = Object.keys(spec.modalities).sort();
  let steps: number | null = null;
  for (const m of ms) {
    const s = spec.modalities[m].shape;
    if (s.length !== 2) return `hpfn needs sequence modalities of shape [steps, features]; "${m}" is [${s}]`;
    if (steps !== null && s[0] !== steps) return `hpfn needs the same number of steps in every modality: "${ms[0]}" has ${steps}, "${m}" has ${s[0]}`;
    steps = s[0];
  }
  return null;
}

function hpfnStructure(o: Options) {
  return {
    timeWindow: o.timeWindow as number,
    modalWindow: o.modalWindow as number,
    layers: o.layers as number,
    hiddenUnits: o.hiddenUnits as number,
  };
}

/** The per-step encoder of an HPFN modality: adds its cost, returns its width. */
function seqEncoderEstimate(spec: ModalitySpec, o: Options, acc: Acc): number {
  const [T, D] = spec.shape;
  const hidden = o.hidden as number;
  if (o.seqEncoder === 'none') return D;
  if (o.seqEncoder === 'dense') add(acc, denseCost(D, hidden, o.activation as string, T));
  else add(acc, lstmCost(T, D, hidden, true));
  addDropout(acc, o.dropout as number, T * hidden);
  return hidden;
}

register({
  name: 'hpfn',
  family: 'tensor',
  level: 'intermediate',
  description: 'hierarchical polynomial fusion: PTP nodes on local windows over time steps and modalities, stacked in layers, for sequence inputs',
  citation: 'Hou, Tang, Yin, Zhao. Deep Multimodal Multilinear Fusion with High-order Polynomial Pooling. NeurIPS 2019',
  tasks: ALL_TASKS,
  modalityKinds: 'any',
  minModalities: 2,
  options: {
    ...ptpOptions,
    units: { type: 'integer', default: 32, min: 1, description: 'output width of the last layer' },
    hiddenUnits: { type: 'integer', default: 32, min: 1, description: 'width of every node of the hidden layers' },
    layers: { type: 'integer', default: 2, min: 1, max: 6, description: 'number of PTP layers (the last pools everything)' },
    timeWindow: { type: 'integer', default: 4, min: 1, description: 'time steps per window in the hidden layers' },
    modalWindow: { type: 'integer', default: 2, min: 1, description: 'modalities per window in the hidden layers (circular windows)' },
    seqEncoder: { type: 'string', default: 'lstm', values: ['lstm', 'dense', 'none'], description: 'per-step encoder of each modality: LSTM states, a per-step dense layer, or the raw steps' },
  },
  check: (spec) => hpfnCheck(spec),
  cost(spec, o) {
    const acc: Acc = { params: 0, flops: 0, acts: 0 };
    const ms = Object.keys(spec.modalities).sort();
    const widths = ms.map((m) => seqEncoderEstimate(spec.modalities[m], o, acc));
    const f = hpfnCost(spec.modalities[ms[0]].shape[0], widths, hpfnStructure(o), ptpOpts(o, o.units as number));
    addFusion(acc, f);
    headEstimate(f.outWidth, o, taskWidth(spec.task), acc);
    return finish(acc);
  },
  build(ctx) {
    const o = ctx.options;
    const seqs = ctx.modalities.map((m) => {
      let x = ctx.inputs[m];
      if (o.seqEncoder === 'none') return x;
      if (o.seqEncoder === 'dense') {
        x = dense(x, o.hidden as number, ctx.rng, `enc_${m}_dense`, o.activation as string);
      } else {
        x = tfl.layers
          .lstm({
            units: o.hidden as number,
            returnSequences: true,
            kernelInitializer: glorot(ctx.rng),
            recurrentInitializer: tfl.initializers.orthogonal({ seed: ctx.rng.seed(), gain: 1 }),
            name: `enc_${m}_lstm`,
          })
          .apply(x) as Sym;
      }
      return dropout(x, o.dropout as number, ctx.rng, `enc_${m}_drop`);
    });
    const z = new HierarchicalPolynomialFusion({
      modalities: ctx.modalities,
      seed: ctx.rng.seed(),
      name: 'fusion_hpfn',
      ...ptpOpts(o, o.units as number),
      ...hpfnStructure(o),
    }).apply(seqs) as Sym;
    return { main: ctx.head(z, 'head') };
  },
});

export const TENSOR_METHODS = ['tfn', 'lmf', 'ptp', 'hpfn'];
