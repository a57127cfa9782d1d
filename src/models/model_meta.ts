/**
 * `modalfuse.json`: the metadata of a model folder (DESIGN.md), how a folder is saved, and
 * the upgrade of folders written by 0.1.0. Shared by the model class, the folder
 * reader/writer and the checks of untrusted metadata.
 */
import type { Standardizer } from '../data/preprocess.js';
import type { DataSpec, Options } from '../registry/index.js';
import type { LossTerm } from '../tasks/index.js';

export const MODEL_META = 'modalfuse.json';

export interface ModelMeta {
  schemaVersion: 1;
  library: string;
  method: string;
  options: Options;
  seed: number;
  dataset: string;
  task: DataSpec['task'];
  modalities: DataSpec['modalities'];
  inputModalities: string[];
  /** Output names in the order of the network's outputs (`main` is a predicting task's). */
  outputs: string[];
  /** The loss terms training minimises (see src/tasks/objective.ts). */
  objective: LossTerm[];
  /** The network's last input is the presence mask (the method handles missing modalities). */
  presence?: boolean;
  /** Modalities whose valid lengths [batch, 1] the network takes, after the modality inputs (sequence methods). */
  lengthInputs?: string[];
  preprocessing: Record<string, Standardizer>;
  classes?: string[];
  metrics?: Record<string, number>;
  history?: unknown[];
  [key: string]: unknown;
}

export interface SaveOptions {
  /** Replace a model folder already at `dir` (default true; the CLI passes its --force). A folder that is not a model folder is never replaced. */
  overwrite?: boolean;
  /** Called with the temporary folder after the model is written there and before it replaces `dir` (e.g. to add files that belong to the model). */
  prepare?: (tmpDir: string) => void;
}

/**
 * modalfuse.json of 0.1.0 named its outputs by `auxNames` with `trainMain` / `auxWeight`;
 * it becomes the same outputs and objective (the heads as one group of weight auxWeight / heads).
 */
export function upgradeMeta(meta: ModelMeta): ModelMeta {
  if (Array.isArray(meta.outputs) && Array.isArray(meta.objective)) return meta;
  const auxNames = Array.isArray(meta.auxNames) ? (meta.auxNames as string[]) : [];
  const trainMain = meta.trainMain !== false;
  const auxWeight = typeof meta.auxWeight === 'number' ? meta.auxWeight : 1;
  const outputs = ['main', ...auxNames.map((n) => `head_${n}`)];
  const objective: LossTerm[] = trainMain ? [{ output: 'main', target: 'label', loss: 'task', weight: 1 }] : [];
  if (auxWeight > 0) for (const n of auxNames) objective.push({ output: `head_${n}`, target: 'label', loss: 'task', weight: auxWeight / auxNames.length, group: 'heads' });
  const out: ModelMeta = { ...meta, outputs, objective };
  delete out.auxNames;
  delete out.trainMain;
  delete out.auxWeight;
  return out;
}
