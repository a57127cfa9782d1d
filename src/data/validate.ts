// Over 400 lines: every check of a dataset.json and of an in-memory data set, kept together so that all of their messages name file, modality, expected and found alike.
/**
 * Checks for `dataset.json` manifests and for in-memory Datasets. Every problem is a
 * ModalfuseError that names the file (when there is one), the modality, the split, what
 * was expected and what was found. Used by the folder reader and by anything that builds
 * a Dataset in memory (generators, loaders, corruptions).
 */
import { ModalfuseError } from '../errors.js';
import { joinPath } from '../util/join_path.js';
import {
  MODALITY_KINDS,
  SPLITS,
  modalityNames,
  sizeOf,
  taskWidth,
  classNames,
  hasClassLabels,
  labelNames,
  type Dataset,
  type DatasetManifest,
  type ModalitySpec,
  type SplitName,
  type TaskSpec,
} from './types.js';

/** Modality names become file names (`{modality}.{split}.npy`): keep them plain. */
const MODALITY_NAME = /^[A-Za-z0-9_-]+$/;
const RESERVED_MODALITY_NAMES = ['labels'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (ArrayBuffer.isView(v)) return (v as object).constructor.name;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${JSON.stringify(v)}`;
}

function checkNameList(list: unknown, what: string, file: string | undefined): string[] {
  if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string' && x.length > 0)) {
    throw new ModalfuseError(`task.${what} must be a non-empty list of non-empty strings`, {
      file,
      expected: `task.${what}: ["...", ...]`,
      found: Array.isArray(list) ? list : describe(list),
    });
  }
  const dup = list.find((x, i) => list.indexOf(x) !== i);
  if (dup !== undefined) {
    throw new ModalfuseError(`task.${what} has a duplicate name`, { file, expected: 'unique names', found: dup });
  }
  return list as string[];
}

export function validateTask(task: unknown, file?: string): TaskSpec {
  if (!isRecord(task)) {
    throw new ModalfuseError('task must be an object with a kind', {
      file,
      expected: '{ "kind": "classification" | "regression" | "multilabel" | "retrieval", ... }',
      found: describe(task),
    });
  }
  switch (task.kind) {
    case 'classification': {
      const classes = checkNameList(task.classes, 'classes', file);
      // One class has nothing to tell apart (and tfjs's oneHot would fail deep inside training).
      if (classes.length < 2) throw new ModalfuseError('classification needs at least two classes', { file, expected: 'task.classes with 2 or more names', found: classes });
      return { kind: 'classification', classes };
    }
    case 'regression':
      if (task.acc2Threshold !== undefined && !(typeof task.acc2Threshold === 'number' && Number.isFinite(task.acc2Threshold))) {
        throw new ModalfuseError('task.acc2Threshold must be a finite number', { file, expected: 'a number, e.g. 3.5', found: describe(task.acc2Threshold) });
      }
      return { kind: 'regression', targets: checkNameList(task.targets, 'targets', file), ...(task.acc2Threshold !== undefined ? { acc2Threshold: task.acc2Threshold as number } : {}) };
    case 'multilabel':
      return { kind: 'multilabel', labels: checkNameList(task.labels, 'labels', file) };
    case 'retrieval':
      return validateRetrievalTask(task, file);
    default:
      throw new ModalfuseError('unknown task kind', {
        file,
        expected: 'classification, regression, multilabel or retrieval',
        found: describe(task.kind),
      });
  }
}

function validateRetrievalTask(task: Record<string, unknown>, file?: string): TaskSpec {
  for (const key of ['query', 'gallery']) {
    if (typeof task[key] !== 'string' || task[key] === '') {
      throw new ModalfuseError(`retrieval task.${key} must name a modality`, { file, expected: `task.${key}: "modality"`, found: describe(task[key]) });
    }
  }
  if (task.query === task.gallery) throw new ModalfuseError('retrieval task needs two different modalities', { file, expected: 'query != gallery', found: task.query });
  const relevance = task.relevance ?? 'label';
  if (relevance !== 'label' && relevance !== 'pair') {
    throw new ModalfuseError('retrieval task.relevance must be "label" or "pair"', { file, expected: 'label | pair', found: describe(relevance) });
  }
  const out: TaskSpec = { kind: 'retrieval', query: task.query as string, gallery: task.gallery as string, relevance };
  if (relevance === 'label' || task.classes !== undefined) out.classes = checkNameList(task.classes, 'classes', file);
  return out;
}

/** A retrieval task's query and gallery must be modalities of the data. */
export function checkTaskModalities(task: TaskSpec, modalities: Record<string, ModalitySpec>, file?: string): void {
  if (task.kind !== 'retrieval') return;
  for (const m of [task.query, task.gallery]) {
    if (!(m in modalities)) throw new ModalfuseError(`retrieval task names modality "${m}", which the data does not have`, { file, modality: m, expected: Object.keys(modalities).sort(), found: m });
  }
}

export function validateModalities(modalities: unknown, file?: string): Record<string, ModalitySpec> {
  if (!isRecord(modalities) || Object.keys(modalities).length === 0) {
    throw new ModalfuseError('modalities must be an object with at least one modality', {
      file,
      expected: '{ "name": { "kind": "...", "shape": [...] } }',
      found: isRecord(modalities) ? '{}' : describe(modalities),
    });
  }
  const out: Record<string, ModalitySpec> = {};
  for (const name of modalityNames(modalities)) {
    const spec = modalities[name];
    if (!MODALITY_NAME.test(name) || RESERVED_MODALITY_NAMES.includes(name)) {
      throw new ModalfuseError('bad modality name (it becomes part of file names)', {
        file,
        modality: name,
        expected: 'letters, digits, "_" or "-", and not "labels"',
        found: name,
      });
    }
    if (!isRecord(spec)) {
      throw new ModalfuseError('modality spec must be an object', {
        file,
        modality: name,
        expected: '{ "kind": "...", "shape": [...] }',
        found: describe(spec),
      });
    }
    if (typeof spec.kind !== 'string' || !(MODALITY_KINDS as string[]).includes(spec.kind)) {
      throw new ModalfuseError('unknown modality kind', {
        file,
        modality: name,
        expected: `one of ${MODALITY_KINDS.join(', ')}`,
        found: describe(spec.kind),
      });
    }
    const shape = spec.shape;
    if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new ModalfuseError('modality shape must be a non-empty list of positive integers', {
        file,
        modality: name,
        expected: 'e.g. [28, 28, 1] or [16]',
        found: Array.isArray(shape) ? shape : describe(shape),
      });
    }
    out[name] = { kind: spec.kind as ModalitySpec['kind'], shape: [...(shape as number[])] };
  }
  return out;
}

/** Checks a parsed `dataset.json` and returns it typed. `file` names it in errors. */
export function validateManifest(json: unknown, file?: string): DatasetManifest {
  if (!isRecord(json)) {
    throw new ModalfuseError('dataset manifest must be a JSON object', { file, expected: 'an object', found: describe(json) });
  }
  if (json.schemaVersion !== 1) {
    throw new ModalfuseError('unsupported dataset manifest schemaVersion', {
      file,
      expected: 1,
      found: json.schemaVersion === undefined ? 'missing' : describe(json.schemaVersion),
    });
  }
  if (typeof json.name !== 'string' || json.name.length === 0) {
    throw new ModalfuseError('dataset manifest needs a name', { file, expected: 'a non-empty string', found: describe(json.name) });
  }
  const task = validateTask(json.task, file);
  const modalities = validateModalities(json.modalities, file);
  checkTaskModalities(task, modalities, file);
  const splitsIn = json.splits;
  if (!isRecord(splitsIn) || Object.keys(splitsIn).length === 0) {
    throw new ModalfuseError('splits must be an object with sample counts', {
      file,
      expected: '{ "train": N, "valid": N, "test": N } (at least one)',
      found: isRecord(splitsIn) ? '{}' : describe(splitsIn),
    });
  }
  const splits: Partial<Record<SplitName, number>> = {};
  for (const [key, n] of Object.entries(splitsIn)) {
    if (!(SPLITS as string[]).includes(key)) {
      throw new ModalfuseError('unknown split name', { file, expected: `one of ${SPLITS.join(', ')}`, found: key });
    }
    if (!Number.isInteger(n) || (n as number) < 0) {
      throw new ModalfuseError(`split count of "${key}" must be a non-negative integer`, {
        file,
        expected: 'a non-negative integer',
        found: describe(n),
      });
    }
    splits[key as SplitName] = n as number;
  }
  if (json.provenance !== undefined && !isRecord(json.provenance)) {
    throw new ModalfuseError('provenance must be an object', { file, expected: 'an object', found: describe(json.provenance) });
  }
  const out: DatasetManifest = { schemaVersion: 1, name: json.name, task, modalities, splits };
  if (json.provenance !== undefined) out.provenance = json.provenance as Record<string, unknown>;
  return out;
}

export interface ValidateDatasetOptions {
  /** Source file (e.g. the dataset.json path) named in errors when no per-array file is known. */
  file?: string;
  /** Dataset folder: errors then name the array file, `{dir}/{modality}.{split}.npy`. */
  dir?: string;
  /** Names the file an array came from (`modality` is "labels" for labels); wins over `dir`. */
  fileOf?: (modality: string, split: SplitName) => string | undefined;
  /** Sample counts the splits must have (e.g. from `dataset.json`). */
  expectedSplits?: Partial<Record<SplitName, number>>;
  /** Check features for NaN/Inf (default true). */
  checkFinite?: boolean;
}

/** Where the first non-finite value of an array is, and how many there are. */
export interface NonFiniteReport {
  count: number;
  nanCount: number;
  infCount: number;
  /** Flat index of the first bad value, or -1. */
  firstIndex: number;
  /** Samples that hold at least one bad value. */
  badSamples: number;
}

/** Counts NaN/Inf values of a row-major array of `rowSize` values per sample. */
export function findNonFinite(data: ArrayLike<number>, rowSize = 1): NonFiniteReport {
  let nanCount = 0;
  let infCount = 0;
  let firstIndex = -1;
  let badSamples = 0;
  let lastBadRow = -1;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v - v !== 0) {
      // NaN or +-Infinity
      if (Number.isNaN(v)) nanCount++;
      else infCount++;
      if (firstIndex < 0) firstIndex = i;
      const row = Math.floor(i / rowSize);
      if (row !== lastBadRow) {
        badSamples++;
        lastBadRow = row;
      }
    }
  }
  return { count: nanCount + infCount, nanCount, infCount, firstIndex, badSamples };
}

function arrayFile(opts: ValidateDatasetOptions, name: string, split: SplitName): string | undefined {
  if (opts.fileOf !== undefined) return opts.fileOf(name, split) ?? opts.file;
  if (opts.dir !== undefined) return joinPath(opts.dir, `${name}.${split}.npy`);
  return opts.file;
}

/**
 * Checks a Dataset against its own manifest: task and modality specs, every split's
 * features (present, Float32Array, length n * prod(shape), finite) and labels (type,
 * length, integer class range / finite targets / 0-1 labels). Throws the first problem.
 */
export function validateDataset(ds: Dataset, opts: ValidateDatasetOptions = {}): void {
  const file = opts.file ?? (opts.dir !== undefined ? joinPath(opts.dir, 'dataset.json') : undefined);
  if (typeof ds.name !== 'string' || ds.name.length === 0) {
    throw new ModalfuseError('dataset needs a name', { file, expected: 'a non-empty string', found: describe(ds.name) });
  }
  const task = validateTask(ds.task, file);
  const modalities = validateModalities(ds.modalities, file);
  checkTaskModalities(task, modalities, file);
  const names = modalityNames(modalities);
  const width = taskWidth(task);
  if (!isRecord(ds.splits)) {
    throw new ModalfuseError('dataset splits must be an object', { file, expected: 'an object', found: describe(ds.splits) });
  }
  const present = Object.keys(ds.splits).filter((k) => ds.splits[k as SplitName] !== undefined);
  for (const k of present) {
    if (!(SPLITS as string[]).includes(k)) {
      throw new ModalfuseError('unknown split name', { file, expected: `one of ${SPLITS.join(', ')}`, found: k });
    }
  }
  if (present.length === 0) {
    throw new ModalfuseError('dataset has no splits', { file, expected: `at least one of ${SPLITS.join(', ')}`, found: 'none' });
  }
  if (opts.expectedSplits) {
    for (const s of SPLITS) {
      const want = opts.expectedSplits[s];
      if (want !== undefined && ds.splits[s] === undefined) {
        throw new ModalfuseError(`split "${s}" is missing`, { file, expected: `${want} samples`, found: 'no split' });
      }
    }
  }

  for (const split of SPLITS) {
    const sd = ds.splits[split];
    if (sd === undefined) continue;
    if (!isRecord(sd)) {
      throw new ModalfuseError(`split "${split}" must be an object { n, features, labels }`, { file, expected: 'an object', found: describe(sd) });
    }
    const n = sd.n;
    if (!Number.isInteger(n) || n < 0) {
      throw new ModalfuseError(`split "${split}" has a bad sample count`, { file, expected: 'a non-negative integer', found: describe(n) });
    }
    const want = opts.expectedSplits?.[split];
    if (want !== undefined && want !== n) {
      throw new ModalfuseError(`split "${split}" has the wrong number of samples`, { file, expected: want, found: n });
    }
    if (!isRecord(sd.features)) {
      throw new ModalfuseError(`split "${split}" has no features object`, { file, expected: 'an object', found: describe(sd.features) });
    }

    // Features: every modality present, right type and length; no extras.
    for (const name of names) {
      const spec = modalities[name];
      const f = arrayFile(opts, name, split);
      const arr = sd.features[name];
      if (arr === undefined) {
        throw new ModalfuseError(`modality "${name}" is missing from split "${split}"`, {
          file: f,
          modality: name,
          expected: [n, ...spec.shape],
          found: 'no array',
        });
      }
      if (!(arr instanceof Float32Array)) {
        throw new ModalfuseError(`features of modality "${name}" in split "${split}" must be a Float32Array`, {
          file: f,
          modality: name,
          expected: 'Float32Array',
          found: describe(arr),
        });
      }
      const size = sizeOf(spec.shape);
      if (arr.length !== n * size) {
        const rows = arr.length / size;
        throw new ModalfuseError(`features of modality "${name}" in split "${split}" do not match the dataset shape`, {
          file: f,
          modality: name,
          expected: [n, ...spec.shape],
          found: Number.isInteger(rows) ? [rows, ...spec.shape] : `${arr.length} values (not a multiple of ${size})`,
        });
      }
    }
    for (const name of Object.keys(sd.features)) {
      if (!(name in modalities)) {
        throw new ModalfuseError(`split "${split}" has features for a modality the dataset does not declare`, {
          file: arrayFile(opts, name, split),
          modality: name,
          expected: `one of ${names.join(', ')}`,
          found: name,
        });
      }
    }

    // Valid lengths of sequence modalities (optional; padding at the end).
    for (const [name, len] of Object.entries(sd.lengths ?? {})) validateLengths(name, len, modalities[name], n, split, opts);

    // Labels.
    const lf = arrayFile(opts, 'labels', split);
    validateLabels(sd.labels, task, n, width, split, lf);

    // NaN / Inf in features.
    if (opts.checkFinite !== false) {
      for (const name of names) {
        const spec = modalities[name];
        const size = sizeOf(spec.shape);
        const rep = findNonFinite(sd.features[name], size);
        if (rep.count > 0) {
          const sample = Math.floor(rep.firstIndex / size);
          const within = rep.firstIndex % size;
          throw new ModalfuseError(
            `modality "${name}" in split "${split}" has ${rep.count} non-finite value(s) ` +
              `(${rep.nanCount} NaN, ${rep.infCount} Inf) in ${rep.badSamples} of ${n} samples; ` +
              `first at sample ${sample}, element ${within} (flat index ${rep.firstIndex})`,
            {
              file: arrayFile(opts, name, split),
              modality: name,
              expected: 'finite values',
              found: String(sd.features[name][rep.firstIndex]),
            },
          );
        }
      }
    }
  }
}

function validateLabels(
  labels: unknown,
  task: TaskSpec,
  n: number,
  width: number,
  split: SplitName,
  file: string | undefined,
): void {
  if (hasClassLabels(task)) {
    if (!(labels instanceof Int32Array)) {
      throw new ModalfuseError(`${task.kind} labels of split "${split}" must be integer class indices (Int32Array)`, {
        file,
        expected: `Int32Array [${n}] of class indices in [0, ${width})`,
        found: describe(labels),
      });
    }
    if (labels.length !== n) {
      throw new ModalfuseError(`labels of split "${split}" have the wrong length`, { file, expected: [n], found: [labels.length] });
    }
    const classes = classNames(task);
    if (!classes) return; // retrieval by pair without classes: labels are not read
    for (let i = 0; i < n; i++) {
      const c = labels[i];
      if (c < 0 || c >= width) {
        throw new ModalfuseError(`class label out of range in split "${split}" at sample ${i}`, {
          file,
          expected: `an integer in [0, ${width}) (classes: ${classes.join(', ')})`,
          found: c,
        });
      }
    }
    return;
  }
  if (!(labels instanceof Float32Array)) {
    throw new ModalfuseError(`${task.kind} labels of split "${split}" must be a Float32Array`, {
      file,
      expected: `Float32Array [${n}, ${width}]`,
      found: describe(labels),
    });
  }
  if (labels.length !== n * width) {
    const rows = labels.length / width;
    throw new ModalfuseError(`labels of split "${split}" have the wrong size`, {
      file,
      expected: [n, width],
      found: Number.isInteger(rows) ? [rows, width] : `${labels.length} values`,
    });
  }
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (task.kind === 'regression' ? !Number.isFinite(v) : v !== 0 && v !== 1) {
      const sample = Math.floor(i / width);
      const col = i % width;
      const names = labelNames(task);
      throw new ModalfuseError(
        `${task.kind} label of split "${split}" at sample ${sample}, ${task.kind === 'regression' ? 'target' : 'label'} "${names[col]}" is invalid`,
        { file, expected: task.kind === 'regression' ? 'a finite number' : '0 or 1', found: String(v) },
      );
    }
  }
}

/** `{modality}.lengths.{split}.npy`: int32 [N], each in 1..steps, for a [steps, features] modality. */
function validateLengths(name: string, len: unknown, spec: ModalitySpec | undefined, n: number, split: string, opts: ValidateDatasetOptions): void {
  const file = opts.dir ? joinPath(opts.dir, `${name}.lengths.${split}.npy`) : opts.file;
  if (!spec) throw new ModalfuseError(`split "${split}" has lengths for a modality the dataset does not declare`, { file, modality: name, found: name });
  if (spec.shape.length !== 2) {
    throw new ModalfuseError(`lengths are only for sequence modalities [steps, features]; "${name}" has shape [${spec.shape}]`, { file, modality: name, expected: '[steps, features]', found: spec.shape });
  }
  if (!(len instanceof Int32Array)) throw new ModalfuseError(`lengths of modality "${name}" in split "${split}" must be int32`, { file, modality: name, expected: 'Int32Array [N]', found: describe(len) });
  if (len.length !== n) throw new ModalfuseError(`lengths of modality "${name}" in split "${split}" have the wrong number of samples`, { file, modality: name, expected: [n], found: [len.length] });
  const T = spec.shape[0];
  for (let i = 0; i < n; i++) {
    if (len[i] < 1 || len[i] > T) {
      throw new ModalfuseError(`length of sample ${i} of modality "${name}" in split "${split}" is out of range`, { file, modality: name, expected: `1..${T} (valid steps, padding at the end)`, found: len[i] });
    }
  }
}
