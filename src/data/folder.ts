/**
 * The dataset folder of DESIGN.md ("Files the tools exchange"):
 *   dataset.json, {modality}.{split}.npy (float32 [N, ...shape]), labels.{split}.npy.
 * Readers accept any numeric dtype (float64 becomes float32; integer-valued
 * classification labels of any dtype become Int32Array).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ModalfuseError } from '../errors.js';
import { checkWritableDir, recoverDir } from '../util/atomic_dir.js';
import { readNpy, toFloat32, writeNpy, type NpyData } from './npy.js';
import { validateDataset, validateManifest } from './validate.js';
import {
  SPLITS,
  manifestOf,
  modalityNames,
  taskWidth,
  hasClassLabels,
  type Dataset,
  type DatasetManifest,
  type ModalitySpec,
  type SplitData,
  type SplitName,
  type TaskSpec,
} from './types.js';
import { withoutBom } from '../util/bom.js';
import { checkRegularFile } from '../util/regular_file.js';

export const MANIFEST_FILE = 'dataset.json';

export interface ReadDatasetFolderOptions {
  /** Splits to read (default: every split listed in dataset.json). */
  splits?: SplitName[];
  /** Check NaN/Inf in features (default true). */
  checkFinite?: boolean;
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Reads and checks `dir/dataset.json`. */
export function readManifest(dir: string): DatasetManifest {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  checkRegularFile(file, 'a dataset.json');
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    let isDir = false;
    try {
      isDir = fs.statSync(dir).isDirectory();
    } catch {
      isDir = false;
    }
    throw new ModalfuseError(
      isDir ? `dataset folder has no ${MANIFEST_FILE}` : code === 'ENOENT' ? 'dataset folder not found' : `cannot read ${MANIFEST_FILE} (${code})`,
      { file, expected: `a dataset folder with ${MANIFEST_FILE}`, found: isDir ? `no ${MANIFEST_FILE}` : code === 'ENOENT' ? 'no such folder' : code },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(withoutBom(text));
  } catch (e) {
    throw new ModalfuseError(`${MANIFEST_FILE} is not valid JSON: ${(e as Error).message}`, { file });
  }
  return validateManifest(json, file);
}

/** Turns a labels array read from `file` into the type and layout the task needs. */
export function labelsFromArray(
  data: NpyData,
  shape: number[],
  task: TaskSpec,
  n: number,
  file: string,
): Int32Array | Float32Array {
  const width = taskWidth(task);
  if (hasClassLabels(task)) {
    if (!(sameShape(shape, [n]) || sameShape(shape, [n, 1]))) {
      throw new ModalfuseError(`${task.kind} labels have the wrong shape`, {
        file,
        expected: [n],
        found: shape,
      });
    }
    if (data instanceof Int32Array) return data;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = data[i];
      if (!Number.isInteger(v)) {
        throw new ModalfuseError(`classification labels must be integer class indices; sample ${i} is not`, {
          file,
          expected: `integers in [0, ${width})`,
          found: String(v),
        });
      }
      out[i] = v;
    }
    return out;
  }
  const ok = sameShape(shape, [n, width]) || (width === 1 && (sameShape(shape, [n]) || sameShape(shape, [n, 1])));
  if (!ok) {
    throw new ModalfuseError(`${task.kind} labels have the wrong shape`, {
      file,
      expected: width === 1 ? `[${n}] or [${n}, 1]` : [n, width],
      found: shape,
    });
  }
  return toFloat32(data);
}

/** The optional `{modality}.lengths.{split}.npy` files of a split (int32 [N]; validated with the data set). */
function readLengths(dir: string, names: string[], modalities: Record<string, ModalitySpec>, split: SplitName): Record<string, Int32Array> | undefined {
  const out: Record<string, Int32Array> = {};
  for (const name of names) {
    const file = path.join(dir, `${name}.lengths.${split}.npy`);
    if (!fs.existsSync(file)) continue;
    const arr = readNpy(file);
    if (arr.shape.length !== 1 || !(arr.data instanceof Int32Array)) {
      throw new ModalfuseError(`lengths of modality "${name}" must be an int32 [N] array`, { file, modality: name, expected: 'int32 [N]', found: `${arr.data.constructor.name} [${arr.shape}]` });
    }
    void modalities;
    out[name] = arr.data;
  }
  return Object.keys(out).length ? out : undefined;
}

/** Reads a dataset folder and checks it against its `dataset.json` (throws ModalfuseError). */
export function readDatasetFolder(dir: string, opts: ReadDatasetFolderOptions = {}): Dataset {
  const manifest = readManifest(dir);
  const manifestFile = path.join(dir, MANIFEST_FILE);
  const listed = SPLITS.filter((s) => manifest.splits[s] !== undefined);
  const wanted = opts.splits ?? listed;
  for (const s of wanted) {
    if (manifest.splits[s] === undefined) {
      throw new ModalfuseError(`split "${s}" is not in the dataset`, {
        file: manifestFile,
        expected: `one of ${listed.join(', ')}`,
        found: s,
      });
    }
  }
  const names = modalityNames(manifest.modalities);
  const splits: Partial<Record<SplitName, SplitData>> = {};
  for (const split of SPLITS) {
    if (!wanted.includes(split)) continue;
    const n = manifest.splits[split]!;
    const features: Record<string, Float32Array> = {};
    for (const name of names) {
      const spec = manifest.modalities[name];
      const file = path.join(dir, `${name}.${split}.npy`);
      const expected = [n, ...spec.shape];
      if (!fs.existsSync(file)) {
        throw new ModalfuseError(`modality "${name}" is missing from split "${split}"`, {
          file,
          modality: name,
          expected,
          found: 'no such file',
        });
      }
      const arr = readNpy(file);
      if (!sameShape(arr.shape, expected)) {
        throw new ModalfuseError(`array of modality "${name}" in split "${split}" does not match ${MANIFEST_FILE}`, {
          file,
          modality: name,
          expected,
          found: arr.shape,
        });
      }
      features[name] = toFloat32(arr.data);
    }
    const lengths = readLengths(dir, names, manifest.modalities, split);
    const lfile = path.join(dir, `labels.${split}.npy`);
    if (!fs.existsSync(lfile)) {
      throw new ModalfuseError(`labels are missing for split "${split}"`, { file: lfile, expected: 'a labels .npy file', found: 'no such file' });
    }
    const larr = readNpy(lfile);
    const labels = labelsFromArray(larr.data, larr.shape, manifest.task, n, lfile);
    splits[split] = { n, features, labels, ...(lengths ? { lengths } : {}) };
  }
  const ds: Dataset = {
    name: manifest.name,
    task: manifest.task,
    modalities: manifest.modalities,
    splits,
    provenance: manifest.provenance ?? {},
  };
  const expectedSplits: Partial<Record<SplitName, number>> = {};
  for (const s of wanted) expectedSplits[s] = manifest.splits[s];
  validateDataset(ds, { dir, expectedSplits, checkFinite: opts.checkFinite });
  return ds;
}

/** Whether `dir` holds a data set (its `dataset.json`). */
export function isDatasetFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, MANIFEST_FILE));
}

/**
 * The rule for replacing a folder with a new data set: only a folder that holds a data set
 * is ever replaced (an empty or missing one is simply written), and only with `force`.
 */
export function datasetReplaceRule(force: boolean, flag = '--force') {
  return (existing: string): ModalfuseError | null => {
    if (!isDatasetFolder(existing)) {
      return new ModalfuseError('the output folder exists, is not empty and does not hold a data set: not writing into it', {
        file: existing,
        expected: 'a new folder, an empty one or a dataset folder (with dataset.json)',
      });
    }
    return force ? null : new ModalfuseError(`the output folder already holds a data set (use ${flag} to replace it)`, { file: path.join(existing, MANIFEST_FILE) });
  };
}

/**
 * Checks, before any long work, that a data set can be written at `dir` under the rule of
 * `datasetReplaceRule` (`flag` is the option that names it, e.g. `--out`).
 */
export function checkDatasetDestination(dir: string, force: boolean, flag = '--out'): void {
  const t = path.resolve(dir);
  recoverDir(t);
  checkWritableDir(t, flag);
  if (fs.existsSync(t) && fs.readdirSync(t).length > 0) {
    const refusal = datasetReplaceRule(force)(t);
    if (refusal) throw refusal;
  }
}

/**
 * Writes a Dataset as a dataset folder (creating `dir`). The Dataset is validated first,
 * so nothing is written for a Dataset that would not read back.
 */
export function writeDatasetFolder(dir: string, ds: Dataset): void {
  validateDataset(ds, { file: path.join(dir, MANIFEST_FILE) });
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new ModalfuseError(`cannot create dataset folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { file: dir });
  }
  const width = taskWidth(ds.task);
  for (const split of SPLITS) {
    const sd = ds.splits[split];
    if (!sd) continue;
    for (const name of modalityNames(ds.modalities)) {
      writeNpy(path.join(dir, `${name}.${split}.npy`), sd.features[name], [sd.n, ...ds.modalities[name].shape]);
    }
    for (const [name, len] of Object.entries(sd.lengths ?? {})) writeNpy(path.join(dir, `${name}.lengths.${split}.npy`), len, [sd.n]);
    const lshape = hasClassLabels(ds.task) || (ds.task.kind === 'regression' && width === 1) ? [sd.n] : [sd.n, width];
    writeNpy(path.join(dir, `labels.${split}.npy`), sd.labels, lshape);
  }
  // The manifest last: a folder with a dataset.json is a complete one.
  const manifest = manifestOf(ds);
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
}

