/**
 * Predictions for new samples (`modalfuse predict`): inputs from a dataset folder (labels
 * not needed) or from JSONL (one object per line, modality name -> nested or flat array),
 * outputs as one record per sample with class names, values or labels.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MANIFEST_FILE, readManifest } from '../data/folder.js';
import { readNpy, toFloat32 } from '../data/npy.js';
import { SPLITS, labelNames, sizeOf, type SplitName } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import type { FusionModel } from '../models/fusion_model.js';
import { checkDataFitsModel } from '../models/fit_check.js';
export { checkDataFitsModel };
import type { DataSpec } from '../registry/index.js';
import { withoutBom } from '../util/bom.js';
import { checkRegularFile } from '../util/regular_file.js';

export interface PredictionInput {
  n: number;
  features: Record<string, Float32Array>;
  /** Where the samples came from (for messages). */
  source: string;
}

export interface PredictionRecord {
  /** Class name (classification), target name -> value (regression), positive label names (multi-label), or the query and gallery embeddings (retrieval). */
  prediction: string | Record<string, number> | string[] | { query: number[]; gallery: number[] };
  /** Class or label name -> probability (classification, multi-label). */
  probabilities?: Record<string, number>;
}

const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);


/** Samples of one split of a dataset folder (labels are not read). Default split: test, else the first listed. */
export function readFolderInput(dir: string, fm: FusionModel, split?: SplitName): PredictionInput {
  const manifest = readManifest(dir);
  const listed = SPLITS.filter((s) => manifest.splits[s] !== undefined);
  const s = split ?? (listed.includes('test') ? 'test' : listed[0]);
  if (manifest.splits[s] === undefined) {
    throw new ModalfuseError(`split "${s}" is not in the dataset folder`, { file: path.join(dir, MANIFEST_FILE), expected: listed, found: s });
  }
  checkDataFitsModel(fm, { task: manifest.task, modalities: manifest.modalities }, `the data set in ${dir}`);
  const n = manifest.splits[s]!;
  const features: Record<string, Float32Array> = {};
  for (const m of fm.inputModalities) {
    const file = path.join(dir, `${m}.${s}.npy`);
    const a = readNpy(file);
    const expected = [n, ...fm.meta.modalities[m].shape];
    if (!same(a.shape, expected)) throw new ModalfuseError(`array of modality "${m}" does not match ${MANIFEST_FILE}`, { file, modality: m, expected, found: a.shape });
    features[m] = toFloat32(a.data);
  }
  return { n, features, source: `${dir} (${s})` };
}

function flatten(v: unknown, shape: number[], out: number[], loc: () => string, depth = 0, flat = false): void {
  if (Array.isArray(v)) {
    if (!flat && depth < shape.length && v.length !== shape[depth]) {
      throw new ModalfuseError(`${loc()}: nested array has the wrong length at depth ${depth + 1}`, { expected: shape, found: `length ${v.length}` });
    }
    for (const x of v) flatten(x, shape, out, loc, depth + 1, flat);
    return;
  }
  if (typeof v === 'number' && Number.isFinite(v)) {
    out.push(v);
    return;
  }
  throw new ModalfuseError(`${loc()}: not a finite number`, { expected: 'numbers', found: v === null ? 'null' : typeof v === 'number' ? String(v) : JSON.stringify(v) });
}

/**
 * Rewrites one parsed JSONL object before its modalities are read (e.g. raw AV-MNIST inputs
 * `image_raw` / `audio_wav` into prepared `image` / `audio` arrays; see ./predict_raw.ts).
 */
export type JsonlRecordHook = (record: Record<string, unknown>, line: number) => Record<string, unknown>;

/** Parses JSONL text: one object per non-empty line with an array for every modality the model reads. */
export function parseJsonlInput(text: string, fm: FusionModel, file = '<jsonl>', hook?: JsonlRecordHook): PredictionInput {
  // A UTF-8 byte-order mark (Excel, Notepad) is not part of the first line, as in the CSV reader.
  const lines = withoutBom(text).split(/\r?\n/);
  const mods = fm.inputModalities;
  const sizes = mods.map((m) => sizeOf(fm.meta.modalities[m].shape));
  const rows: number[][][] = mods.map(() => []);
  let n = 0;
  lines.forEach((line, li) => {
    if (line.trim() === '') return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new ModalfuseError(`line ${li + 1} is not valid JSON: ${(e as Error).message}`, { file });
    }
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      throw new ModalfuseError(`line ${li + 1} is not a JSON object`, { file, expected: '{"modality": [...], ...}', found: Array.isArray(obj) ? 'an array' : typeof obj });
    }
    const rec = hook ? hook(obj as Record<string, unknown>, li + 1) : (obj as Record<string, unknown>);
    mods.forEach((m, k) => {
      const shape = fm.meta.modalities[m].shape;
      if (!(m in rec)) throw new ModalfuseError(`line ${li + 1} lacks modality "${m}"`, { file, modality: m, expected: mods, found: Object.keys(rec) });
      const v = rec[m];
      const out: number[] = [];
      const loc = () => `line ${li + 1}, modality "${m}"`;
      // Flat arrays (one level) are accepted for any shape; nested ones must match it.
      const nested = Array.isArray(v) && v.some((x) => Array.isArray(x));
      if (!Array.isArray(v)) throw new ModalfuseError(`${loc()}: not an array`, { file, modality: m, expected: shape, found: typeof v });
      try {
        flatten(v, shape, out, loc, 0, !nested);
      } catch (e) {
        if (e instanceof ModalfuseError) throw new ModalfuseError(e.message, { file, modality: m });
        throw e;
      }
      if (out.length !== sizes[k]) {
        throw new ModalfuseError(`line ${li + 1}, modality "${m}" has ${out.length} values`, { file, modality: m, expected: `${sizes[k]} values (shape [${shape.join(', ')}])`, found: out.length });
      }
      rows[k].push(out);
    });
    n++;
  });
  if (n === 0) throw new ModalfuseError('the input has no samples', { file, expected: 'one JSON object per line' });
  const features: Record<string, Float32Array> = {};
  mods.forEach((m, k) => {
    const buf = new Float32Array(n * sizes[k]);
    rows[k].forEach((r, i) => buf.set(r, i * sizes[k]));
    features[m] = buf;
  });
  return { n, features, source: file };
}

/** Samples from a dataset folder or a JSONL file (`hook`: see JsonlRecordHook). */
export function readPredictionInput(input: string, fm: FusionModel, split?: SplitName, hook?: JsonlRecordHook): PredictionInput {
  let st: fs.Stats;
  try {
    st = fs.statSync(input);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModalfuseError(code === 'ENOENT' ? 'input not found' : `cannot read input (${code})`, { file: input, expected: 'a dataset folder or a JSONL file' });
  }
  if (st.isDirectory()) return readFolderInput(input, fm, split);
  checkRegularFile(input, 'a dataset folder or a JSONL file');
  let text: string;
  try {
    text = fs.readFileSync(input, 'utf8');
  } catch (e) {
    throw new ModalfuseError(`cannot read input (${(e as NodeJS.ErrnoException).code})`, { file: input });
  }
  return parseJsonlInput(text, fm, input, hook);
}

const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

/** Predictions of `fm` for `n` raw samples, one record per sample. */
export function predictRecords(fm: FusionModel, features: Record<string, Float32Array>, n: number): PredictionRecord[] {
  if (fm.meta.task.kind === 'retrieval') {
    // a retrieval model predicts embeddings: the query's and the gallery item's of each sample
    const o = fm.predictOutputs(features, n, { names: ['query', 'gallery'] });
    const row = (k: string, i: number) => Array.from(o.values[k].subarray(i * o.widths[k], (i + 1) * o.widths[k]), round6);
    return Array.from({ length: n }, (_, i) => ({ prediction: { query: row('query', i), gallery: row('gallery', i) } }));
  }
  const out = fm.predict(features, n);
  const k = fm.outWidth;
  const task = fm.meta.task;
  const records: PredictionRecord[] = [];
  for (let i = 0; i < n; i++) {
    const row = out.subarray(i * k, (i + 1) * k);
    if (task.kind === 'classification') {
      let best = 0;
      for (let j = 1; j < k; j++) if (row[j] > row[best]) best = j;
      const probabilities: Record<string, number> = {};
      task.classes.forEach((c, j) => (probabilities[c] = round6(row[j])));
      records.push({ prediction: task.classes[best], probabilities });
    } else if (task.kind === 'multilabel') {
      const probabilities: Record<string, number> = {};
      const on: string[] = [];
      task.labels.forEach((l, j) => {
        probabilities[l] = round6(row[j]);
        if (row[j] > 0.5) on.push(l);
      });
      records.push({ prediction: on, probabilities });
    } else if (task.kind === 'regression') {
      const values: Record<string, number> = {};
      task.targets.forEach((t, j) => (values[t] = row[j]));
      records.push({ prediction: values });
    }
  }
  return records;
}
