/**
 * The checks of a model folder that do not depend on where it is read from (disk in Node,
 * HTTP in the browser): the weights manifest, the declared sizes, the recorded checksums, the
 * network rebuilt from the checked metadata and its weights matched by name and shape.
 * No `node:` import (the browser bundle uses it through FusionModel.loadUrl).
 */
import { tf, tfl } from '../backend/index.js';
import { ModalfuseError } from '../errors.js';
import type { MethodEntry, Options } from '../registry/index.js';
import { compose } from './compose.js';
import type { ModelMeta } from './model_meta.js';
import { checkModelSize } from './size_limit.js';

/** One network file as `integrity` in modalfuse.json records it. */
export interface FileIntegrity {
  path: string;
  bytes: number;
  sha256: string;
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };
const QUANT_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

export interface WeightGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

/** The weights manifest of `model.json`, checked; returns the groups and the bytes each declares. */
export function checkManifest(json: unknown, file: string): { groups: WeightGroup[]; bytes: number[] } {
  const bad = (why: string, found?: unknown): never => {
    throw new ModalfuseError(`bad weights manifest: ${why}`, { file, found: found === undefined ? undefined : JSON.stringify(found)?.slice(0, 80) });
  };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) bad('model.json is not a JSON object');
  const manifest = (json as tf.io.ModelJSON).weightsManifest;
  if (!Array.isArray(manifest)) bad('weightsManifest is not a list', manifest);
  const groups: WeightGroup[] = [];
  const bytes: number[] = [];
  for (const g of manifest) {
    if (typeof g !== 'object' || g === null || !Array.isArray(g.paths) || !Array.isArray(g.weights)) bad('a group lacks "paths" or "weights"', g);
    let total = 0;
    for (const w of g.weights) {
      if (typeof w !== 'object' || w === null || typeof w.name !== 'string') bad('a weight has no name', w);
      if (!Array.isArray(w.shape) || !w.shape.every((d: unknown) => Number.isInteger(d) && (d as number) >= 0)) bad(`weight "${w.name}" has a bad shape`, w.shape);
      const per = w.quantization ? QUANT_BYTES[w.quantization.dtype as string] : DTYPE_BYTES[w.dtype];
      if (per === undefined) bad(`weight "${w.name}" has an unsupported dtype`, w.quantization?.dtype ?? w.dtype);
      total += per * w.shape.reduce((a: number, b: number) => a * b, 1);
    }
    groups.push({ paths: g.paths, weights: g.weights });
    bytes.push(total);
  }
  return { groups, bytes };
}

/** `sha` null: only the size is checked (no hash function here). */
export function checkIntegrity(recorded: unknown, rel: string, bytes: number, sha: string | null, shown: string, metaFile: string): void {
  const r = recorded as Partial<FileIntegrity> | undefined;
  if (!r || typeof r.sha256 !== 'string' || typeof r.bytes !== 'number') {
    throw new ModalfuseError(`${rel} is not recorded in the model metadata's integrity list`, { file: metaFile, expected: 'the size and SHA-256 of every network file' });
  }
  if (bytes !== r.bytes) throw new ModalfuseError(`${rel} has the wrong size (truncated, extended or replaced)`, { file: shown, expected: `${r.bytes} bytes`, found: `${bytes} bytes` });
  if (sha !== null && sha !== r.sha256) throw new ModalfuseError(`${rel} does not match its SHA-256 in the model metadata (corrupted or replaced)`, { file: shown, expected: r.sha256, found: sha });
}

/** The `integrity` record of modalfuse.json (absent in folders of older versions: null). */
export function integrityRecord(meta: ModelMeta, metaFile: string): { model?: FileIntegrity; weights: (FileIntegrity | null)[] } | null {
  const integrity = meta.integrity as { model?: FileIntegrity; weights?: FileIntegrity[] } | undefined;
  if (integrity === undefined) return null;
  if (typeof integrity !== 'object' || integrity === null || !Array.isArray(integrity.weights)) {
    throw new ModalfuseError('bad "integrity" in the model metadata', { file: metaFile, expected: '{ "model": {...}, "weights": [...] }' });
  }
  return integrity as { model?: FileIntegrity; weights: (FileIntegrity | null)[] };
}

/** The files of the integrity list are exactly the weights files of the manifest. */
export function checkIntegrityList(recorded: (FileIntegrity | null)[], rels: string[], file: string): void {
  const want = recorded.map((r) => r?.path).sort();
  const got = [...rels].sort();
  if (want.join('\n') !== got.join('\n')) {
    throw new ModalfuseError('the weights files differ from those the model metadata records', { file, expected: want, found: got });
  }
}

/** The files of a manifest group hold exactly the bytes its weights declare. */
export function checkGroupSize(g: WeightGroup, size: number, declared: number, file: string): void {
  if (size !== declared) {
    throw new ModalfuseError(`the weights files ${g.paths.join(', ')} hold ${size} bytes, the manifest declares ${declared}${size < declared ? ' (truncated?)' : ' (extra bytes)'}`, {
      file,
      expected: `${declared} bytes`,
      found: `${size} bytes`,
    });
  }
}

/** The network that `meta` describes, built by the same composition that trained it, after its size is checked. */
export function composeFromMeta(meta: ModelMeta, entry: MethodEntry, options: Options, metaFile: string): tfl.LayersModel {
  const spec = { task: meta.task, modalities: meta.modalities };
  let composed: ReturnType<typeof compose>;
  try {
    checkModelSize(entry, spec, options);
    composed = compose(meta.method, spec, meta.options, meta.seed);
  } catch (e) {
    if (e instanceof ModalfuseError) throw new ModalfuseError(`the model metadata does not describe a model this version builds: ${e.message}`, { file: metaFile });
    throw e;
  }
  if (composed.inputModalities.join(',') !== meta.inputModalities.join(',')) {
    composed.model.dispose();
    throw new ModalfuseError('"inputModalities" in the model metadata disagrees with its method', { file: metaFile, expected: composed.inputModalities, found: meta.inputModalities });
  }
  return composed.model;
}

/** The manifest's weights are the model's, by name and shape; returns them in manifest order. */
export function matchManifest(model: tfl.LayersModel, groups: WeightGroup[], file: string): tf.io.WeightsManifestEntry[] {
  const specs = groups.flatMap((g) => g.weights);
  const byName = new Map(specs.map((s) => [s.name, s]));
  if (byName.size !== specs.length) throw new ModalfuseError('bad weights manifest: a weight name appears twice', { file });
  const want = model.weights;
  if (want.length !== specs.length) {
    throw new ModalfuseError('the weights do not match the model that modalfuse.json describes', { file, expected: `${want.length} weights`, found: `${specs.length} weights` });
  }
  for (const w of want) {
    const s = byName.get(w.originalName);
    if (!s || s.shape.join('x') !== w.shape.join('x')) {
      throw new ModalfuseError(`the weights do not match the model that modalfuse.json describes (weight "${w.originalName}")`, {
        file,
        expected: `shape [${w.shape.join(', ')}]`,
        found: s ? `shape [${s.shape.join(', ')}]` : 'no such weight',
      });
    }
  }
  return specs;
}

/** Decodes the weights (`bytes`: the manifest's files, concatenated) and sets them on the model. */
export function setManifestWeights(model: tfl.LayersModel, specs: tf.io.WeightsManifestEntry[], bytes: Uint8Array, file: string): void {
  const named = tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, specs);
  try {
    for (const w of model.weights) {
      const t = named[w.originalName];
      if (t.dtype !== w.dtype) throw new ModalfuseError(`weight "${w.originalName}" has the wrong dtype`, { file, expected: w.dtype, found: t.dtype });
    }
    model.setWeights(model.weights.map((w) => named[w.originalName]));
  } finally {
    for (const t of Object.values(named)) t.dispose();
  }
}
