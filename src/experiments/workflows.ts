/**
 * The workflows behind the `modalfuse` commands, as library functions a user can call too:
 * train and save a model (`trainAndSave`), evaluate a saved model under corruption
 * (`evaluateSaved`), build a built-in data set (`buildDataset`). The CLI only parses its
 * arguments, calls these and prints what they return.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readManifest, checkDatasetDestination, datasetReplaceRule } from '../data/folder.js';
import type { Dataset, SplitName } from '../data/types.js';
import { withTask } from '../data/with_task.js';
import { avmnistCachePath, avmnistDataDir, attachTransforms, buildAvmnist, loadAvmnist } from '../datasets/avmnist/build.js';
import { loadDataset } from '../datasets/resolve.js';
import { ModalfuseError } from '../errors.js';
import { evaluate } from '../eval/evaluate.js';
import { corrupt } from '../eval/robustness.js';
import { checkModelDestination } from '../models/folder_node.js';
import { FusionModel } from '../models/fusion_model.js';
import { checkDataFitsModel } from '../models/fit_check.js';
import { explain } from '../eval/explain.js';
import type { Metrics } from '../tasks/index.js';
import { train, type TrainOptions, type TrainResult } from '../train/train.js';
import { replaceDir } from '../util/atomic_dir.js';
import { BUILDABLE } from './bench_defaults.js';

export { BUILDABLE };

/** The split a result is reported on: the one asked for, else test, else valid. */
export function evalSplit(data: Dataset, wanted?: SplitName): SplitName {
  if (wanted) return wanted;
  for (const s of ['test', 'valid'] as SplitName[]) if (data.splits[s] && data.splits[s]!.n > 0) return s;
  throw new ModalfuseError('the data set has no test or valid split to evaluate on', { found: Object.keys(data.splits) });
}

/** The one-line JSON result of `train` and `eval`. */
export interface ResultLine {
  schemaVersion: 1;
  dataset: string;
  method: string;
  split: SplitName;
  metrics: Metrics;
  corruption?: Record<string, unknown>;
}

export interface TrainAndSaveOptions {
  /** Data set name or folder. */
  dataset: string;
  method: string;
  /** Method options (structured values allowed). */
  options?: Record<string, unknown>;
  /** Training options (epochs, lr, seed, modalityDropout, ...; undefined values take the defaults). */
  training?: TrainOptions;
  /** Score the data as another task, e.g. `retrieval:audio->image`. */
  task?: string;
  /** Model folder to write; none: train and evaluate only. */
  save?: string;
  /** Replace a model folder already at `save`. */
  force?: boolean;
  log?: (line: string) => void;
}

/**
 * Train `method` on a data set, evaluate it on its test split (else valid), and save the
 * model folder atomically with its metrics, history and training settings (AV-MNIST models
 * also carry the data's transforms). The destination is checked before training starts.
 */
export async function trainAndSave(o: TrainAndSaveOptions): Promise<{ result: ResultLine; train: TrainResult; params: number; transformsFrom?: string }> {
  const log = o.log ?? (() => {});
  if (o.save !== undefined) checkModelDestination(o.save, !!o.force);
  const data = withTask(await loadDataset(o.dataset), o.task);
  const training = o.training ?? {};
  const seed = training.seed ?? 1;
  const fm = FusionModel.create(o.method, data, o.options ?? {}, { seed, dataset: data.name });
  try {
    const params = fm.countParams();
    log(`training ${fm.method} on ${data.name} (${params.toLocaleString('en-US')} parameters)`);
    const tr = await train(fm, data, { ...training, seed, log: training.log ?? log });
    const split = evalSplit(data);
    const ev = evaluate(fm, data, { split });
    const transformsFrom = avmnistDataDir(data, o.dataset) ?? undefined;
    if (o.save !== undefined) {
      const given = Object.fromEntries(Object.entries(training).filter(([k, v]) => v !== undefined && typeof v !== 'function' && k !== 'log' && k !== 'onEpoch'));
      await fm.save(
        o.save,
        {
          dataset: data.name,
          metrics: ev.metrics,
          metricsSplit: split,
          history: tr.history,
          training: { ...given, ...tr.settings, seed, epochsRun: tr.epochsRun, bestEpoch: tr.bestEpoch, trainSeconds: tr.trainSeconds, trainSamplesPerSec: tr.trainSamplesPerSec },
        },
        { overwrite: !!o.force, prepare: transformsFrom ? (tmp) => attachTransforms(tmp, transformsFrom) : undefined },
      );
    }
    return { result: { schemaVersion: 1, dataset: data.name, method: fm.method, split, metrics: ev.metrics }, train: tr, params, transformsFrom };
  } finally {
    fm.dispose();
  }
}

export interface EvaluateSavedOptions {
  /** Model folder. */
  model: string;
  /** Data set name or folder. */
  dataset: string;
  split?: SplitName;
  /** Score as another task (default: the model's own). */
  task?: string;
  /** Modalities that are missing (the model is told; their input is the training mean). */
  missing?: string[];
  /** Gaussian noise per modality on the raw inputs, in training feature standard deviations. */
  noise?: Record<string, number>;
  /** Seed of the noise (default 0). */
  seed?: number;
  batchSize?: number;
}

/** Evaluate a saved model on a data set, optionally with missing or noisy modalities. */
export async function evaluateSaved(o: EvaluateSavedOptions): Promise<{ result: ResultLine; n: number; inferSamplesPerSec: number }> {
  const fm = await FusionModel.load(o.model);
  try {
    const t = fm.meta.task;
    let data = withTask(await loadDataset(o.dataset), o.task ?? (t.kind === 'retrieval' ? `retrieval:${t.query}->${t.gallery}` : undefined));
    const split = evalSplit(data, o.split);
    let corruption: Record<string, unknown> | undefined;
    if (o.missing || o.noise) {
      const reads = fm.inputModalities;
      for (const m of [...(o.missing ?? []), ...Object.keys(o.noise ?? {})]) {
        if (!reads.includes(m)) throw new ModalfuseError(`cannot corrupt modality "${m}": the model does not read it`, { modality: m, expected: reads, found: m });
      }
      const seed = o.seed ?? 0;
      const sd = data.splits[split];
      if (sd && o.noise) data = { ...data, splits: { ...data.splits, [split]: { ...sd, features: corrupt(sd.features, data, { noise: o.noise, seed, stats: fm.meta.preprocessing }) } } };
      corruption = { ...(o.missing ? { missing: o.missing } : {}), ...(o.noise ? { noise: o.noise } : {}), seed };
    }
    const ev = evaluate(fm, data, { split, batchSize: o.batchSize, missing: o.missing });
    return { result: { schemaVersion: 1, dataset: data.name, method: fm.method, split, metrics: ev.metrics, ...(corruption ? { corruption } : {}) }, n: ev.n, inferSamplesPerSec: ev.inferSamplesPerSec };
  } finally {
    fm.dispose();
  }
}


export interface BuildDatasetOptions {
  fsdd?: string;
  mnist?: string;
  limit?: number;
  seed?: number;
  snrDb?: number;
  /** Folder to write; default: the cache folder that `--dataset avmnist` reads. */
  out?: string;
  /** Replace a data set already there (only a data set folder is ever replaced). */
  force?: boolean;
  log?: (line: string) => void;
}

/**
 * Build a built-in data set into a folder (atomically: the old one stays until the new one
 * is complete). Returns the folder, whether it was built (false: already in the cache) and a summary.
 */
export async function buildDataset(name: string, o: BuildDatasetOptions = {}): Promise<{ dir: string; built: boolean; summary: Record<string, unknown> }> {
  if (!BUILDABLE.includes(name)) throw new ModalfuseError(`unknown data set to build: "${name}"`, { expected: BUILDABLE, found: name });
  const t0 = performance.now();
  const b = { fsdd: o.fsdd, mnist: o.mnist, limit: o.limit, seed: o.seed, snrDb: o.snrDb, log: o.log };
  let dir: string;
  let built = true;
  if (o.out !== undefined) {
    dir = path.resolve(o.out);
    // Before the build: the folder can be written, and only a data set is ever replaced (with --force).
    checkDatasetDestination(dir, !!o.force);
    await replaceDir(dir, { mayReplace: datasetReplaceRule(!!o.force) }, async (tmp) => {
      await buildAvmnist({ ...b, out: tmp });
    });
  } else {
    dir = avmnistCachePath(b);
    const exists = fs.existsSync(path.join(dir, 'dataset.json'));
    if (exists && !o.force) {
      built = false;
      o.log?.(`avmnist: already built in ${dir} (--force rebuilds it)`);
    } else if (exists) {
      await replaceDir(dir, { mayReplace: datasetReplaceRule(true) }, async (tmp) => {
        await buildAvmnist({ ...b, out: tmp });
      });
    } else {
      await loadAvmnist(b);
    }
  }
  const m = readManifest(dir);
  const prov = (m.provenance ?? {}) as Record<string, Record<string, unknown> & { seed?: number }>;
  const summary = {
    schemaVersion: 1,
    dataset: m.name,
    dir,
    built,
    splits: m.splits,
    modalities: m.modalities,
    seed: prov.seed ?? null,
    snrDb: prov.audio?.snrDb ?? null,
    imageComponents: prov.image?.components ?? null,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
  return { dir, built, summary };
}

export interface ExplainSavedOptions {
  model: string;
  dataset: string;
  split?: SplitName;
  /** At most this many samples in `perSample` (averages use all). */
  limit?: number;
}

/** The explanation of a saved model on a data set (src/eval/explain.ts; shape in DESIGN.md). */
export async function explainSaved(o: ExplainSavedOptions): Promise<ReturnType<typeof explain>> {
  const fm = await FusionModel.load(o.model);
  try {
    const data = await loadDataset(o.dataset);
    checkDataFitsModel(fm, data, `data set "${data.name}"`);
    return explain(fm, data, { split: evalSplit(data, o.split), limit: o.limit });
  } finally {
    fm.dispose();
  }
}
