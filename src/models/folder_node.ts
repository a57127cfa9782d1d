/**
 * Node-only half of the model folder (DESIGN.md): write and read `model.json` +
 * `weights.bin` + `modalfuse.json` on disk. `FusionModel.save` / `FusionModel.load` import
 * this module lazily, so the browser bundle of `fusion_model.ts` carries no `node:` import
 * (scripts/build-web.mjs replaces dynamic imports of `*_node.js` modules with a stub that
 * throws, and fails the build on any static `node:` import).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tfl } from '../backend/index.js';
import { fileHandler } from '../backend/file_io.js';
import { ModalfuseError } from '../errors.js';
import { checkMeta, MODEL_META, type ModelMeta } from './meta.js';

/** Writes the network, then (after `finalMeta()` gives the metadata) `modalfuse.json`. */
export async function writeModelFolder(dir: string, model: tfl.LayersModel, finalMeta: () => ModelMeta): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await model.save(fileHandler(dir));
  fs.writeFileSync(path.join(dir, MODEL_META), JSON.stringify(finalMeta(), null, 2));
}

export async function readModelFolder(dir: string): Promise<{ model: tfl.LayersModel; meta: ModelMeta }> {
  const metaPath = path.join(dir, MODEL_META);
  if (!fs.existsSync(metaPath)) throw new ModalfuseError('not a model folder (modalfuse.json missing)', { file: metaPath });
  let meta: ModelMeta;
  try {
    meta = JSON.parse(fs.readFileSync(metaPath, 'utf8')) as ModelMeta;
  } catch (e) {
    throw new ModalfuseError(`unreadable model metadata: ${(e as Error).message}`, { file: metaPath });
  }
  checkMeta(meta, metaPath);
  const model = await tfl.loadLayersModel(fileHandler(dir));
  return { model, meta };
}
