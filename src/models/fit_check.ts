/** Whether data (a data set, a folder's manifest, prediction input) fits a model: its modalities, shapes and task. */
import { labelNames } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import type { DataSpec } from '../registry/index.js';
import type { FusionModel } from './fusion_model.js';

function same(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Throws unless data of `spec` can go through `fm` (same modalities and shapes, same task). */
export function checkDataFitsModel(fm: FusionModel, spec: DataSpec, where = 'the data'): void {
  const want = fm.meta.modalities;
  for (const m of fm.inputModalities) {
    const got = spec.modalities[m];
    if (!got) {
      throw new ModalfuseError(`${where} lacks modality "${m}" that the model needs`, { modality: m, expected: fm.inputModalities, found: Object.keys(spec.modalities).sort() });
    }
    if (!same(got.shape, want[m].shape)) {
      throw new ModalfuseError(`modality "${m}" of ${where} has another shape than the model was trained on`, { modality: m, expected: want[m].shape, found: got.shape });
    }
  }
  const t = fm.meta.task;
  if (spec.task.kind !== t.kind) throw new ModalfuseError(`${where} is a ${spec.task.kind} task, the model is for ${t.kind}`, { expected: t.kind, found: spec.task.kind });
  const names = labelNames;
  if (names(spec.task).length !== names(t).length) {
    throw new ModalfuseError(`${where} has another number of ${t.kind === 'classification' ? 'classes' : t.kind === 'regression' ? 'targets' : 'labels'} than the model`, {
      expected: names(t),
      found: names(spec.task),
    });
  }
}
