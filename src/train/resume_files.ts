/**
 * The optimizer state of a checkpoint's `resume/` folder, encoded before the folder is saved
 * and written into its temporary folder (FusionModel.save's `prepare`), so that weights,
 * optimizer and training state are replaced together: a kill never leaves new weights with
 * an old optimizer state.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf } from '../backend/index.js';

export interface EncodedOptimizer {
  data: ArrayBuffer;
  specs: tf.io.WeightsManifestEntry[];
}

export async function encodeOptimizer(opt: tf.Optimizer): Promise<EncodedOptimizer> {
  const { data, specs } = await tf.io.encodeWeights(await opt.getWeights());
  return { data: data as ArrayBuffer, specs };
}

/** Writes `optimizer.bin`, `optimizer.json` and `state.json` into `dir`. */
export function writeResumeFiles(dir: string, opt: EncodedOptimizer, state: unknown): void {
  fs.writeFileSync(path.join(dir, 'optimizer.bin'), Buffer.from(opt.data));
  fs.writeFileSync(path.join(dir, 'optimizer.json'), JSON.stringify(opt.specs));
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(state));
}
