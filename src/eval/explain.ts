/**
 * `explain`: the per-sample weights a model computes for explanation (outputs no loss term
 * reads), and their averages per class (per target tercile for regression, per present
 * label for multi-label). Shape in DESIGN.md:
 * {"schemaVersion":1,"method","split","kind":"modal-attention"|"dfg"|"mfn","names":[...],
 *  "perSample":[{"index","label","weights":{name: value}}],"perClass":{"<class>":{name: mean}}}
 * - modal-attention: output `weights`, one softmax weight per modality;
 * - dfg: output `efficacies`, one per graph edge ("a->a+b", "a+b->out", ...);
 * - mfn / graph-mfn: output `attention` (the delta-memory attention's mass per modality,
 *   averaged over the valid steps); graph-mfn adds its graph efficacies.
 */
import type { Dataset, SplitName } from '../data/types.js';
import { classNames } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import { DynamicFusionGraph } from '../fusion/dfg.js';
import type { FusionModel } from '../models/fusion_model.js';

export type ExplanationKind = 'modal-attention' | 'dfg' | 'mfn';

export interface Explanation {
  schemaVersion: 1;
  method: string;
  split: string;
  kind: ExplanationKind;
  names: string[];
  perSample: Array<{ index: number; label: string; weights: Record<string, number> }>;
  perClass: Record<string, Record<string, number>>;
}

/** What a method explains: the kind, and per output its column names. */
function explainedOutputs(fm: FusionModel): { kind: ExplanationKind; outputs: Array<{ output: string; names: string[] }> } | null {
  const ms = Object.keys(fm.meta.modalities).sort();
  const edges = () => DynamicFusionGraph.edgeNames(ms);
  switch (fm.method) {
    case 'modal-attention':
      return { kind: 'modal-attention', outputs: [{ output: 'weights', names: ms }] };
    case 'dfg':
      return { kind: 'dfg', outputs: [{ output: 'efficacies', names: edges() }] };
    case 'mfn':
      return { kind: 'mfn', outputs: [{ output: 'attention', names: ms }] };
    case 'graph-mfn':
      return { kind: 'mfn', outputs: [{ output: 'attention', names: ms }, { output: 'efficacies', names: edges() }] };
    default:
      return null;
  }
}

export interface ExplainOptions {
  split?: SplitName;
  /** At most this many samples in `perSample` (the averages use every sample). */
  limit?: number;
}

export function explain(fm: FusionModel, data: Dataset, opts: ExplainOptions = {}): Explanation {
  const what = explainedOutputs(fm);
  if (!what) {
    throw new ModalfuseError(`a ${fm.method} model has nothing to explain`, { expected: 'a model of modal-attention, dfg, mfn or graph-mfn', found: fm.method });
  }
  const split = opts.split ?? 'test';
  const sd = data.splits[split];
  if (!sd || sd.n === 0) throw new ModalfuseError(`the data set has no "${split}" split`, { expected: split, found: Object.keys(data.splits) });
  const out = fm.predictOutputs(sd.features, sd.n, { names: what.outputs.map((o) => o.output), lengths: sd.lengths });
  const names = what.outputs.flatMap((o) => o.names);
  const rows: Array<Record<string, number>> = Array.from({ length: sd.n }, (_, i) => {
    const w: Record<string, number> = {};
    for (const o of what.outputs) o.names.forEach((name, j) => (w[name] = out.values[o.output][i * o.names.length + j]));
    return w;
  });
  const groups = groupsOf(fm, sd.labels, sd.n);
  const perClass: Record<string, Record<string, number>> = {};
  for (const [g, idx] of Object.entries(groups.members)) {
    if (idx.length === 0) continue;
    perClass[g] = Object.fromEntries(names.map((name) => [name, idx.reduce((s, i) => s + rows[i][name], 0) / idx.length]));
  }
  const limit = Math.min(sd.n, opts.limit ?? sd.n);
  return {
    schemaVersion: 1,
    method: fm.method,
    split,
    kind: what.kind,
    names,
    perSample: Array.from({ length: limit }, (_, i) => ({ index: i, label: groups.label(i), weights: rows[i] })),
    perClass,
  };
}

/** Sample groups for the averages, and each sample's label as text. */
function groupsOf(fm: FusionModel, labels: Int32Array | Float32Array, n: number): { members: Record<string, number[]>; label(i: number): string } {
  const task = fm.meta.task;
  if (task.kind === 'regression') {
    // terciles of the first target
    const k = task.targets.length;
    const first = Array.from({ length: n }, (_, i) => labels[i * k]);
    const sorted = [...first].sort((a, b) => a - b);
    const q = [sorted[Math.floor(n / 3)], sorted[Math.floor((2 * n) / 3)]];
    const fmt = (v: number) => Number(v.toPrecision(4));
    const bins = [`${task.targets[0]} < ${fmt(q[0])}`, `${fmt(q[0])} <= ${task.targets[0]} < ${fmt(q[1])}`, `${task.targets[0]} >= ${fmt(q[1])}`];
    const members: Record<string, number[]> = Object.fromEntries(bins.map((b) => [b, [] as number[]]));
    first.forEach((v, i) => members[bins[v < q[0] ? 0 : v < q[1] ? 1 : 2]].push(i));
    return { members, label: (i) => Array.from(labels.subarray(i * k, (i + 1) * k)).map(fmt).join(',') };
  }
  if (task.kind === 'multilabel') {
    const L = task.labels.length;
    const members: Record<string, number[]> = Object.fromEntries(task.labels.map((l) => [l, [] as number[]]));
    for (let i = 0; i < n; i++) task.labels.forEach((l, j) => labels[i * L + j] > 0.5 && members[l].push(i));
    return { members, label: (i) => task.labels.filter((_, j) => labels[i * L + j] > 0.5).join(',') };
  }
  const names = classNames(task) ?? [];
  const members: Record<string, number[]> = Object.fromEntries(names.map((c) => [c, [] as number[]]));
  for (let i = 0; i < n; i++) members[names[labels[i]]]?.push(i);
  return { members, label: (i) => names[labels[i]] ?? String(labels[i]) };
}
