/** The dataset type shared by loaders, generators, models, training and evaluation. */

import type { TaskSpec } from '../tasks/spec.js';
export { TASK_KINDS, classNames, describeTask, hasClassLabels, labelNames, taskWidth, type Relevance, type TaskKind, type TaskSpec } from '../tasks/spec.js';

/** What a modality holds; decides the default encoder. */
export type ModalityKind = 'vector' | 'sequence' | 'image' | 'audio' | 'video' | 'text';
export const MODALITY_KINDS: ModalityKind[] = ['vector', 'sequence', 'image', 'audio', 'video', 'text'];

export interface ModalitySpec {
  kind: ModalityKind;
  /** Per-sample shape, channels last (e.g. [28, 28, 1], [20, 300], [16]). */
  shape: number[];
}

export type SplitName = 'train' | 'valid' | 'test';
export const SPLITS: SplitName[] = ['train', 'valid', 'test'];

/** `dataset.json` of a dataset folder (DESIGN.md). */
export interface DatasetManifest {
  schemaVersion: 1;
  name: string;
  task: TaskSpec;
  modalities: Record<string, ModalitySpec>;
  splits: Partial<Record<SplitName, number>>;
  provenance?: Record<string, unknown>;
}

/** One split in memory: row-major float32 features per modality, and labels. */
export interface SplitData {
  n: number;
  /** modality -> Float32Array of length n * prod(shape) */
  features: Record<string, Float32Array>;
  /**
   * classification: Int32Array [n] of class indices;
   * regression: Float32Array [n * targets];
   * multilabel: Float32Array [n * labels] of 0/1.
   */
  labels: Int32Array | Float32Array;
  /**
   * Sequence modalities with unequal lengths: valid steps per sample (padding at the end),
   * from `{modality}.lengths.{split}.npy`; a modality left out has every step valid.
   */
  lengths?: Record<string, Int32Array>;
}

export interface Dataset {
  name: string;
  task: TaskSpec;
  modalities: Record<string, ModalitySpec>;
  splits: Partial<Record<SplitName, SplitData>>;
  provenance?: Record<string, unknown>;
}

/** Sorted modality names: the one order used everywhere inside models. */
export function modalityNames(modalities: Record<string, unknown>): string[] {
  return Object.keys(modalities).sort();
}

export function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function manifestOf(ds: Dataset): DatasetManifest {
  const splits: Partial<Record<SplitName, number>> = {};
  for (const s of SPLITS) if (ds.splits[s]) splits[s] = ds.splits[s]!.n;
  return {
    schemaVersion: 1,
    name: ds.name,
    task: ds.task,
    modalities: ds.modalities,
    splits,
    provenance: ds.provenance ?? {},
  };
}
