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
import { checkGroupSize, checkIntegrity, checkIntegrityList, checkManifest, composeFromMeta, integrityRecord, matchManifest, setManifestWeights, type FileIntegrity } from './folder_check.js';
import { MODEL_META, type ModelMeta, type SaveOptions } from './model_meta.js';
import { validateModelMeta } from './meta_check.js';
import { withoutBom } from '../util/bom.js';

const MODEL_JSON = 'model.json';
/** Largest `modalfuse.json` / `model.json` read (they hold no weights). */
const MAX_JSON_BYTES = 64 * 1024 * 1024;


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
    carryOver(path.resolve(dir), tmp);
  });
}

/**
 * What else the old folder holds (a README, a checkpoint's `resume/` folder, ...) is copied
 * into the new one: a save replaces the model, not what was put beside it. The old network
 * files are not carried.
 */
function carryOver(old: string, tmp: string): void {
  if (!isModelFolder(old)) return;
  const owned = new Set([MODEL_JSON, MODEL_META]);
  try {
    const mj = JSON.parse(fs.readFileSync(path.join(old, MODEL_JSON), 'utf8')) as tf.io.ModelJSON;
    for (const g of mj.weightsManifest ?? []) for (const p of g.paths) owned.add(path.posix.normalize(p).split('/')[0]);
  } catch {
    // an unreadable old model.json: its weights file has the default name
  }
  owned.add('weights.bin');
  for (const name of fs.readdirSync(old)) {
    if (owned.has(name) || fs.existsSync(path.join(tmp, name))) continue;
    fs.cpSync(path.join(old, name), path.join(tmp, name), { recursive: true, verbatimSymlinks: true });
  }
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

export async function readModelFolder(dir: string): Promise<{ model: tfl.LayersModel; meta: ModelMeta }> {
  const root = path.resolve(dir);
  recoverDir(root);
  const metaPath = path.join(root, MODEL_META);
  if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) throw new ModalfuseError('not a model folder (no such folder)', { file: root, expected: 'a folder written by `modalfuse train --save DIR`' });
  const realRoot = fs.realpathSync(root);
  if (!fs.existsSync(metaPath)) throw new ModalfuseError('not a model folder (modalfuse.json missing)', { file: metaPath });
  const meta = readJson(confinedFile(root, realRoot, MODEL_META, 'the model metadata'), metaPath, 'the model metadata (modalfuse.json)') as ModelMeta;
  const { entry, options } = validateModelMeta(meta, metaPath);

  const jsonPath = path.join(root, MODEL_JSON);
  const jsonFile = confinedFile(root, realRoot, MODEL_JSON, 'the network file model.json');
  const integrity = integrityRecord(meta, metaPath);
  if (integrity) {
    if (jsonFile.size <= MAX_JSON_BYTES) {
      const buf = fs.readFileSync(jsonFile.file);
      checkIntegrity(integrity.model, MODEL_JSON, buf.length, sha256(buf), jsonPath, metaPath);
    }
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
    checkGroupSize(g, size, bytes[gi], path.join(root, g.paths[0] ?? MODEL_JSON));
  });

  // The network, rebuilt from the metadata (its size checked first); the weights set by name and shape.
  const model = composeFromMeta(meta, entry, options, metaPath);
  try {
    const specs = matchManifest(model, groups, jsonPath);
    const buffers: Buffer[] = [];
    for (const f of files) {
      const buf = fs.readFileSync(f.file);
      if (integrity) checkIntegrity(integrity.weights.find((r) => r?.path === f.rel), f.rel, buf.length, sha256(buf), f.shown, metaPath);
      buffers.push(buf);
    }
    if (integrity) checkIntegrityList(integrity.weights, files.map((f) => f.rel), jsonPath);
    setManifestWeights(model, specs, Buffer.concat(buffers), jsonPath);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, meta };
}
