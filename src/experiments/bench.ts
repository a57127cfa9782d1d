// Over 400 lines: the benchmark runner with the results types that results.json and its schema follow, kept beside the code that fills them.
/**
 * The benchmark runner: every method on every data set, over one or more seeds, with
 * test metrics (mean and standard deviation over seeds), cost (parameters, FLOPs,
 * activation memory), speed, training curves and the confusion matrix. Its result is the
 * `results.json` of DESIGN.md ("Benchmark results"; schema in `schema/results.schema.json`)
 * that `src/report/html.ts` renders. The `bench` command of the CLI only parses its
 * arguments and calls `runBench`.
 */
import * as fs from 'node:fs';
import { backendName } from '../backend/index.js';
import '../datasets/avmnist/build.js'; // registers the `avmnist` data set name
import { loadDatasets } from '../datasets/resolve.js';
import { labelNames, type Dataset, type ModalitySpec, type SplitName, type TaskKind } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import { withTask } from '../data/with_task.js';
import { FusionModel } from '../models/fusion_model.js';
import { checkModelSize } from '../models/size_limit.js';
import {
  allOptions,
  getMethod,
  incompatibility,
  methodNamesFor,
  resolveOptions,
  type DataSpec,
  type MethodEntry,
  type Options,
} from '../registry/index.js';
import { train, trainingSettings } from '../train/train.js';
import { checkModalityDropout } from '../train/modality_dropout.js';
import { LIBRARY } from '../version.js';
import { fusionModelCost } from '../eval/cost.js';
import { evaluate } from '../eval/evaluate.js';
import { primaryMetric, type Metrics } from '../eval/metrics.js';
import { BENCH_DEFAULTS } from './bench_defaults.js';
import type { RobustnessEntry } from '../eval/robustness.js';
export type { RobustnessEntry };
import { robustnessSweep } from '../eval/robustness.js';

export { BENCH_DEFAULTS };

export interface BenchOptions {
  /** Data set names or folders (`synthetic` expands to the suite). Default `['synthetic']`. */
  datasets?: string[];
  /** Method names; default: every registered method that fits the data, not marked `slow`, plus `{modality}-only`. */
  methods?: string[];
  /** Option values applied to every selected method that declares the key; a key no method declares is an error. */
  set?: Record<string, unknown>;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  patience?: number;
  /** Training seeds; results are the mean (and standard deviation) over them. Default `[1]`. */
  seeds?: number[];
  /** Small generated data and few epochs (tests, smoke runs). */
  quick?: boolean;
  /**
   * Robustness sweep of the first seed's model on the test split: each modality missing,
   * and Gaussian noise at `robustnessLevels` (default true; evaluation only, cheap).
   */
  robustness?: boolean;
  /** Noise levels of the sweep (noise std / feature std); default ROBUSTNESS_LEVELS. */
  robustnessLevels?: number[];
  /** Seed of generated data sets (default 0, the same data `train` and `eval` see). */
  dataSeed?: number;
  /** Modality dropout while training (TrainOptions.modalityDropout; default 0). */
  modalityDropout?: number;
  /** Score every data set as this task: `retrieval:QUERY->GALLERY` (classification data, relevance by label). */
  task?: string;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
  /** Also pass the per-epoch lines of training to `log`. */
  verbose?: boolean;
  /** Called after each method is done on a data set. */
  onResult?: (dataset: string, result: BenchMethodResult) => void;
}

export interface BenchHistoryEntry {
  epoch: number;
  loss: number;
  /** Named losses of a method with its own step (gan-fusion: task, generator, discriminator). */
  losses?: Record<string, number>;
  valid?: Metrics;
  seconds?: number;
}


export interface BenchMethodResult {
  method: string;
  family?: string;
  level?: string;
  options: Options;
  seeds: number[];
  params: number;
  flopsPerSample: number;
  activationBytesPerSample: number;
  /** Mean over seeds. */
  trainSamplesPerSec: number;
  /** Mean over seeds. */
  inferSamplesPerSec: number;
  /** Wall time of training (with validation), mean over seeds. */
  trainSeconds: number;
  /** Epochs run (early stopping), mean over seeds. */
  epochsRun?: number;
  /** Training settings used (the bench's defaults < the method's own < the command line). */
  training?: { epochs: number; batchSize: number; lr: number; patience: number; loss?: string };
  /** Test split, mean over seeds. */
  metrics: Metrics;
  /** Sample standard deviation over seeds (more than one seed). */
  metricsStd?: Metrics;
  /** Multi-target regression: test metrics per target, mean over seeds. */
  metricsPerTarget?: Record<string, Metrics>;
  /** Training curve of the first seed. */
  history: BenchHistoryEntry[];
  /** Test confusion matrix of the first seed (rows: truth, columns: prediction). */
  confusion?: number[][];
  /** Test metrics of the first seed's model under corrupted modalities. */
  robustness?: RobustnessEntry[];
}

export interface BenchDatasetResult {
  dataset: string;
  task: TaskKind;
  /** The metric results are ranked by. */
  primaryMetric?: { key: string; higherIsBetter: boolean };
  /** Class names (classification), target names (regression) or label names (multi-label). */
  classes?: string[];
  modalities?: Record<string, ModalitySpec>;
  splits?: Partial<Record<SplitName, number>>;
  results: BenchMethodResult[];
}

export interface BenchSkip {
  dataset: string;
  method: string;
  reason: string;
}

export interface BenchResults {
  schemaVersion: 1;
  createdAt: string;
  library: string;
  backend: string;
  options: {
    seeds: number[];
    epochs: number;
    quick: boolean;
    patience: number;
    batchSize: number;
    lr: number;
    datasets: string[];
    methods: string[] | null;
    set: Record<string, unknown>;
    [key: string]: unknown;
  };
  datasets: BenchDatasetResult[];
  /** Methods left out of a data set (incompatible, or slow and not asked for). */
  skipped?: BenchSkip[];
  totalSeconds?: number;
}

interface PlannedRun {
  entry: MethodEntry;
  options: Options;
}

interface DatasetPlan {
  data: Dataset;
  runs: PlannedRun[];
}

function specOf(d: Dataset): DataSpec {
  return { task: d.task, modalities: d.modalities };
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

/** Sample standard deviation (n - 1); 0 for a single value. */
export function sampleStd(xs: number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

function finiteOrNull(v: number): number {
  // JSON has no NaN; a non-finite metric becomes null in results.json (the schema allows it).
  return Number.isFinite(v) ? v : (null as unknown as number);
}

function cleanMetrics(m: Metrics): Metrics {
  const out: Metrics = {};
  for (const [k, v] of Object.entries(m)) out[k] = finiteOrNull(v);
  return out;
}

function isFolder(nameOrPath: string): boolean {
  try {
    return fs.statSync(nameOrPath).isDirectory();
  } catch {
    return false;
  }
}

function checkSeeds(seeds: number[]): void {
  if (seeds.length === 0) throw new ModalfuseError('no seeds given', { expected: 'at least one integer seed', found: '[]' });
  for (const s of seeds) {
    if (!Number.isInteger(s)) throw new ModalfuseError('bad seed', { expected: 'integers', found: String(s) });
  }
  const dup = seeds.find((s, i) => seeds.indexOf(s) !== i);
  if (dup !== undefined) throw new ModalfuseError('a seed is listed twice', { expected: 'distinct seeds', found: dup });
}

/** Loads the data sets and decides every (data set, method, options) run; throws on any bad name or option before training. */
async function plan(opts: BenchOptions): Promise<{ plans: DatasetPlan[]; skipped: BenchSkip[] }> {
  const names = opts.datasets && opts.datasets.length > 0 ? opts.datasets : BENCH_DEFAULTS.datasets;
  const datasets: Dataset[] = [];
  const sources = new Map<string, string>();
  for (const name of names) {
    for (const loaded of await loadDatasets(name, { quick: opts.quick, seed: opts.dataSeed })) {
      const d = withTask(loaded, opts.task);
      const seen = sources.get(d.name);
      if (seen === undefined) {
        sources.set(d.name, name);
        datasets.push(d);
      } else if (seen === name || isFolder(seen) || isFolder(name)) {
        // Results are keyed by data set name: two data sets of one name would overwrite each other.
        throw new ModalfuseError(`two data sets are named "${d.name}" (results are keyed by name)`, {
          expected: 'distinct data sets (rename one in its dataset.json, or list it once)',
          found: seen === name ? `${name} listed twice` : [seen, name],
        });
      } // else: a built-in data set also part of a named suite (synthetic and synthetic:redundant): run once
    }
  }
  const skipped: BenchSkip[] = [];
  const set = opts.set ?? {};

  // Explicit method names must each name a method of at least one data set.
  if (opts.methods) {
    if (opts.methods.length === 0) throw new ModalfuseError('no methods given', { expected: 'at least one method name', found: '[]' });
    const twice = opts.methods.find((m, i) => opts.methods!.indexOf(m) !== i);
    if (twice !== undefined) throw new ModalfuseError(`method "${twice}" is listed twice (results are keyed by method)`, { expected: 'distinct method names', found: opts.methods });
    for (const m of opts.methods) {
      let firstError: unknown = null;
      let ok = false;
      for (const d of datasets) {
        try {
          getMethod(m, specOf(d));
          ok = true;
          break;
        } catch (e) {
          firstError ??= e;
        }
      }
      if (!ok) throw firstError;
    }
  }

  const plans: DatasetPlan[] = [];
  for (const d of datasets) {
    const spec = specOf(d);
    const runs: PlannedRun[] = [];
    // `constant` (the floor) runs in every table
    const candidates = opts.methods ? (opts.methods.includes('constant') ? opts.methods : [...opts.methods, 'constant']) : methodNamesFor(spec);
    for (const name of candidates) {
      let entry: MethodEntry;
      try {
        entry = getMethod(name, spec);
      } catch (e) {
        if (!(e instanceof ModalfuseError)) throw e;
        skipped.push({ dataset: d.name, method: name, reason: e.message });
        continue;
      }
      if (!opts.methods && entry.slow) {
        skipped.push({ dataset: d.name, method: name, reason: `${name} is marked slow; name it in the method list to run it` });
        continue;
      }
      const specs = allOptions(entry);
      const given: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(set)) if (k in specs) given[k] = v;
      const options = resolveOptions(entry, given);
      const why = incompatibility(entry, spec, options);
      if (why) {
        skipped.push({ dataset: d.name, method: name, reason: why });
        continue;
      }
      // Too large for the memory limit: refused before anything is built (skipped when only defaults are in play).
      try {
        checkModelSize(entry, spec, options);
      } catch (e) {
        if (!(e instanceof ModalfuseError) || Object.keys(given).length > 0) throw e;
        skipped.push({ dataset: d.name, method: name, reason: e.message });
        continue;
      }
      runs.push({ entry, options });
    }
    plans.push({ data: d, runs });
  }

  // A key of `set` that no selected method declares is a mistake (a typo, or the wrong method list).
  for (const k of Object.keys(set)) {
    const declared = plans.some((p) => p.runs.some((r) => k in allOptions(r.entry)));
    if (!declared) {
      const known = new Set<string>();
      for (const p of plans) for (const r of p.runs) for (const o of Object.keys(allOptions(r.entry))) known.add(o);
      throw new ModalfuseError(`option "${k}" is not an option of any selected method`, { expected: [...known].sort(), found: k });
    }
  }
  return { plans, skipped };
}

/** What `runBench` would run, without training: per data set the methods and their resolved options, and what is skipped. Throws on bad names or options. */
export async function planBench(opts: BenchOptions = {}): Promise<{ datasets: { dataset: string; runs: { method: string; options: Options }[] }[]; skipped: BenchSkip[] }> {
  const { plans, skipped } = await plan(opts);
  return { datasets: plans.map((p) => ({ dataset: p.data.name, runs: p.runs.map((r) => ({ method: r.entry.name, options: r.options })) })), skipped };
}

function fmtMetrics(m: Metrics): string {
  return Object.entries(m)
    .map(([k, v]) => `${k} ${Number.isFinite(v) ? v.toFixed(4) : String(v)}`)
    .join(' ');
}

/** Runs the benchmark and returns its results (nothing is written; see `writeReport`). */
/** The fields every results.json starts with (DESIGN.md). */
export function resultsHeader(): { schemaVersion: 1; createdAt: string; library: string; backend: string } {
  return { schemaVersion: 1, createdAt: new Date().toISOString(), library: LIBRARY, backend: backendName() };
}

export async function runBench(opts: BenchOptions = {}): Promise<BenchResults> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const seeds = opts.seeds && opts.seeds.length > 0 ? opts.seeds : BENCH_DEFAULTS.seeds;
  checkSeeds(seeds);
  const epochs = opts.epochs ?? (opts.quick ? BENCH_DEFAULTS.quickEpochs : BENCH_DEFAULTS.epochs);
  const patience = opts.patience ?? BENCH_DEFAULTS.patience;
  const batchSize = opts.batchSize ?? BENCH_DEFAULTS.batchSize;
  const lr = opts.lr ?? BENCH_DEFAULTS.lr;
  if (!Number.isInteger(epochs) || epochs < 1) throw new ModalfuseError('bad number of epochs', { expected: 'integer >= 1', found: epochs });
  if (!Number.isInteger(patience) || patience < 0) throw new ModalfuseError('bad patience', { expected: 'integer >= 0', found: patience });
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ModalfuseError('bad batch size', { expected: 'integer >= 1', found: batchSize });
  if (!(lr > 0) || !Number.isFinite(lr)) throw new ModalfuseError('bad learning rate', { expected: 'number > 0', found: lr });
  if (opts.modalityDropout !== undefined) checkModalityDropout(opts.modalityDropout);

  const { plans, skipped } = await plan(opts);
  for (const s of skipped) log(`skip ${s.method} on ${s.dataset}: ${s.reason}`);
  const total = plans.reduce((a, p) => a + p.runs.length, 0) * seeds.length;
  if (total === 0) throw new ModalfuseError('nothing to run: no selected method fits the selected data sets', { found: skipped.map((s) => `${s.method} on ${s.dataset}`) });
  log(`bench: ${plans.length} data set(s), ${total} training run(s), ${epochs} epochs max, patience ${patience}, seeds ${seeds.join(',')}`);

  let done = 0;
  const datasets: BenchDatasetResult[] = [];
  for (const { data, runs } of plans) {
    const spec = specOf(data);
    const results: BenchMethodResult[] = [];
    for (const { entry, options } of runs) {
      const perSeed: { metrics: Metrics; perTarget?: Record<string, Metrics>; trainSps: number; inferSps: number; secs: number; epochs: number }[] = [];
      let training: BenchMethodResult['training'];
      let first: Pick<BenchMethodResult, 'params' | 'flopsPerSample' | 'activationBytesPerSample' | 'history' | 'confusion' | 'robustness'> | null = null;
      for (const seed of seeds) {
        const fm = FusionModel.create(entry.name, spec, options, { seed, dataset: data.name });
        try {
          const ts = performance.now();
          // the bench's defaults < the method's own training defaults < what the caller gave
          const given = { epochs: opts.epochs ?? (opts.quick ? BENCH_DEFAULTS.quickEpochs : undefined), patience: opts.patience, batchSize: opts.batchSize, lr: opts.lr };
          const settings = trainingSettings(entry.name, given, { epochs, patience, batchSize, lr });
          training = { epochs: settings.epochs, batchSize: settings.batchSize, lr: settings.lr, patience: settings.patience, ...(settings.loss ? { loss: settings.loss } : {}) };
          const tr = await train(fm, data, {
            ...training,
            seed,
            modalityDropout: opts.modalityDropout,
            log: opts.verbose ? (l) => log(`  ${l}`) : undefined,
          });
          const secs = (performance.now() - ts) / 1000;
          const ev = evaluate(fm, data, { split: 'test' });
          perSeed.push({ metrics: ev.metrics, perTarget: ev.metricsPerTarget, trainSps: tr.trainSamplesPerSec, inferSps: ev.inferSamplesPerSec, secs, epochs: tr.epochsRun });
          if (!first) {
            const cost = fusionModelCost(fm);
            first = {
              ...cost,
              history: tr.history.map((h) => ({
                epoch: h.epoch,
                loss: finiteOrNull(h.loss),
                ...(h.losses ? { losses: Object.fromEntries(Object.entries(h.losses).map(([k, v]) => [k, finiteOrNull(v)])) } : {}),
                ...(h.valid ? { valid: cleanMetrics(h.valid) } : {}),
                seconds: h.seconds,
              })),
              confusion: ev.confusion,
              robustness:
                opts.robustness === false
                  ? undefined
                  : robustnessSweep(fm, data, { split: 'test', levels: opts.robustnessLevels }).map((p) => ({ ...p, metrics: cleanMetrics(p.metrics) })),
            };
          }
          done++;
          log(`[${done}/${total}] ${data.name} ${entry.name} seed ${seed}: ${fmtMetrics(ev.metrics)} (${tr.epochsRun} epochs, ${secs.toFixed(1)}s)`);
        } finally {
          fm.dispose();
        }
      }
      const keys = Object.keys(perSeed[0].metrics);
      const metrics: Metrics = {};
      const metricsStd: Metrics = {};
      for (const k of keys) {
        const xs = perSeed.map((p) => p.metrics[k]);
        metrics[k] = finiteOrNull(mean(xs));
        metricsStd[k] = finiteOrNull(sampleStd(xs));
      }
      // multi-target regression: per-target metrics, mean over seeds
      const perTarget = perSeed[0].perTarget
        ? Object.fromEntries(
            Object.entries(perSeed[0].perTarget).map(([t, m]) => [t, Object.fromEntries(Object.keys(m).map((k) => [k, finiteOrNull(mean(perSeed.map((p) => p.perTarget![t][k])))]))]),
          )
        : undefined;
      const r: BenchMethodResult = {
        method: entry.name,
        family: entry.family,
        level: entry.level,
        options,
        seeds: [...seeds],
        params: first!.params,
        flopsPerSample: first!.flopsPerSample,
        activationBytesPerSample: first!.activationBytesPerSample,
        trainSamplesPerSec: mean(perSeed.map((p) => p.trainSps)),
        inferSamplesPerSec: mean(perSeed.map((p) => p.inferSps)),
        trainSeconds: mean(perSeed.map((p) => p.secs)),
        epochsRun: mean(perSeed.map((p) => p.epochs)),
        ...(training ? { training } : {}),
        metrics,
        ...(seeds.length > 1 ? { metricsStd } : {}),
        ...(perTarget ? { metricsPerTarget: perTarget as Record<string, Metrics> } : {}),
        history: first!.history,
        ...(first!.confusion ? { confusion: first!.confusion } : {}),
        ...(first!.robustness ? { robustness: first!.robustness } : {}),
      };
      results.push(r);
      opts.onResult?.(data.name, r);
    }
    const splits: Partial<Record<SplitName, number>> = {};
    for (const [s, sd] of Object.entries(data.splits)) if (sd) splits[s as SplitName] = sd.n;
    const t = data.task;
    datasets.push({
      dataset: data.name,
      task: t.kind,
      primaryMetric: primaryMetric(t),
      classes: labelNames(t),
      modalities: data.modalities,
      splits,
      results,
    });
  }

  return {
    ...resultsHeader(),
    options: {
      seeds: [...seeds],
      epochs,
      quick: !!opts.quick,
      patience,
      batchSize,
      lr,
      datasets: opts.datasets && opts.datasets.length > 0 ? [...opts.datasets] : BENCH_DEFAULTS.datasets,
      methods: opts.methods ? [...opts.methods] : null,
      set: { ...(opts.set ?? {}) },
      robustness: opts.robustness !== false,
      ...(opts.modalityDropout ? { modalityDropout: opts.modalityDropout } : {}),
      ...(opts.task ? { task: opts.task } : {}),
    },
    datasets,
    skipped,
    totalSeconds: (performance.now() - t0) / 1000,
  };
}
