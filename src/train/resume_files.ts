/**
 * The optimizer states of a checkpoint's `resume/` folder, encoded before the folder is
 * saved and written into its temporary folder (FusionModel.save's `prepare`), so that
 * weights, every optimizer and the training state are replaced together: a kill never
 * leaves new weights with an old optimizer state.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf } from '../backend/index.js';

export interface EncodedOptimizer {
  data: ArrayBuffer;
  specs: tf.io.WeightsManifestEntry[];
}

/** File stem of an optimiser's state in a resume folder: `optimizer` for the one default optimiser (`main`). */
export function optimizerFile(name: string): string {
  return name === 'main' ? 'optimizer' : `optimizer-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
}

export async function encodeOptimizer(opt: tf.Optimizer): Promise<EncodedOptimizer> {
  const { data, specs } = await tf.io.encodeWeights(await opt.getWeights());
  return { data: data as ArrayBuffer, specs };
}

/** Writes `optimizer[-NAME].bin`, `optimizer[-NAME].json` for every optimiser, and `state.json`, into `dir`. */
export function writeResumeFiles(dir: string, opts: Record<string, EncodedOptimizer>, state: unknown): void {
  for (const [name, opt] of Object.entries(opts)) {
    fs.writeFileSync(path.join(dir, `${optimizerFile(name)}.bin`), Buffer.from(opt.data));
    fs.writeFileSync(path.join(dir, `${optimizerFile(name)}.json`), JSON.stringify(opt.specs));
  }
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
}
