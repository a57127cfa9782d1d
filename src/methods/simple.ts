/** Registry entries of the simple family: early, pixel, late, hybrid and unimodal methods. */
import { tfl } from '../backend/index.js';
import { ConcatFusion, LateCombine, lateCombineCost, LateStack, lateStackCost, PixelStack, ProductFusion, projectedCost, SumFusion, type FusionCost } from '../fusion/index.js';
import { taskWidth } from '../data/types.js';
import { add, addFusion, encoderEstimate, finish, headEstimate, vectorMethodCost, type Acc, type Cost } from './cost.js';
import { optionsForModality } from '../registry/index.js';
import { cnnOptionsFrom, encode } from '../encoders/index.js';
import { register, registerUnimodal, type BuildContext, type BuildOutput, type MethodEntry, type Sym } from '../registry/index.js';
import type { LossTerm } from '../tasks/index.js';
import type { DataSpec, Options } from '../registry/types.js';

const ALL_TASKS: MethodEntry['tasks'] = ['classification', 'regression', 'multilabel'];
const base = { tasks: ALL_TASKS, modalityKinds: 'any' as const, minModalities: 2 };

/** Concatenation: no weights; keeps its output. */
function concatCost(widths: number[]): FusionCost {
  const w = widths.reduce((a, b) => a + b, 0);
  return { params: 0, flops: 0, activations: w, outWidth: w };
}

/** Encoders of every modality (sorted) added to `acc`; their output widths. */
function encodersEstimate(spec: DataSpec, o: Options, acc: Acc): number[] {
  return Object.keys(spec.modalities)
    .sort()
    .map((m) => encoderEstimate(spec.modalities[m], optionsForModality(undefined, o, m), acc));
}

/** Per-source heads (late, hybrid) and their combination. */
function headsCost(spec: DataSpec, o: Options, combine: (sources: number, k: number) => FusionCost, early: boolean): Cost {
  const acc: Acc = { params: 0, flops: 0, acts: 0 };
  const widths = encodersEstimate(spec, o, acc);
  const k = taskWidth(spec.task);
  if (early) {
    const c = concatCost(widths);
    addFusion(acc, c);
    headEstimate(c.outWidth, o, k, acc);
  }
  for (const w of widths) headEstimate(w, o, k, acc);
  addFusion(acc, combine(widths.length + (early ? 1 : 0), k));
  return finish(acc);
}

function encodeAll(ctx: BuildContext): Sym[] {
  return ctx.modalities.map((m) => ctx.encode(m));
}

register({
  ...base,
  name: 'concat',
  family: 'simple',
  level: 'feature',
  description: 'early fusion: concatenate the encoded modalities, then the head',
  citation: 'Baltrusaitis, Ahuja, Morency. Multimodal Machine Learning: A Survey and Taxonomy. TPAMI 2019',
  options: {},
  cost: (spec, o) => vectorMethodCost(spec, o, concatCost),
  build(ctx) {
    const z = new ConcatFusion({ modalities: ctx.modalities, name: 'fusion_concat' }).apply(encodeAll(ctx)) as Sym;
    return { outputs: { main: ctx.head(z, 'head') } };
  },
});

const PROJECTED = {
  sum: { Layer: SumFusion, description: 'early fusion: project each encoded modality to a common width and add' },
  product: { Layer: ProductFusion, description: 'early fusion: project each encoded modality to a common width and multiply element-wise' },
};
for (const [name, { Layer, description }] of Object.entries(PROJECTED)) {
  register({
    ...base,
    name,
    family: 'simple',
    level: 'feature',
    description,
    citation: 'Baltrusaitis, Ahuja, Morency. Multimodal Machine Learning: A Survey and Taxonomy. TPAMI 2019',
    options: { units: { type: 'integer', default: 32, min: 1, description: 'common width of the projections' } },
    cost: (spec, o) => vectorMethodCost(spec, o, (w) => projectedCost(w, o.units as number)),
    build(ctx) {
      const layer = new Layer({ modalities: ctx.modalities, units: ctx.options.units as number, seed: ctx.rng.seed(), name: `fusion_${name}` });
      return { outputs: { main: ctx.head(layer.apply(encodeAll(ctx)) as Sym, 'head') } };
    },
  });
}

/** Pixel fusion needs aligned inputs: same kind, same shape except the channel axis. */
function pixelCheck(spec: DataSpec): string | null {
  const ms = Object.keys(spec.modalities).sort();
  const first = spec.modalities[ms[0]];
  for (const m of ms.slice(1)) {
    const s = spec.modalities[m];
    const vec = first.shape.length === 1;
    const same = vec
      ? s.shape.length === 1 && s.shape[0] === first.shape[0]
      : s.shape.length === first.shape.length && s.shape.slice(0, -1).every((d, i) => d === first.shape[i]);
    if (!same) {
      return `pixel fusion needs aligned modalities of equal spatial shape: "${ms[0]}" is [${first.shape}], "${m}" is [${s.shape}]`;
    }
  }
  return null;
}

register({
  ...base,
  name: 'pixel',
  family: 'simple',
  level: 'pixel',
  description: 'pixel-level fusion: stack aligned raw inputs as channels, then one shared encoder and the head',
  citation: 'Baltrusaitis, Ahuja, Morency. Multimodal Machine Learning: A Survey and Taxonomy. TPAMI 2019',
  options: {},
  check: (spec) => pixelCheck(spec),
  cost(spec, o) {
    const acc: Acc = { params: 0, flops: 0, acts: 0 };
    const ms = Object.keys(spec.modalities).sort();
    const first = spec.modalities[ms[0]];
    const shape = first.shape.length === 1 ? [first.shape[0] * ms.length] : [...first.shape.slice(0, -1), ms.reduce((a, m) => a + spec.modalities[m].shape[spec.modalities[m].shape.length - 1], 0)];
    const size = shape.reduce((a, b) => a * b, 1);
    add(acc, { params: 0, flops: 0, activations: size });
    const w = encoderEstimate({ kind: first.kind, shape }, optionsForModality(undefined, o, ms[0]), acc);
    headEstimate(w, o, taskWidth(spec.task), acc);
    return finish(acc);
  },
  build(ctx) {
    const xs = ctx.modalities.map((m) => ctx.inputs[m]);
    const stacked = new PixelStack({ modalities: ctx.modalities, name: 'fusion_pixel' }).apply(xs) as Sym;
    const first = ctx.spec.modalities[ctx.modalities[0]];
    const shape = stacked.shape.slice(1) as number[];
    const spec = { kind: first.kind, shape };
    const h = encode(stacked, spec, encoderOpts(ctx), ctx.rng, 'stacked');
    return { outputs: { main: ctx.head(h, 'head') } };
  },
});

/** Encoder options of the stacked input of pixel fusion: the first modality's values of per-modality options. */
export function encoderOpts(ctx: BuildContext) {
  const m = ctx.modalities[0];
  const o = Object.fromEntries(['hidden', 'encoderLayers', 'activation', 'convFilters', 'convKernel', 'convPool', 'convBatchNorm'].map((k) => [k, ctx.optionFor(k, m)]));
  return {
    hidden: o.hidden as number,
    encoderLayers: o.encoderLayers as number,
    dropout: ctx.options.dropout as number,
    activation: o.activation as string,
    cnn: cnnOptionsFrom(o),
  };
}

/**
 * Outputs and objective of a method with per-source heads: `main` (the combination; trained
 * with the task loss unless `trainMain` is false) and one output `head_{source}` per head,
 * whose task losses form one group of weight `auxWeight` / heads.
 */
function withHeads(main: Sym, sources: string[], heads: Sym[], auxWeight: number, trainMain = true): BuildOutput {
  const outputs: Record<string, Sym> = { main };
  const objective: LossTerm[] = trainMain ? [{ output: 'main', target: 'label', loss: 'task', weight: 1 }] : [];
  sources.forEach((src, i) => {
    outputs[`head_${src}`] = heads[i];
    objective.push({ output: `head_${src}`, target: 'label', loss: 'task', weight: auxWeight / heads.length, group: 'heads' });
  });
  return { outputs, objective };
}

const LATE_CITATION = 'Snoek, Worring, Smeulders. Early versus late fusion in semantic video analysis. ACM MM 2005';
const auxWeightOpt = {
  auxWeight: { type: 'number' as const, default: 1, min: 0, description: 'weight of the per-modality heads\' own losses' },
};

function perModalityHeads(ctx: BuildContext): Sym[] {
  return ctx.modalities.map((m) => ctx.head(ctx.encode(m), `${m}_head`));
}

for (const mode of ['mean', 'vote', 'learned'] as const) {
  register({
    ...base,
    name: `late-${mode}`,
    family: 'simple',
    level: 'decision',
    description: {
      mean: 'late fusion: one network per modality, average their predicted probabilities',
      vote: 'late fusion: one network per modality, majority vote of their decisions (median for regression)',
      learned: 'late fusion: one network per modality, learned softmax weight per modality',
    }[mode],
    citation: LATE_CITATION,
    options: auxWeightOpt,
    cost: (spec, o) => headsCost(spec, o, (m, k) => lateCombineCost(m, k, mode), false),
    build(ctx) {
      const heads = perModalityHeads(ctx);
      const main = new LateCombine({ modalities: ctx.modalities, mode, task: ctx.task, name: `fusion_late_${mode}` }).apply(heads) as Sym;
      return withHeads(main, ctx.modalities, heads, ctx.options.auxWeight as number, mode !== 'vote');
    },
  });
}

register({
  ...base,
  name: 'late-stack',
  family: 'simple',
  level: 'decision',
  description: 'late fusion by stacking: a learned linear meta-model over every modality network\'s probabilities',
  citation: 'Wolpert. Stacked generalization. Neural Networks 1992',
  options: auxWeightOpt,
  cost: (spec, o) => headsCost(spec, o, (m, k) => lateStackCost(new Array(m).fill(k), k), false),
  build(ctx) {
    const heads = perModalityHeads(ctx);
    const main = new LateStack({ modalities: ctx.modalities, task: ctx.task, units: ctx.outWidth, seed: ctx.rng.seed(), name: 'fusion_late_stack' }).apply(
      heads,
    ) as Sym;
    return withHeads(main, ctx.modalities, heads, ctx.options.auxWeight as number);
  },
});

register({
  ...base,
  name: 'hybrid',
  family: 'simple',
  level: 'hybrid',
  description: 'hybrid fusion: an early (concatenation) head and one head per modality, combined by learned weights',
  citation: 'Atrey, Hossain, El Saddik, Kankanhalli. Multimodal fusion for multimedia analysis: a survey. Multimedia Systems 2010',
  options: { auxWeight: { type: 'number', default: 0.5, min: 0, description: 'weight of the individual heads\' own losses' } },
  cost: (spec, o) => headsCost(spec, o, (m, k) => lateCombineCost(m, k, 'learned'), true),
  build(ctx) {
    const encoded = encodeAll(ctx);
    const early = ctx.head(new ConcatFusion({ modalities: ctx.modalities, name: 'fusion_concat' }).apply(encoded) as Sym, 'early_head');
    const heads = ctx.modalities.map((m, i) => ctx.head(encoded[i], `${m}_head`));
    const sources = ['early', ...ctx.modalities];
    const main = new LateCombine({ modalities: sources, mode: 'learned', task: ctx.task, name: 'fusion_hybrid' }).apply([early, ...heads]) as Sym;
    return withHeads(main, sources, [early, ...heads], ctx.options.auxWeight as number);
  },
});

registerUnimodal((modality) => ({
  name: `${modality}-only`,
  family: 'unimodal',
  level: 'feature',
  description: `baseline: the "${modality}" modality alone (its encoder and the head)`,
  citation: '',
  tasks: ALL_TASKS,
  modalityKinds: 'any',
  minModalities: 1,
  options: {},
  cost(spec, o) {
    const acc: Acc = { params: 0, flops: 0, acts: 0 };
    const w = encoderEstimate(spec.modalities[modality], optionsForModality(undefined, o, modality), acc);
    headEstimate(w, o, taskWidth(spec.task), acc);
    return finish(acc);
  },
  build(ctx: BuildContext) {
    return { outputs: { main: ctx.head(ctx.encode(modality), 'head') } };
  },
}));

export const SIMPLE_METHODS = ['concat', 'sum', 'product', 'pixel', 'late-mean', 'late-vote', 'late-learned', 'late-stack', 'hybrid'];
void tfl;
