/**
 * Node-only half of the model folder (DESIGN.md): write and read `model.json` +
 * `weights.bin` + `modalfuse.json` on disk. `FusionModel.save` / `FusionModel.load` import
 * this module lazily, so the browser bundle of `fusion_model.ts` carries no `node:` import
 * (scripts/build-web.mjs replaces dynamic imports of `*_node.js` modules with a stub that
 * throws, and fails the build on any static `node:` import).
 *
 * Writing is atomic (src/util/atomic_dir.ts): the folder is written beside the target and
 * renamed into place. `modalfuse.json` records the byte length and SHA-256 of `model.json`
 * and of every weights file (`integrity`).
 *
 * A model folder is untrusted input. Before anything is allocated, the reader checks the
 * metadata (src/models/meta_check.ts), that every weights path stays inside the folder by
 * real path and is a regular file, that the files have the sizes the manifest implies and
 * the checksums `modalfuse.json` records, and that the model's estimated size is under the
 * limit. The network is then rebuilt from `modalfuse.json` (method, options, data shapes:
 * the same composition that trained it) and the weights are set by name and shape, so a
 * `model.json` topology cannot make the process build layers of any size.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf, tfl } from '../backend/index.js';
import { fileHandler } from '../backend/file_io.js';
import { ModalfuseError } from '../errors.js';
import { checkWritableDir, crashPoint, recoverDir, replaceDir } from '../util/atomic_dir.js';
import { compose } from './compose.js';
import { MODEL_META, type ModelMeta, type SaveOptions } from './model_meta.js';
import { validateModelMeta } from './meta_check.js';
import { checkModelSize } from './size_limit.js';
import { withoutBom } from '../util/bom.js';

const MODEL_JSON = 'model.json';
/** Largest `modalfuse.json` / `model.json` read (they hold no weights). */
const MAX_JSON_BYTES = 64 * 1024 * 1024;

export interface FileIntegrity {
  path: string;
  bytes: number;
  sha256: string;
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

function integrityOf(dir: string, rel: string): FileIntegrity {
  const buf = fs.readFileSync(path.join(dir, rel));
  return { path: rel, bytes: buf.length, sha256: sha256(buf) };
}

/** Whether `dir` holds a model folder (its metadata file). */
export function isModelFolder(dir: string): boolean {
  return fs.existsSync(path.join(dir, MODEL_META));
}

/** Refusal to replace `existing` unless it is a model folder and `overwrite` allows it. */
function replaceRule(overwrite: boolean, flag: string) {
  return (existing: string): ModalfuseError | null => {
    if (!isModelFolder(existing)) {
      return new ModalfuseError('the folder exists, is not empty and is not a model folder: not replacing it', { file: existing, expected: 'a new folder, an empty one or a model folder' });
    }
    return overwrite ? null : new ModalfuseError(`a model folder already exists there (${flag} replaces it)`, { file: existing });
  };
}

/**
 * Checks before training that a model folder can be written at `dir`: not onto a file or a
 * folder that is not a model, not over a model without `force`, and the place is writable.
 */
export function checkModelDestination(dir: string, force: boolean, flag = '--force'): void {
  const t = path.resolve(dir);
  recoverDir(t);
  checkWritableDir(t, '--save');
  if (fs.existsSync(t) && fs.readdirSync(t).length > 0) {
    const refusal = replaceRule(force, flag)(t);
    if (refusal) throw refusal;
  }
}

/** Writes the network, then (after `finalMeta()` gives the metadata) `modalfuse.json`, all into a temporary folder renamed into place. */
export async function writeModelFolder(dir: string, model: tfl.LayersModel, finalMeta: () => ModelMeta, opts: SaveOptions = {}): Promise<void> {
  await replaceDir(dir, { mayReplace: replaceRule(opts.overwrite ?? true, 'overwrite') }, async (tmp) => {
    await model.save(fileHandler(tmp));
    crashPoint('network-written');
    const manifest = (JSON.parse(fs.readFileSync(path.join(tmp, MODEL_JSON), 'utf8')) as tf.io.ModelJSON).weightsManifest ?? [];
    const weights = manifest.flatMap((g) => g.paths).map((p) => integrityOf(tmp, path.posix.normalize(p)));
    const meta = { ...finalMeta(), integrity: { model: integrityOf(tmp, MODEL_JSON), weights } };
    fs.writeFileSync(path.join(tmp, MODEL_META), JSON.stringify(meta, null, 2));
    opts.prepare?.(tmp);
  });
}

// ------------------------------------------------------------------ reading

/** A file named by the folder's metadata: inside the folder by real path, and a regular file. */
function confinedFile(root: string, realRoot: string, rel: unknown, what: string): { file: string; size: number } {
  const shown = path.join(root, String(rel));
  if (typeof rel !== 'string' || rel === '' || rel.includes('\0') || path.isAbsolute(rel)) {
    throw new ModalfuseError(`${what}: bad path ${JSON.stringify(rel)}`, { file: root, expected: 'a path relative to the model folder' });
  }
  const p = path.resolve(root, rel);
  if (p !== root && !p.startsWith(root + path.sep)) {
    throw new ModalfuseError(`${what} lies outside the model folder`, { file: shown, expected: `a file inside ${root}`, found: rel });
  }
  let real: string;
  try {
    real = fs.realpathSync(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModalfuseError(`${what} is missing${code === 'ENOENT' ? '' : ` (${code})`}`, { file: shown });
  }
  if (!real.startsWith(realRoot + path.sep)) {
    throw new ModalfuseError(`${what} is a link that leads outside the model folder`, { file: shown, expected: `a file inside ${realRoot}`, found: real });
  }
  const st = fs.statSync(real);
  if (st.isDirectory()) throw new ModalfuseError(`${what} is a folder, not a file`, { file: shown });
  if (!st.isFile()) throw new ModalfuseError(`${what} is not a regular file (a device, a pipe or a socket)`, { file: shown });
  return { file: real, size: st.size };
}

function readJson(f: { file: string; size: number }, shown: string, what: string): unknown {
  if (f.size > MAX_JSON_BYTES) throw new ModalfuseError(`${what} is too large`, { file: shown, expected: `at most ${MAX_JSON_BYTES} bytes`, found: `${f.size} bytes` });
  const text = fs.readFileSync(f.file, 'utf8');
  try {
    return JSON.parse(withoutBom(text));
  } catch (e) {
    throw new ModalfuseError(`${what} is not valid JSON: ${(e as Error).message}`, { file: shown });
  }
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8 };
const QUANT_BYTES: Record<string, number> = { uint8: 1, uint16: 2, float16: 2 };

interface WeightGroup {
  paths: string[];
  weights: tf.io.WeightsManifestEntry[];
}

/** The weights manifest of `model.json`, checked; returns the groups and the bytes each declares. */
function checkManifest(json: unknown, file: string): { groups: WeightGroup[]; bytes: number[] } {
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

function checkIntegrity(recorded: unknown, rel: string, buf: Buffer, shown: string, metaFile: string): void {
  const r = recorded as Partial<FileIntegrity> | undefined;
  if (!r || typeof r.sha256 !== 'string' || typeof r.bytes !== 'number') {
    throw new ModalfuseError(`${rel} is not recorded in the model metadata's integrity list`, { file: metaFile, expected: 'the size and SHA-256 of every network file' });
  }
  if (buf.length !== r.bytes) throw new ModalfuseError(`${rel} has the wrong size (truncated, extended or replaced)`, { file: shown, expected: `${r.bytes} bytes`, found: `${buf.length} bytes` });
  const h = sha256(buf);
  if (h !== r.sha256) throw new ModalfuseError(`${rel} does not match its SHA-256 in the model metadata (corrupted or replaced)`, { file: shown, expected: r.sha256, found: h });
}

export async function readModelFolder(dir: string): Promise<{ model: tfl.LayersModel; meta: ModelMeta }> {
  const root = path.resolve(dir);
  recoverDir(root);
  const metaPath = path.join(root, MODEL_META);
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new ModalfuseError('not a model folder (no such folder)', { file: root, expected: 'a folder written by `modalfuse train --save DIR`' });
  const realRoot = fs.realpathSync(root);
  if (!fs.existsSync(metaPath)) throw new ModalfuseError('not a model folder (modalfuse.json missing)', { file: metaPath });
  const meta = readJson(confinedFile(root, realRoot, MODEL_META, 'the model metadata'), metaPath, 'the model metadata (modalfuse.json)') as ModelMeta;
  const { entry, options } = validateModelMeta(meta, metaPath);
  const spec = { task: meta.task, modalities: meta.modalities };

  const jsonPath = path.join(root, MODEL_JSON);
  const jsonFile = confinedFile(root, realRoot, MODEL_JSON, 'the network file model.json');
  const integrity = meta.integrity as { model?: FileIntegrity; weights?: FileIntegrity[] } | undefined;
  if (integrity !== undefined) {
    if (typeof integrity !== 'object' || integrity === null || !Array.isArray(integrity.weights)) {
      throw new ModalfuseError('bad "integrity" in the model metadata', { file: metaPath, expected: '{ "model": {...}, "weights": [...] }' });
    }
    if (jsonFile.size <= MAX_JSON_BYTES) checkIntegrity(integrity.model, MODEL_JSON, fs.readFileSync(jsonFile.file), jsonPath, metaPath);
  }
  const { groups, bytes } = checkManifest(readJson(jsonFile, jsonPath, 'the network file model.json'), jsonPath);

  // Every weights file: confined, regular, of the declared size (before anything is read or allocated).
  const files: { rel: string; file: string; shown: string }[] = [];
  groups.forEach((g, gi) => {
    let size = 0;
    for (const p of g.paths) {
      const f = confinedFile(root, realRoot, p, `weights file ${JSON.stringify(p)}`);
      size += f.size;
      files.push({ rel: path.posix.normalize(p), file: f.file, shown: path.join(root, p) });
    }
    if (size !== bytes[gi]) {
      throw new ModalfuseError(`the weights files ${g.paths.join(', ')} hold ${size} bytes, the manifest declares ${bytes[gi]}${size < bytes[gi] ? ' (truncated?)' : ' (extra bytes)'}`, {
        file: path.join(root, g.paths[0] ?? MODEL_JSON),
        expected: `${bytes[gi]} bytes`,
        found: `${size} bytes`,
      });
    }
  });

  // The network, rebuilt from the metadata: its size is checked before it is built.
  let composed: ReturnType<typeof compose>;
  try {
    checkModelSize(entry, spec, options);
    composed = compose(meta.method, spec, meta.options, meta.seed);
  } catch (e) {
    if (e instanceof ModalfuseError) throw new ModalfuseError(`the model metadata does not describe a model this version builds: ${e.message}`, { file: metaPath });
    throw e;
  }
  const model = composed.model;
  try {
    if (composed.inputModalities.join(',') !== meta.inputModalities.join(',')) {
      throw new ModalfuseError('"inputModalities" in the model metadata disagrees with its method', { file: metaPath, expected: composed.inputModalities, found: meta.inputModalities });
    }
    const specs = groups.flatMap((g) => g.weights);
    const byName = new Map(specs.map((s) => [s.name, s]));
    if (byName.size !== specs.length) throw new ModalfuseError('bad weights manifest: a weight name appears twice', { file: jsonPath });
    const want = model.weights;
    if (want.length !== specs.length) {
      throw new ModalfuseError('the weights do not match the model that modalfuse.json describes', { file: jsonPath, expected: `${want.length} weights`, found: `${specs.length} weights` });
    }
    for (const w of want) {
      const s = byName.get(w.originalName);
      if (!s || s.shape.join('x') !== w.shape.join('x')) {
        throw new ModalfuseError(`the weights do not match the model that modalfuse.json describes (weight "${w.originalName}")`, {
          file: jsonPath,
          expected: `shape [${w.shape.join(', ')}]`,
          found: s ? `shape [${s.shape.join(', ')}]` : 'no such weight',
        });
      }
    }
    const buffers: Buffer[] = [];
    for (const f of files) {
      const buf = fs.readFileSync(f.file);
      if (integrity !== undefined) checkIntegrity(integrity.weights!.find((r) => r?.path === f.rel), f.rel, buf, f.shown, metaPath);
      buffers.push(buf);
    }
    if (integrity !== undefined && integrity.weights!.length !== files.length) {
      throw new ModalfuseError('the weights files differ from those the model metadata records', { file: jsonPath, expected: integrity.weights!.map((r) => r?.path), found: files.map((f) => f.rel) });
    }
    const joined = Buffer.concat(buffers);
    const named = tf.io.decodeWeights(joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer, specs);
    try {
      for (const w of want) {
        const t = named[w.originalName];
        if (t.dtype !== w.dtype) throw new ModalfuseError(`weight "${w.originalName}" has the wrong dtype`, { file: jsonPath, expected: w.dtype, found: t.dtype });
      }
      model.setWeights(want.map((w) => named[w.originalName]));
    } finally {
      for (const t of Object.values(named)) t.dispose();
    }
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, meta };
}
