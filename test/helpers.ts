/** Shared test helpers: small data sets with a known answer, gradient probes, temp dirs. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { tf } from '../src/backend/index.js';
import type { Dataset, ModalitySpec, SplitData, SplitName, TaskSpec } from '../src/data/types.js';
import { sizeOf } from '../src/data/types.js';
import type { FusionModel } from '../src/models/fusion_model.js';
import { objectiveLoss } from '../src/train/objective.js';
import { Rng } from '../src/util/rng.js';

export function tmpDir(prefix = 'modalfuse-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * A small random data set of any modalities and task; the label depends on the first
 * feature of each modality, so every modality matters.
 */
export function smallDataset(
  modalities: Record<string, ModalitySpec>,
  task: TaskSpec,
  sizes: Partial<Record<SplitName, number>> = { train: 64, valid: 16, test: 16 },
  seed = 3,
): Dataset {
  const rng = new Rng(seed);
  const splits: Partial<Record<SplitName, SplitData>> = {};
  for (const [split, n] of Object.entries(sizes) as [SplitName, number][]) {
    const features: Record<string, Float32Array> = {};
    for (const [m, spec] of Object.entries(modalities)) {
      const f = new Float32Array(n * sizeOf(spec.shape));
      for (let i = 0; i < f.length; i++) f[i] = rng.normal();
      features[m] = f;
    }
    const score = (i: number) =>
      Object.entries(modalities).reduce((a, [m, spec]) => a + features[m][i * sizeOf(spec.shape)], 0);
    let labels: Int32Array | Float32Array;
    if (task.kind === 'classification') {
      const k = task.classes.length;
      labels = Int32Array.from({ length: n }, (_, i) => Math.min(k - 1, Math.max(0, Math.floor((score(i) + 2) * (k / 4)))));
    } else if (task.kind === 'regression') {
      const t = task.targets.length;
      labels = Float32Array.from({ length: n * t }, (_, j) => score(Math.floor(j / t)) * (1 + (j % t)));
    } else if (task.kind === 'multilabel') {
      const l = task.labels.length;
      labels = Float32Array.from({ length: n * l }, (_, j) => (score(Math.floor(j / l)) > (j % l) - 0.5 ? 1 : 0));
    } else {
      const k = Math.max(1, task.classes?.length ?? 0);
      labels = Int32Array.from({ length: n }, (_, i) => Math.min(k - 1, Math.max(0, Math.floor((score(i) + 2) * (k / 4)))));
    }
    splits[split] = { n, features, labels };
  }
  return { name: 'small', task, modalities, splits, provenance: { test: true, seed } };
}

/** Gradients of the training loss (main + aux, as the trainer forms it) for every trainable weight. */
export function trainingGradients(fm: FusionModel, data: Dataset): Map<string, Float32Array> {
  const split = data.splits.train!;
  fm.fitPreprocessing(split);
  const pre = fm.preprocess(split.features);
  const idx = Array.from({ length: Math.min(32, split.n) }, (_, i) => i);
  const out = new Map<string, Float32Array>();
  tf.tidy(() => {
    const xs = fm.batchTensors(pre, idx);
    const y = fm.task.labelBatch(split.labels, idx);
    const vars = fm.model.trainableWeights.map((w) => w.read() as tf.Variable);
    const inputs = Object.fromEntries(fm.inputModalities.map((m, j) => [m, xs[j]]));
    const { grads } = tf.variableGrads(() => objectiveLoss(fm.meta.objective, fm.task, { outputs: fm.forwardNamed(xs, true), labels: y, inputs }), vars);
    for (const [name, g] of Object.entries(grads)) out.set(name, g.dataSync() as Float32Array);
  });
  return out;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
