/**
 * Data set names -> data: `synthetic` (the suite), `synthetic:KIND`, `mfn:pom|youtube|mmmo`
 * (from `MODALFUSE_MFN` or `--data-root`/`../shared/data/mfn`), or a dataset folder path.
 * Later builders (e.g. `avmnist`) register here with `registerDatasetResolver`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModalfuseError } from '../errors.js';
import { readDatasetFolder } from '../data/folder.js';
import { loadMfn, MFN_NAMES, type MfnName } from './mfn.js';
import { isSyntheticName, SYNTHETIC_NAMES, syntheticSuite } from './synthetic.js';
import { isSeqName, makeSyntheticSeq, SEQ_NAMES, type SeqKind } from './synthetic_seq.js';
import type { Dataset } from '../data/types.js';
import { validateDataset } from '../data/validate.js';

export interface ResolveOptions {
  /** Seed of generated data sets. */
  seed?: number;
  /** Use smaller generated data (tests, --quick). */
  quick?: boolean;
  /** Folder with the MFN data (pom/, youtube/, mmmo/). */
  mfnDir?: string;
}

export type DatasetResolver = (name: string, opts: ResolveOptions) => Promise<Dataset[]> | null;
const resolvers: DatasetResolver[] = [];

export function registerDatasetResolver(r: DatasetResolver): void {
  resolvers.push(r);
}

export function builtinDatasetNames(): string[] {
  // `avmnist` is built on demand by src/datasets/avmnist/build.ts, which registers its resolver when imported.
  return ['synthetic', ...SYNTHETIC_NAMES, ...SEQ_NAMES, ...MFN_NAMES.map((m) => `mfn:${m}`), 'avmnist'];
}

/** All data sets a name stands for (the suite expands). */
export async function loadDatasets(nameOrPath: string, opts: ResolveOptions = {}): Promise<Dataset[]> {
  if (isSeqName(nameOrPath)) {
    // the sequence suite (src/datasets/synthetic_seq.ts): named one by one, not part of `synthetic`
    const sizes = opts.quick ? { train: 1000, valid: 250, test: 250 } : undefined;
    const ds = makeSyntheticSeq(nameOrPath.slice('synthetic:'.length) as SeqKind, { seed: opts.seed ?? 0, sizes });
    validateDataset(ds);
    return [ds];
  }
  if (isSyntheticName(nameOrPath)) {
    const sizes = opts.quick ? { train: 2000, valid: 500, test: 500 } : undefined;
    const sets = syntheticSuite(nameOrPath, { seed: opts.seed ?? 0, sizes });
    sets.forEach((d) => validateDataset(d));
    return sets;
  }
  if (nameOrPath.startsWith('mfn:')) {
    const which = nameOrPath.slice(4) as MfnName;
    if (!MFN_NAMES.includes(which)) throw new ModalfuseError('unknown data set', { expected: builtinDatasetNames(), found: nameOrPath });
    const dir = opts.mfnDir ?? process.env.MODALFUSE_MFN ?? path.resolve('../shared/data/mfn');
    return [await loadMfn(dir, which)];
  }
  for (const r of resolvers) {
    const got = r(nameOrPath, opts);
    if (got) return got;
  }
  if (fs.existsSync(nameOrPath) && fs.statSync(nameOrPath).isDirectory()) {
    const ds = readDatasetFolder(nameOrPath);
    if (!ds.name) ds.name = path.basename(path.resolve(nameOrPath));
    return [ds];
  }
  throw new ModalfuseError('unknown data set (not a built-in name nor a dataset folder)', {
    file: nameOrPath,
    expected: [...builtinDatasetNames(), 'a folder with dataset.json'],
    found: nameOrPath,
  });
}

/** Exactly one data set. */
export async function loadDataset(nameOrPath: string, opts: ResolveOptions = {}): Promise<Dataset> {
  const sets = await loadDatasets(nameOrPath, opts);
  if (sets.length !== 1) {
    throw new ModalfuseError(`"${nameOrPath}" names ${sets.length} data sets; name one`, { expected: sets.map((s) => s.name), found: nameOrPath });
  }
  return sets[0];
}
