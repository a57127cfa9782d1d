/**
 * What is in a data set (`modalfuse data inspect`): task, modalities and shapes, splits,
 * label distribution, feature ranges, and NaN/Inf counts per modality and split.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readDatasetFolder } from '../data/folder.js';
import { loadDatasets } from '../datasets/resolve.js';
import { SPLITS, describeTask, labelNames, sizeOf, type Dataset, type ModalitySpec, type SplitName, type TaskSpec } from '../data/types.js';
import { findNonFinite } from '../data/validate.js';
import { formatTable } from './table.js';

export interface FeatureSummary {
  min: number | null;
  max: number | null;
  mean: number | null;
  std: number | null;
  nan: number;
  inf: number;
  /** Samples with at least one NaN or Inf. */
  badSamples: number;
}

export type LabelSummary =
  | { kind: 'classification'; counts: Record<string, number> }
  | { kind: 'multilabel'; positives: Record<string, number>; meanLabelsPerSample: number }
  | { kind: 'regression'; targets: Record<string, { min: number; max: number; mean: number; std: number }> };

export interface SplitSummary {
  n: number;
  labels: LabelSummary;
  features: Record<string, FeatureSummary>;
}

export interface DatasetSummary {
  name: string;
  task: TaskSpec;
  modalities: Record<string, ModalitySpec>;
  splits: Partial<Record<SplitName, SplitSummary>>;
  /** Total NaN + Inf over all features. */
  nonFinite: number;
  provenance?: Record<string, unknown>;
}

function featureSummary(x: Float32Array, rowSize: number): FeatureSummary {
  const nf = findNonFinite(x, rowSize);
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let sq = 0;
  let n = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (v - v !== 0) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    sq += v * v;
    n++;
  }
  const mean = n ? sum / n : null;
  return {
    min: n ? min : null,
    max: n ? max : null,
    mean,
    std: n && mean !== null ? Math.sqrt(Math.max(0, sq / n - mean * mean)) : null,
    nan: nf.nanCount,
    inf: nf.infCount,
    badSamples: nf.badSamples,
  };
}

function labelSummary(task: TaskSpec, labels: Int32Array | Float32Array, n: number): LabelSummary {
  if (task.kind === 'classification' || task.kind === 'retrieval') {
    const classes = labelNames(task);
    const counts: Record<string, number> = {};
    for (const c of classes) counts[c] = 0;
    for (let i = 0; i < n; i++) {
      const name = classes[labels[i]] ?? String(labels[i]);
      counts[name] = (counts[name] ?? 0) + 1;
    }
    return { kind: 'classification', counts };
  }
  if (task.kind === 'multilabel') {
    const k = task.labels.length;
    const positives: Record<string, number> = {};
    let total = 0;
    task.labels.forEach((l, j) => {
      let c = 0;
      for (let i = 0; i < n; i++) if (labels[i * k + j] > 0.5) c++;
      positives[l] = c;
      total += c;
    });
    return { kind: 'multilabel', positives, meanLabelsPerSample: n ? total / n : 0 };
  }
  const k = task.targets.length;
  const targets: Record<string, { min: number; max: number; mean: number; std: number }> = {};
  task.targets.forEach((t, j) => {
    let min = Infinity;
    let max = -Infinity;
    let s = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const v = labels[i * k + j];
      min = Math.min(min, v);
      max = Math.max(max, v);
      s += v;
      sq += v * v;
    }
    const mean = n ? s / n : 0;
    targets[t] = { min, max, mean, std: Math.sqrt(Math.max(0, n ? sq / n - mean * mean : 0)) };
  });
  return { kind: 'regression', targets };
}

export function summarizeDataset(ds: Dataset): DatasetSummary {
  const splits: Partial<Record<SplitName, SplitSummary>> = {};
  let nonFinite = 0;
  for (const s of SPLITS) {
    const sd = ds.splits[s];
    if (!sd) continue;
    const features: Record<string, FeatureSummary> = {};
    for (const m of Object.keys(ds.modalities).sort()) {
      features[m] = featureSummary(sd.features[m], sizeOf(ds.modalities[m].shape));
      nonFinite += features[m].nan + features[m].inf;
    }
    splits[s] = { n: sd.n, labels: labelSummary(ds.task, sd.labels, sd.n), features };
  }
  return { name: ds.name, task: ds.task, modalities: ds.modalities, splits, nonFinite, provenance: ds.provenance };
}

/**
 * The data sets a name or folder stands for, read without refusing NaN/Inf (inspection
 * reports them; training refuses them).
 */
export async function loadForInspection(nameOrPath: string): Promise<Dataset[]> {
  if (fs.existsSync(nameOrPath) && fs.statSync(nameOrPath).isDirectory()) {
    const ds = readDatasetFolder(nameOrPath, { checkFinite: false });
    if (!ds.name) ds.name = path.basename(path.resolve(nameOrPath));
    return [ds];
  }
  return loadDatasets(nameOrPath);
}

const num = (v: number | null) => (v === null ? '-' : Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(4));

/** Human-readable summary. */
export function formatDatasetSummary(s: DatasetSummary): string {
  const lines: string[] = [];
  const t = s.task;
  const taskText = describeTask(t);
  lines.push(`data set: ${s.name}`, `task: ${taskText}`);
  lines.push(
    'modalities:',
    ...Object.keys(s.modalities)
      .sort()
      .map((m) => `  ${m}: ${s.modalities[m].kind} [${s.modalities[m].shape.join(', ')}]`),
  );
  const splitNames = SPLITS.filter((x) => s.splits[x]);
  lines.push(`splits: ${splitNames.map((x) => `${x} ${s.splits[x]!.n}`).join(', ')}`);

  lines.push('labels:');
  if (t.kind === 'classification') {
    const header = ['class', ...splitNames];
    const rows = t.classes.map((c) =>
      [c, ...splitNames.map((x) => {
        const sp = s.splits[x]!;
        const cnt = sp.labels.kind === 'classification' ? sp.labels.counts[c] ?? 0 : 0;
        return `${cnt} (${sp.n ? ((100 * cnt) / sp.n).toFixed(1) : '0.0'}%)`;
      })],
    );
    lines.push(indent(formatTable(header, rows)));
  } else if (t.kind === 'multilabel') {
    const rows = t.labels.map((l) => [l, ...splitNames.map((x) => {
      const lab = s.splits[x]!.labels;
      return lab.kind === 'multilabel' ? String(lab.positives[l]) : '-';
    })]);
    lines.push(indent(formatTable(['label (positives)', ...splitNames], rows)));
  } else {
    const rows: string[][] = [];
    for (const x of splitNames) {
      const lab = s.splits[x]!.labels;
      if (lab.kind !== 'regression') continue;
      for (const [name, st] of Object.entries(lab.targets)) rows.push([`${name} (${x})`, num(st.min), num(st.max), num(st.mean), num(st.std)]);
    }
    lines.push(indent(formatTable(['target', 'min', 'max', 'mean', 'std'], rows)));
  }

  lines.push('features:');
  const rows: string[][] = [];
  for (const x of splitNames) {
    for (const [m, f] of Object.entries(s.splits[x]!.features)) {
      rows.push([`${m} (${x})`, num(f.min), num(f.max), num(f.mean), num(f.std), String(f.nan), String(f.inf)]);
    }
  }
  lines.push(indent(formatTable(['modality', 'min', 'max', 'mean', 'std', 'NaN', 'Inf'], rows)));
  if (s.nonFinite > 0) {
    const where: string[] = [];
    for (const x of splitNames) {
      for (const [m, f] of Object.entries(s.splits[x]!.features)) {
        if (f.nan + f.inf > 0) where.push(`${m}.${x}: ${f.nan} NaN, ${f.inf} Inf in ${f.badSamples} samples`);
      }
    }
    lines.push(`NaN/Inf found: ${where.join('; ')} (training refuses such data: clean or impute it first)`);
  } else {
    lines.push('NaN/Inf found: none');
  }
  return lines.join('\n');
}

function indent(s: string): string {
  return s
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
