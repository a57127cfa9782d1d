/**
 * Registry entries of the attention family and the sequence baselines: `mfn` (Memory
 * Fusion Network), `dfg` (dynamic fusion graph), `modal-attention`, and `ef-lstm`,
 * `lf-lstm`, `constant`. Every sequence modality is read with its valid lengths
 * (`ctx.lengths`), so padded steps at the end change nothing.
 */
import { tf, tfl } from '../backend/index.js';
import { ConstantRow, dense, describedCost, dropout, FastLSTM, glorot, LastValidStep, MaskPadding } from '../encoders/index.js';
import { taskWidth } from '../data/types.js';
import { DynamicFusionGraph, MemoryFusion, ModalAttention } from '../fusion/index.js';
import { register, type BuildContext, type DataSpec, type MethodEntry, type Options, type Sym } from '../registry/index.js';

const ALL_TASKS: MethodEntry['tasks'] = ['classification', 'regression', 'multilabel'];
const DFG_CITATION = 'Zadeh, Liang, Poria, Cambria, Morency. Multimodal Language Analysis in the Wild: CMU-MOSEI and Interpretable Dynamic Fusion Graph. ACL 2018';
const MFN_CITATION = 'Zadeh, Liang, Mazumder, Poria, Cambria, Morency. Memory Fusion Network for Multi-view Sequential Learning. AAAI 2018';

function isSequence(spec: DataSpec, m: string): boolean {
  return spec.modalities[m].shape.length === 2;
}

/** Every modality a [steps, features] sequence, all of the same number of steps. */
function alignedSequences(spec: DataSpec): string | null {
  const ms = Object.keys(spec.modalities).sort();
  for (const m of ms) if (!isSequence(spec, m)) return `modality "${m}" is not a [steps, features] sequence (shape [${spec.modalities[m].shape}])`;
  const T = spec.modalities[ms[0]].shape[0];
  for (const m of ms) if (spec.modalities[m].shape[0] !== T) return `modalities "${ms[0]}" and "${m}" have different numbers of steps (${T} and ${spec.modalities[m].shape[0]})`;
  return null;
}

/** An LSTM over a sequence modality, its state at each sample's last valid step. */
function lstmLast(ctx: BuildContext, x: Sym, len: Sym, units: number, prefix: string): Sym {
  const hs = new FastLSTM({
    units,
    recurrentActivation: 'sigmoid',
    returnSequences: true,
    kernelInitializer: glorot(ctx.rng),
    recurrentInitializer: tfl.initializers.orthogonal({ seed: ctx.rng.seed(), gain: 1 }),
    name: `${prefix}_lstm`,
  }).apply(x) as Sym;
  return new LastValidStep({ name: `${prefix}_last` }).apply([hs, len]) as Sym;
}

/** A modality's features: a sequence through an LSTM (lengths honoured), anything else through its default encoder. */
function encodeModality(ctx: BuildContext, m: string): Sym {
  if (!isSequence(ctx.spec, m)) return ctx.encode(m);
  const h = lstmLast(ctx, ctx.inputs[m], ctx.lengths(m), ctx.optionFor('hidden', m) as number, `enc_${m}`);
  return dropout(h, ctx.options.dropout as number, ctx.rng, `enc_${m}_drop`);
}

// ------------------------------------------------------------------------------ MFN

/** The official "mae 0.993" LSTM widths (test_mosi.py: h_dims [88, 48, 16] for text, audio, video). */
export const MFN_PRESET_HIDDEN: Record<string, number> = { text: 88, audio: 48, video: 16 };

function mfnHidden(ctx: { optionFor(k: string, m: string): unknown }, m: string): number {
  const v = ctx.optionFor('lstmHidden', m) as number;
  return v > 0 ? v : MFN_PRESET_HIDDEN[m] ?? 32;
}

const pair = (d: [number, number], what: string) => ({
  type: 'list' as const,
  default: d,
  items: { type: 'number' as const, min: 0 },
  minItems: 2,
  maxItems: 2,
  description: what,
});

function mfnEntry(graph: boolean): MethodEntry {
  return {
    name: graph ? 'graph-mfn' : 'mfn',
    family: 'attention',
    level: 'intermediate',
    description: graph
      ? 'Graph-MFN: MFN whose memory proposal is a dynamic fusion graph over the modalities (efficacies are an output)'
      : 'Memory Fusion Network: one LSTM per modality, delta-memory attention over the cell states of t-1 and t, multi-view gated memory',
    citation: graph ? DFG_CITATION : MFN_CITATION,
    tasks: ALL_TASKS,
    modalityKinds: 'any',
    minModalities: 2,
    // the official "mae 0.993" configuration (pliang279/MFN test_mosi.py), text dropped
    options: {
      lstmHidden: {
        type: 'integer',
        default: 0,
        min: 0,
        perModality: true,
        description: 'LSTM units per modality (lstmHidden.audio=48); 0: the official preset (audio 48, video 16, text 88; 32 for other names)',
      },
      memory: { type: 'integer', default: 128, min: 1, description: 'size of the multi-view gated memory' },
      window: { type: 'integer', default: 2, min: 1, description: 'steps of cell states the delta-memory attention sees (2: t-1 and t)' },
      attHidden: { ...pair([128, 64], 'hidden widths of the attention network D_a and the memory proposal D_u'), items: { type: 'integer', min: 1 } },
      attDropout: pair([0, 0.2], 'dropout inside D_a and D_u'),
      gammaHidden: { ...pair([256, 64], 'hidden widths of the retain (γ1) and update (γ2) gate networks'), items: { type: 'integer', min: 1 } },
      gammaDropout: pair([0, 0.2], 'dropout inside the γ1 and γ2 networks'),
      outHidden: { type: 'integer', default: 64, min: 1, description: 'hidden width of the prediction network' },
      outDropout: { type: 'number', default: 0.5, min: 0, max: 0.95, description: 'dropout of the prediction network' },
    },
    training: { lr: 0.01, batchSize: 128, epochs: 100, patience: 0, loss: 'l1' },
    // the official code scales video by its training max |x| per feature (audio is left raw there; standardised here)
    scaling: (m) => (m === 'video' ? 'maxabs' : 'standardize'),
    check: (spec) => alignedSequences(spec),
    cost(spec, options) {
      const ms = Object.keys(spec.modalities).sort();
      const o = { optionFor: (k: string, m: string) => (typeof options[k] === 'object' ? ((options[k] as Record<string, number>)[m] ?? 0) : options[k]) };
      const args = mfnArgs(options, ms.map((m) => mfnHidden(o, m)), graph);
      const dims = ms.map((m) => spec.modalities[m].shape[1]);
      const T = spec.modalities[ms[0]].shape[0];
      const layer = new MemoryFusion({ modalities: ms, ...args });
      const c = layer.costPerSample(ms.map((m) => [null, T, spec.modalities[m].shape[1]]));
      const z = args.hidden.reduce((a, b) => a + b, 0) + args.memory;
      const out = options.outHidden as number;
      // the prediction network, counted by the encoders' rules (src/encoders/describe.ts)
      const head = describedCost({
        input: [z],
        steps: [
          { op: 'dense', units: out, activation: 'relu', name: 'out_dense' },
          { op: 'dropout', rate: options.outDropout as number, name: 'out_drop' },
          { op: 'dense', units: taskWidth(spec.task), activation: 'linear', name: 'out_out' },
        ],
      });
      return { params: MemoryFusion.params(dims, args) + head.params, flopsPerSample: c.flops + head.flops, activationBytesPerSample: 4 * (c.activations + head.activations) };
    },
    build(ctx) {
      const ms = ctx.modalities;
      const layer = new MemoryFusion({ modalities: ms, ...mfnArgs(ctx.options, ms.map((m) => mfnHidden(ctx, m)), graph), seed: ctx.rng.seed(), name: graph ? 'fusion_graph_mfn' : 'fusion_mfn' });
      const [z, attention, efficacies] = layer.apply([...ms.map((m) => ctx.inputs[m]), ...ms.map((m) => ctx.lengths(m))]) as Sym[];
      let h = dense(z, ctx.options.outHidden as number, ctx.rng, 'out_dense', 'relu');
      h = dropout(h, ctx.options.outDropout as number, ctx.rng, 'out_drop');
      return { outputs: { main: dense(h, ctx.outWidth, ctx.rng, 'out_out'), attention, ...(graph ? { efficacies } : {}) } };
    },
  };
}
register(mfnEntry(false));
register(mfnEntry(true));

function mfnArgs(o: Options, hidden: number[], graph: boolean) {
  return {
    graph,
    hidden,
    memory: o.memory as number,
    window: o.window as number,
    attHidden: o.attHidden as [number, number],
    attDropout: o.attDropout as [number, number],
    gammaHidden: o.gammaHidden as [number, number],
    gammaDropout: o.gammaDropout as [number, number],
    lengths: true,
  };
}

// ------------------------------------------------------------------------------ DFG, modal attention

register({
  name: 'dfg',
  family: 'attention',
  level: 'intermediate',
  description: 'dynamic fusion graph: vertices for every modality subset, efficacies on the edges (an output for explanation)',
  citation: DFG_CITATION,
  tasks: ALL_TASKS,
  modalityKinds: 'any',
  minModalities: 2,
  options: { units: { type: 'integer', default: 32, min: 1, description: 'width of every graph vertex' } },
  check: (spec) => (Object.keys(spec.modalities).length > 5 ? `dfg has a vertex per modality subset: at most 5 modalities, found ${Object.keys(spec.modalities).length}` : null),
  build(ctx) {
    const feats = ctx.modalities.map((m) => encodeModality(ctx, m));
    const [tau, efficacies] = new DynamicFusionGraph({ modalities: ctx.modalities, units: ctx.options.units as number, seed: ctx.rng.seed(), name: 'fusion_dfg' }).apply(feats) as Sym[];
    return { outputs: { main: ctx.head(tau, 'head'), efficacies } };
  },
});

register({
  name: 'modal-attention',
  family: 'attention',
  level: 'intermediate',
  description: 'modal attention: a softmax over modalities predicted from their concatenated features re-weights each before fusing (weights are an output)',
  citation: 'Baltrusaitis, Ahuja, Morency. Multimodal Machine Learning: A Survey and Taxonomy. TPAMI 2019 (attention fusion of video modalities, Taobao)',
  tasks: ALL_TASKS,
  modalityKinds: 'any',
  minModalities: 2,
  options: {},
  build(ctx) {
    const feats = ctx.modalities.map((m) => encodeModality(ctx, m));
    const [fused, weights] = new ModalAttention({ modalities: ctx.modalities, seed: ctx.rng.seed(), name: 'fusion_modal_attention' }).apply(feats) as Sym[];
    return { outputs: { main: ctx.head(fused, 'head'), weights } };
  },
});

// ------------------------------------------------------------------------------ baselines

register({
  name: 'ef-lstm',
  family: 'simple',
  level: 'feature',
  description: 'early fusion of sequences: concatenate the modalities at every step, one LSTM (state at the longest valid step)',
  citation: MFN_CITATION + ' (EF-LSTM baseline)',
  tasks: ALL_TASKS,
  modalityKinds: 'any',
  minModalities: 2,
  options: { units: { type: 'integer', default: 64, min: 1, description: 'LSTM units' } },
  check: (spec) => alignedSequences(spec),
  build(ctx) {
    const ms = ctx.modalities;
    const lens = ms.map((m) => ctx.lengths(m));
    // a modality's padded steps become 0 (its training mean), the LSTM runs to the longest one
    const xs = ms.map((m, i) => new MaskPadding({ name: `pad_${m}` }).apply([ctx.inputs[m], lens[i]]) as Sym);
    const x = tfl.layers.concatenate({ axis: -1, name: 'concat_steps' }).apply(xs) as Sym;
    const len = lens.length > 1 ? (tfl.layers.maximum({ name: 'longest' }).apply(lens) as Sym) : lens[0];
    const h = dropout(lstmLast(ctx, x, len, ctx.options.units as number, 'ef'), ctx.options.dropout as number, ctx.rng, 'ef_drop');
    return { outputs: { main: ctx.head(h, 'head') } };
  },
});

register({
  name: 'lf-lstm',
  family: 'simple',
  level: 'intermediate',
  description: 'late fusion of sequences: one LSTM per modality, final states concatenated, then the head',
  citation: MFN_CITATION + ' (LF-LSTM baseline)',
  tasks: ALL_TASKS,
  modalityKinds: 'any',
  minModalities: 2,
  options: {},
  // on vectors it would be concat under another name
  check: (spec) => Object.keys(spec.modalities).sort().map((m) => (isSequence(spec, m) ? null : `lf-lstm reads [steps, features] sequences; "${m}" has shape [${spec.modalities[m].shape}]`)).find((x) => x) ?? null,
  build(ctx) {
    const feats = ctx.modalities.map((m) => encodeModality(ctx, m));
    const z = tfl.layers.concatenate({ axis: -1, name: 'fusion_concat' }).apply(feats) as Sym;
    return { outputs: { main: ctx.head(z, 'head') } };
  },
});

register({
  name: 'constant',
  family: 'baseline',
  level: 'decision',
  description: 'the floor: the training mean (regression), the majority class (classification), the label frequencies (multi-label), whatever the input',
  citation: '',
  tasks: ALL_TASKS,
  modalityKinds: 'any',
  minModalities: 1,
  options: {},
  training: { epochs: 1, patience: 0 },
  build(ctx) {
    const first = ctx.inputs[ctx.modalities[0]];
    return { outputs: { main: new ConstantRow({ width: ctx.outWidth, name: 'constant' }).apply(first) as Sym } };
  },
  // Not gradient descent: the value is set from the label statistics of every batch seen so far,
  // so after one epoch it is exact (classification: log class frequencies, whose argmax is the majority class).
  customStep(sctx) {
    let sum: Float64Array | null = null;
    let count = 0;
    const kind = sctx.task.kind;
    const width = sctx.task.outWidth;
    return {
      optimizers: { main: { weights: (name) => name.includes('constant') } },
      step(batch, _opt, vars) {
        const y = kind === 'classification' ? tf.oneHot(tf.cast(batch.labels, 'int32'), width) : batch.labels.reshape([-1, width]);
        const s = tf.sum(y, 0).dataSync();
        y.dispose();
        sum ??= new Float64Array(width);
        s.forEach((v, j) => (sum![j] += v));
        count += batch.labels.shape[0];
        const mean = Array.from(sum, (v) => v / count);
        const value =
          kind === 'regression' ? mean : kind === 'classification' ? mean.map((p) => Math.log(p + 1e-6)) : mean.map((p) => Math.log((p + 1e-6) / (1 - p + 1e-6)));
        vars.main[0].assign(tf.tensor1d(value));
        const raw = batch.forward(false).main;
        return sctx.task.loss(raw, batch.labels).dataSync()[0];
      },
    };
  },
});

export const ATTENTION_METHODS = ['mfn', 'graph-mfn', 'dfg', 'modal-attention', 'ef-lstm', 'lf-lstm', 'constant'];
