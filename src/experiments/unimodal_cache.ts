/**
 * The AV-MNIST protocol's unimodal networks, cached on disk: trained once per (data,
 * modality, options, seed, training settings, library version) and reused, so that a run of
 * other fusion methods (e.g. `--methods dssm`) does not retrain them. An entry is a model
 * folder plus `result.json` (the unimodal row of the results, robustness included) under
 * `<cache root>/avmnist-unimodal/<key>/`. The key hashes the data's name, provenance, split
 * sizes and labels with the rest, so a rebuilt data set gets new entries.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheRoot } from '../datasets/avmnist/build.js';
import type { Dataset } from '../data/types.js';
import { FusionModel } from '../models/fusion_model.js';
import { LIBRARY } from '../version.js';

export interface UnimodalKeyParts {
  data: Dataset;
  method: string;
  options: unknown;
  seed: number;
  training: unknown;
}

/** The cache key of one unimodal network. */
export function unimodalKey(p: UnimodalKeyParts): string {
  const h = crypto.createHash('sha256');
  const sizes = Object.fromEntries(Object.entries(p.data.splits).map(([s, sd]) => [s, sd?.n ?? 0]));
  h.update(JSON.stringify({ name: p.data.name, provenance: p.data.provenance ?? null, sizes, method: p.method, options: p.options, seed: p.seed, training: p.training, library: LIBRARY }));
  for (const sd of Object.values(p.data.splits)) if (sd) h.update(Buffer.from(sd.labels.buffer, sd.labels.byteOffset, sd.labels.byteLength));
  return h.digest('hex').slice(0, 20);
}

/** The folder of a cache entry (`dir`: the cache root, default `$MODALFUSE_CACHE` or ~/.cache/modalfuse). */
export function unimodalEntryDir(key: string, dir?: string): string {
  return path.join(dir ?? cacheRoot(), 'avmnist-unimodal', key);
}

/** A cached network and its result row, or null. */
export async function loadUnimodal<R>(key: string, dir?: string): Promise<{ fm: FusionModel; result: R } | null> {
  const d = unimodalEntryDir(key, dir);
  if (!fs.existsSync(path.join(d, 'result.json')) || !fs.existsSync(path.join(d, 'model', 'model.json'))) return null;
  try {
    const result = JSON.parse(fs.readFileSync(path.join(d, 'result.json'), 'utf8')) as R;
    return { fm: await FusionModel.load(path.join(d, 'model')), result };
  } catch {
    return null; // a damaged entry is retrained (and rewritten)
  }
}

/** Stores a trained network and its result row (written to a temporary folder, then renamed). */
export async function saveUnimodal(key: string, fm: FusionModel, result: unknown, dir?: string): Promise<void> {
  const d = unimodalEntryDir(key, dir);
  const tmp = `${d}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  await fm.save(path.join(tmp, 'model'));
  fs.writeFileSync(path.join(tmp, 'result.json'), JSON.stringify(result));
  fs.rmSync(d, { recursive: true, force: true });
  fs.renameSync(tmp, d);
}
