/**
 * A dataset folder (DESIGN.md) from a user's own files: one `.npy` or CSV file per
 * modality (rows are samples) and one labels file, split at random into train / valid /
 * test with a seed (stratified by class for classification). `modalfuse data import`
 * calls `importDataset`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'csv-parse/sync';
import { ModalfuseError } from '../errors.js';
import { Rng } from '../util/rng.js';
import { LIBRARY } from '../version.js';
import { parseNumberCell, readCsv } from './csv.js';
import { checkDatasetDestination, datasetReplaceRule, writeDatasetFolder } from './folder.js';
import { replaceDirSync } from '../util/atomic_dir.js';
import { readNpy, toFloat32 } from './npy.js';
import { hasClassLabels, labelNames, MODALITY_KINDS, sizeOf, type Dataset, type ModalityKind, type ModalitySpec, type SplitData, type SplitName, type TaskKind, type TaskSpec } from './types.js';
import { findNonFinite } from './validate.js';

export interface ImportOptions {
  /** Folder to write (created). */
  out: string;
  task: TaskKind;
  /** Modality name -> `.npy` or CSV file whose rows are samples. */
  modalities: Record<string, string>;
  /** Modality kinds where the default (from the array's rank) is not wanted. */
  kinds?: Record<string, string>;
  /** Labels file: `.npy` or CSV (classification labels may be text, e.g. `cat`). */
  labels: string;
  /** Sequence modality -> `.npy` of its valid steps per sample (integers [N], padding at the end). */
  lengths?: Record<string, string>;
  /** Share of samples for the valid split (default 0.1). */
  validFraction?: number;
  /** Share of samples for the test split (default 0.2). */
  testFraction?: number;
  seed?: number;
  /** Name in dataset.json (default: the folder's name). */
  name?: string;
  /** Replace an existing dataset folder at `out`. */
  force?: boolean;
  /** Retrieval: the query and gallery modalities, and when an item is relevant (default: same label). */
  retrieval?: { query: string; gallery: string; relevance?: 'label' | 'pair' };
}

export const IMPORT_DEFAULTS = { validFraction: 0.1, testFraction: 0.2, seed: 0 };

const NPY_EXT = ['.npy'];
const CSV_EXT = ['.csv', '.tsv', '.txt'];

interface Table {
  data: Float32Array;
  shape: number[];
  header?: string[];
}

function fileKind(file: string): 'npy' | 'csv' {
  const ext = path.extname(file).toLowerCase();
  if (NPY_EXT.includes(ext)) return 'npy';
  if (CSV_EXT.includes(ext)) return 'csv';
  throw new ModalfuseError('unsupported file type', { file, expected: `a NumPy .npy or a CSV file (${[...NPY_EXT, ...CSV_EXT].join(', ')})`, found: ext || 'no extension' });
}

function checkReadable(file: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModalfuseError(code === 'ENOENT' ? 'file not found' : `cannot read file (${code})`, { file });
  }
  if (!st.isFile()) throw new ModalfuseError('not a file', { file, expected: 'a file', found: st.isDirectory() ? 'a folder' : 'not a regular file' });
}

function readTable(file: string): Table {
  checkReadable(file);
  if (fileKind(file) === 'npy') {
    const a = readNpy(file);
    return { data: toFloat32(a.data), shape: a.shape };
  }
  const c = readCsv(file);
  return { data: c.data, shape: [...c.shape], header: c.header };
}

/** Default kind of a modality from the rank of its array [N, ...]. */
export function kindForShape(shape: number[]): ModalityKind {
  switch (shape.length) {
    case 1:
    case 2:
      return 'vector';
    case 3:
      return 'sequence';
    case 4:
      return 'image';
    case 5:
      return 'video';
    default:
      throw new ModalfuseError('cannot tell the modality kind from the array rank', { expected: '[N, D], [N, T, D], [N, H, W, C] or [N, T, H, W, C]', found: shape });
  }
}

const LABEL_HEADER = /^(label|labels|class|classes|target|targets|y|category|categories)$/i;

/** Classification labels from a CSV file: one column of numbers or names. */
function readClassLabelsCsv(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  let recs: string[][];
  try {
    recs = parse(text, { trim: true, bom: true, skip_empty_lines: true, relax_column_count: true, delimiter: text.split('\n')[0].includes('\t') ? '\t' : ',' }) as string[][];
  } catch (e) {
    throw new ModalfuseError(`cannot parse CSV: ${(e as Error).message}`, { file });
  }
  if (recs.length === 0) throw new ModalfuseError('labels file has no rows', { file });
  for (let i = 0; i < recs.length; i++) {
    if (recs[i].length !== 1) {
      throw new ModalfuseError(`classification labels must be one column; row ${i + 1} has ${recs[i].length}`, { file, expected: 1, found: recs[i].length });
    }
    if (recs[i][0] === '') throw new ModalfuseError(`empty label in row ${i + 1}`, { file, expected: 'a class name or number', found: 'an empty cell' });
  }
  const values = recs.map((r) => r[0]);
  const first = values[0];
  const restNumeric = values.slice(1).every((v) => parseNumberCell(v) !== undefined);
  const header =
    values.length > 1 &&
    ((parseNumberCell(first) === undefined && restNumeric) || (LABEL_HEADER.test(first) && !values.slice(1).includes(first)));
  return header ? values.slice(1) : values;
}

function classLabels(file: string): { names: string[]; labels: Int32Array } {
  checkReadable(file);
  let raw: string[];
  let numeric: number[] | null = null;
  if (fileKind(file) === 'npy') {
    const a = readNpy(file);
    if (!(a.shape.length === 1 || (a.shape.length === 2 && a.shape[1] === 1))) {
      throw new ModalfuseError('classification labels must be one value per sample', { file, expected: '[N] or [N, 1]', found: a.shape });
    }
    numeric = Array.from(a.data as ArrayLike<number>);
    raw = numeric.map(String);
  } else {
    raw = readClassLabelsCsv(file);
    if (raw.every((v) => parseNumberCell(v) !== undefined)) numeric = raw.map((v) => parseNumberCell(v)!);
  }
  // Numeric class labels are integers, from .npy and CSV alike (0.5 is not a class, it is a mistake).
  numeric?.forEach((v, i) => {
    if (!Number.isInteger(v)) throw new ModalfuseError(`classification label of sample ${i} is not an integer`, { file, expected: 'integer class labels', found: String(v) });
  });
  let names: string[];
  if (numeric) {
    const uniq = [...new Set(numeric)].sort((a, b) => a - b);
    uniq.forEach((v) => {
      if (!Number.isFinite(v)) throw new ModalfuseError('classification labels must be finite', { file, found: String(v) });
    });
    names = uniq.map(String);
    const index = new Map(uniq.map((v, i) => [v, i]));
    return { names, labels: Int32Array.from(numeric, (v) => index.get(v)!) };
  }
  names = [...new Set(raw)].sort();
  const index = new Map(names.map((v, i) => [v, i]));
  return { names, labels: Int32Array.from(raw, (v) => index.get(v)!) };
}

function numericLabels(file: string, kind: 'regression' | 'multilabel'): { names: string[]; labels: Float32Array; n: number } {
  const t = readTable(file);
  if (t.shape.length > 2) throw new ModalfuseError(`${kind} labels must be [N] or [N, K]`, { file, expected: '[N] or [N, K]', found: t.shape });
  const n = t.shape[0];
  const k = t.shape.length === 1 ? 1 : t.shape[1];
  const names = t.header ?? (kind === 'regression' ? (k === 1 ? ['y'] : Array.from({ length: k }, (_, j) => `y${j + 1}`)) : Array.from({ length: k }, (_, j) => String(j)));
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i];
    const bad = kind === 'regression' ? !Number.isFinite(v) : v !== 0 && v !== 1;
    if (bad) {
      throw new ModalfuseError(`${kind} label of sample ${Math.floor(i / k)}, column ${(i % k) + 1} is invalid`, {
        file,
        expected: kind === 'regression' ? 'a finite number' : '0 or 1',
        found: String(v),
      });
    }
  }
  return { names, labels: t.data, n };
}

function checkFraction(name: string, v: number): void {
  if (!Number.isFinite(v) || v < 0 || v >= 1) throw new ModalfuseError(`bad ${name}`, { expected: 'a number in [0, 1)', found: v });
}

/**
 * Splits sample indices at random with `seed`: per group (class), `round(size * test)`
 * to test, `round(size * valid)` to valid, the rest to train; indices ascending in each split.
 */
export function splitIndices(groups: number[][], validFraction: number, testFraction: number, seed: number): Record<SplitName, number[]> {
  const rng = new Rng(seed);
  const out: Record<SplitName, number[]> = { train: [], valid: [], test: [] };
  for (const g of groups) {
    const idx = rng.shuffle([...g]) as number[];
    const nTest = Math.round(idx.length * testFraction);
    const nValid = Math.min(idx.length - nTest, Math.round(idx.length * validFraction));
    out.test.push(...idx.slice(0, nTest));
    out.valid.push(...idx.slice(nTest, nTest + nValid));
    out.train.push(...idx.slice(nTest + nValid));
  }
  for (const s of Object.keys(out) as SplitName[]) out[s].sort((a, b) => a - b);
  return out;
}

function takeRows<T extends Float32Array | Int32Array>(src: T, rowSize: number, idx: number[]): T {
  const out = new (src.constructor as new (n: number) => T)(idx.length * rowSize);
  for (let i = 0; i < idx.length; i++) out.set(src.subarray(idx[i] * rowSize, (idx[i] + 1) * rowSize), i * rowSize);
  return out;
}

/** Reads the files, splits the samples and writes the dataset folder; returns the data set. */
export function importDataset(opts: ImportOptions): Dataset {
  const validFraction = opts.validFraction ?? IMPORT_DEFAULTS.validFraction;
  const testFraction = opts.testFraction ?? IMPORT_DEFAULTS.testFraction;
  const seed = opts.seed ?? IMPORT_DEFAULTS.seed;
  checkFraction('valid fraction', validFraction);
  checkFraction('test fraction', testFraction);
  if (validFraction + testFraction >= 1) {
    throw new ModalfuseError('valid and test fractions leave no training samples', { expected: 'valid + test < 1', found: validFraction + testFraction });
  }
  if (!Number.isInteger(seed)) throw new ModalfuseError('bad seed', { expected: 'an integer', found: seed });
  if (!['classification', 'regression', 'multilabel', 'retrieval'].includes(opts.task)) {
    throw new ModalfuseError('unknown task kind', { expected: 'classification, regression, multilabel or retrieval', found: opts.task });
  }
  const names = Object.keys(opts.modalities).sort();
  if (opts.task === 'retrieval') {
    const r = opts.retrieval;
    if (!r || !r.query || !r.gallery) throw new ModalfuseError('a retrieval task needs its query and gallery modalities', { expected: '--query MODALITY --gallery MODALITY', found: r ? JSON.stringify(r) : 'none' });
    for (const m of [r.query, r.gallery]) if (!names.includes(m)) throw new ModalfuseError(`retrieval names modality "${m}", which is not imported`, { modality: m, expected: names, found: m });
  }
  if (names.length === 0) throw new ModalfuseError('no modality files given', { expected: 'at least one NAME=FILE' });
  for (const k of Object.keys(opts.kinds ?? {})) {
    if (!names.includes(k)) throw new ModalfuseError(`kind given for an unknown modality "${k}"`, { modality: k, expected: names, found: k });
    if (!(MODALITY_KINDS as string[]).includes(opts.kinds![k])) {
      throw new ModalfuseError('unknown modality kind', { modality: k, expected: MODALITY_KINDS, found: opts.kinds![k] });
    }
  }
  // Nothing the user made is overwritten: only a folder that holds a data set is replaced, with --force.
  checkDatasetDestination(opts.out, !!opts.force);

  // Labels first: they fix N.
  let task: TaskSpec;
  let labels: Int32Array | Float32Array;
  let width: number;
  if (opts.task === 'classification' || opts.task === 'retrieval') {
    const c = classLabels(opts.labels);
    if (opts.task === 'classification' && c.names.length < 2) throw new ModalfuseError('classification needs at least two classes', { file: opts.labels, found: c.names });
    task =
      opts.task === 'retrieval'
        ? { kind: 'retrieval', query: opts.retrieval!.query, gallery: opts.retrieval!.gallery, relevance: opts.retrieval!.relevance ?? 'label', classes: c.names }
        : { kind: 'classification', classes: c.names };
    labels = c.labels;
    width = 1;
  } else {
    if (opts.task !== 'regression' && opts.task !== 'multilabel') throw new ModalfuseError('unknown task kind', { expected: 'classification, regression, multilabel or retrieval', found: opts.task });
    const r = numericLabels(opts.labels, opts.task);
    task = opts.task === 'regression' ? { kind: 'regression', targets: r.names } : { kind: 'multilabel', labels: r.names };
    labels = r.labels;
    width = r.names.length;
  }
  const n = labels.length / width;
  if (n < 1) throw new ModalfuseError('labels file has no samples', { file: opts.labels });

  const features: Record<string, Float32Array> = {};
  const modalities: Record<string, ModalitySpec> = {};
  for (const m of names) {
    const file = opts.modalities[m];
    const t = readTable(file);
    if (t.shape[0] !== n) {
      throw new ModalfuseError(`modality "${m}" has a different number of samples (rows) than the labels`, { file, modality: m, expected: `${n} rows (as in ${opts.labels})`, found: `${t.shape[0]} rows` });
    }
    const shape = t.shape.length === 1 ? [1] : t.shape.slice(1);
    if (shape.some((d) => d < 1)) throw new ModalfuseError('empty sample shape', { file, modality: m, found: t.shape });
    const kind = (opts.kinds?.[m] as ModalityKind | undefined) ?? kindForShape(t.shape);
    const nf = findNonFinite(t.data, sizeOf(shape));
    if (nf.count > 0) {
      throw new ModalfuseError(
        `modality "${m}" has ${nf.nanCount} NaN and ${nf.infCount} Inf values in ${nf.badSamples} samples (first at sample ${Math.floor(nf.firstIndex / sizeOf(shape))}); clean or impute them first`,
        { file, modality: m, expected: 'finite values', found: String(t.data[nf.firstIndex]) },
      );
    }
    features[m] = t.data;
    modalities[m] = { kind, shape };
  }

  const lengths: Record<string, Int32Array> = {};
  for (const [m, file] of Object.entries(opts.lengths ?? {})) {
    if (!(m in modalities)) throw new ModalfuseError(`--lengths names modality "${m}", which is not imported`, { file, modality: m, expected: names, found: m });
    const a = readNpy(file);
    if (a.shape.length !== 1 || a.shape[0] !== n) throw new ModalfuseError(`lengths of modality "${m}" must be one integer per sample`, { file, modality: m, expected: [n], found: a.shape });
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = Number(a.data[i]);
      if (!Number.isInteger(v)) throw new ModalfuseError(`length of sample ${i} of modality "${m}" is not an integer`, { file, modality: m, expected: 'integer valid steps', found: String(v) });
      out[i] = v;
    }
    lengths[m] = out; // range and shape are checked with the data set (validateDataset)
  }

  let groups: number[][];
  if (hasClassLabels(task)) {
    groups = labelNames(task).map(() => []);
    for (let i = 0; i < n; i++) groups[labels[i]].push(i);
  } else {
    groups = [Array.from({ length: n }, (_, i) => i)];
  }
  const idx = splitIndices(groups, validFraction, testFraction, seed);
  if (idx.train.length === 0) throw new ModalfuseError('too few samples: the training split is empty', { expected: 'more samples or smaller fractions', found: n });

  const splits: Partial<Record<SplitName, SplitData>> = {};
  for (const s of ['train', 'valid', 'test'] as SplitName[]) {
    if (idx[s].length === 0) continue;
    const f: Record<string, Float32Array> = {};
    for (const m of names) f[m] = takeRows(features[m], sizeOf(modalities[m].shape), idx[s]);
    const len = Object.fromEntries(Object.entries(lengths).map(([m, l]) => [m, takeRows(l, 1, idx[s])]));
    splits[s] = { n: idx[s].length, features: f, labels: takeRows(labels, width, idx[s]), ...(Object.keys(len).length ? { lengths: len } : {}) };
  }
  const ds: Dataset = {
    name: opts.name ?? path.basename(path.resolve(opts.out)),
    task,
    modalities,
    splits,
    provenance: {
      importedBy: LIBRARY,
      importedAt: new Date().toISOString(),
      modalities: Object.fromEntries(names.map((m) => [m, path.resolve(opts.modalities[m])])),
      labels: path.resolve(opts.labels),
      ...(opts.lengths ? { lengths: Object.fromEntries(Object.entries(opts.lengths).map(([m, f]) => [m, path.resolve(f)])) } : {}),
      samples: n,
      split: { seed, validFraction, testFraction, stratified: hasClassLabels(task), rule: 'per group: round(size * test) to test, round(size * valid) to valid, rest to train' },
    },
  };
  // Written beside the target and renamed into place: an old data set is replaced whole or not at all.
  replaceDirSync(opts.out, { mayReplace: datasetReplaceRule(!!opts.force) }, (tmp) => writeDatasetFolder(tmp, ds));
  return ds;
}
