/** `modalfuse.json`: the metadata of a model folder (DESIGN.md), and how a folder is saved. */
import type { Standardizer } from '../data/preprocess.js';
import type { DataSpec, Options } from '../registry/index.js';

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
  auxNames: string[];
  trainMain: boolean;
  auxWeight: number;
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
