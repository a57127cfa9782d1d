/**
 * One benchmark over any mix of data sets, as `modalfuse bench` runs it: AV-MNIST (the name
 * `avmnist`, or a folder built by `modalfuse data build avmnist`) goes through its own
 * protocol (`runAvmnistProtocol`: unimodal CNNs trained once, fusion on their frozen
 * features, optionally end to end), every other data set through `runBench`; the parts are
 * merged into one results object (results.json of DESIGN.md) for `writeReport`.
 *
 * Options map onto the protocol as follows: `epochs` caps both the unimodal and the fusion
 * training (default: the protocol's, 8 and 20; quick 2 and 2); `seeds` runs the whole
 * protocol once per seed (mean and standard deviation as in runBench; curves, confusion and
 * robustness from the first seed); `methods` are the fusion methods on frozen features
 * (`audio-only` and `image-only` always run; names that fit only the other data sets are
 * skipped here); `set` goes to the unimodal encoders and to the fusion methods (each takes
 * the keys it declares); `modalityDropout` is a training option of every fusion model.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadAvmnist } from '../datasets/avmnist/build.js';
import { readDatasetFolder } from '../data/folder.js';
import { loadDatasets } from '../datasets/resolve.js';
import type { Dataset, ModalitySpec } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import { allOptions, getMethod, methodNamesFor, type DataSpec, type MethodEntry } from '../registry/index.js';
import { retrievalTaskFrom } from '../tasks/index.js';
import { checkModalityDropout } from '../train/modality_dropout.js';
import { AVMNIST_PROTOCOL_DEFAULTS, AVMNIST_RETRIEVAL_TASK, frozenFusionMethods, runAvmnistProtocol, type AvmnistProtocolResults } from './avmnist_protocol.js';
import { BENCH_DEFAULTS, resultsHeader, runBench, sampleStd, type BenchDatasetResult, type BenchMethodResult, type BenchOptions, type BenchResults, type BenchSkip } from './bench.js';
import type { Metrics } from '../eval/metrics.js';

export interface BenchSuiteOptions extends BenchOptions {
  /** AV-MNIST: methods also trained end to end from the raw inputs; `true`: the same methods as on frozen features. */
  endToEnd?: string[] | boolean;
  /** AV-MNIST: cap of the build (`limit` of buildAvmnist: train L, valid L/10, test L/5). */
  avmnistLimit?: number;
  /** AV-MNIST: epochs of the unimodal networks (default `epochs`, else the protocol's). */
  unimodalEpochs?: number;
}

/** True when a data set name or folder stands for AV-MNIST (run with its protocol in a suite). */
export function isAvmnistTarget(nameOrPath: string): boolean {
  if (nameOrPath === 'avmnist') return true;
  try {
    if (!fs.statSync(nameOrPath).isDirectory()) return false;
    if (!fs.existsSync(path.join(nameOrPath, 'preprocessing', 'transforms.json'))) return false;
    const manifest = JSON.parse(fs.readFileSync(path.join(nameOrPath, 'dataset.json'), 'utf8')) as { name?: string };
    return manifest.name === 'avmnist';
  } catch {
    return false;
  }
}

/** The raw spec of AV-MNIST and the spec of its frozen features (widths do not matter for method choice). */
const AVMNIST_SPEC: DataSpec = {
  task: { kind: 'classification', classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] },
  modalities: { audio: { kind: 'audio', shape: [32, 32, 1] }, image: { kind: 'image', shape: [28, 28, 1] } },
};
const FEATURE_SPEC: DataSpec = {
  task: AVMNIST_SPEC.task,
  modalities: { audio: { kind: 'vector', shape: [32] }, image: { kind: 'vector', shape: [32] } } as Record<string, ModalitySpec>,
};
/** The frozen features scored as retrieval (methods that only retrieve, e.g. dssm). */
function retrievalFeatureSpec(task?: string): DataSpec {
  return { ...FEATURE_SPEC, task: retrievalTaskFrom(task ?? AVMNIST_RETRIEVAL_TASK, FEATURE_SPEC.task, ['audio', 'image']) };
}

function resolves(name: string, spec: DataSpec): MethodEntry | null {
  try {
    return getMethod(name, spec);
  } catch (e) {
    if (e instanceof ModalfuseError) return null;
    throw e;
  }
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function finiteOrNull(v: number): number {
  return Number.isFinite(v) ? v : (null as unknown as number);
}

/** One protocol run per seed -> one result per (data set, method): means over seeds, the first seed's curves. */
export function combineSeedRuns(runs: BenchResults[]): BenchDatasetResult[] {
  const [first, ...rest] = runs;
  return first.datasets.map((ds) => ({
    ...ds,
    results: ds.results.map((r) => {
      const all: BenchMethodResult[] = [r];
      for (const run of rest) {
        const other = run.datasets.find((d) => d.dataset === ds.dataset)?.results.find((x) => x.method === r.method);
        if (other) all.push(other);
      }
      if (all.length === 1) return r;
      const metrics: Metrics = {};
      const metricsStd: Metrics = {};
      for (const k of Object.keys(r.metrics)) {
        const xs = all.map((x) => x.metrics[k]).filter((v) => typeof v === 'number');
        metrics[k] = finiteOrNull(mean(xs));
        metricsStd[k] = finiteOrNull(sampleStd(xs));
      }
      return {
        ...r,
        seeds: all.flatMap((x) => x.seeds),
        trainSamplesPerSec: mean(all.map((x) => x.trainSamplesPerSec)),
        inferSamplesPerSec: mean(all.map((x) => x.inferSamplesPerSec)),
        trainSeconds: mean(all.map((x) => x.trainSeconds)),
        epochsRun: mean(all.map((x) => x.epochsRun ?? x.history.length)),
        metrics,
        metricsStd,
      };
    }),
  }));
}

/** Runs the benchmark over every data set (AV-MNIST with its protocol) and returns the merged results. */
export async function runBenchSuite(opts: BenchSuiteOptions = {}): Promise<BenchResults> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const names = opts.datasets && opts.datasets.length > 0 ? opts.datasets : BENCH_DEFAULTS.datasets;
  const avNames = names.filter(isAvmnistTarget);
  const others = names.filter((n) => !isAvmnistTarget(n));
  if (avNames.length === 0) {
    if (opts.avmnistLimit !== undefined || opts.endToEnd || opts.unimodalEpochs !== undefined) {
      throw new ModalfuseError('--limit, --end-to-end and --unimodal-epochs are options of the AV-MNIST protocol; add --dataset avmnist', {
        expected: 'avmnist among the data sets',
        found: names,
      });
    }
    return runBench(opts);
  }
  if (avNames.length > 1) throw new ModalfuseError('AV-MNIST is named more than once', { expected: 'one AV-MNIST data set per run', found: avNames });
  if (opts.modalityDropout !== undefined) checkModalityDropout(opts.modalityDropout);
  const seeds = opts.seeds && opts.seeds.length > 0 ? opts.seeds : BENCH_DEFAULTS.seeds;
  const set = opts.set ?? {};

  // Which methods go where; a name that fits no data set is the error it gives.
  const otherSpecs: DataSpec[] = [];
  if (others.length > 0) {
    for (const n of others) for (const d of await loadDatasets(n, { quick: opts.quick, seed: opts.dataSeed })) otherSpecs.push({ task: d.task, modalities: d.modalities });
  }
  const skipped: BenchSkip[] = [];
  let avMethods: string[] | undefined;
  let otherMethods: string[] | undefined;
  if (opts.methods) {
    if (opts.methods.length === 0) throw new ModalfuseError('no methods given', { expected: 'at least one method name', found: '[]' });
    avMethods = [];
    otherMethods = [];
    for (const m of opts.methods) {
      const unimodal = /^(.+)-only$/.exec(m)?.[1];
      const forAv = unimodal !== undefined ? unimodal in AVMNIST_SPEC.modalities : resolves(m, FEATURE_SPEC) !== null || resolves(m, retrievalFeatureSpec(opts.task)) !== null;
      const forOthers = otherSpecs.some((s) => resolves(m, s) !== null);
      if (!forAv && !forOthers) getMethod(m, others.length > 0 ? otherSpecs[0] : unimodal !== undefined ? AVMNIST_SPEC : FEATURE_SPEC); // throws the message
      if (forAv && unimodal === undefined) avMethods.push(m);
      if (!forAv) skipped.push({ dataset: 'avmnist', method: m, reason: `"${m}" is not a method of AV-MNIST's modalities (audio, image)` });
      if (forOthers) otherMethods.push(m);
    }
  }

  // --set keys: each must be declared by some selected method; each part gets the keys its methods declare.
  const avSpec = (n: string) => (resolves(n, FEATURE_SPEC) ? FEATURE_SPEC : retrievalFeatureSpec(opts.task));
  const avEntries = [...['audio-only', 'image-only'].map((n) => getMethod(n, AVMNIST_SPEC)), ...(avMethods ?? frozenFusionMethods(opts.task ? retrievalFeatureSpec(opts.task) : FEATURE_SPEC)).map((n) => getMethod(n, avSpec(n)))];
  const otherEntries = otherSpecs.flatMap((s) => (otherMethods ?? methodNamesFor(s)).map((n) => resolves(n, s)).filter((e): e is MethodEntry => e !== null));
  const declared = (entries: MethodEntry[], k: string) => entries.some((e) => k in allOptions(e));
  for (const k of Object.keys(set)) {
    if (!declared(avEntries, k) && !declared(otherEntries, k)) {
      const known = new Set<string>();
      for (const e of [...avEntries, ...otherEntries]) for (const o of Object.keys(allOptions(e))) known.add(o);
      throw new ModalfuseError(`option "${k}" is not an option of any selected method`, { expected: [...known].sort(), found: k });
    }
  }
  const otherSet = Object.fromEntries(Object.entries(set).filter(([k]) => declared(otherEntries, k)));

  // The data.
  let data: Dataset;
  const avName = avNames[0];
  if (avName === 'avmnist') data = await loadAvmnist({ quick: opts.quick, limit: opts.avmnistLimit, seed: opts.dataSeed ?? 0, log });
  else {
    if (opts.avmnistLimit !== undefined) throw new ModalfuseError('--limit applies to building AV-MNIST, not to a folder', { file: avName, expected: '--dataset avmnist --limit N', found: avName });
    data = readDatasetFolder(avName);
  }

  // The protocol, once per seed.
  const endToEnd = opts.endToEnd === true ? (avMethods ?? frozenFusionMethods(FEATURE_SPEC)).filter((n) => resolves(n, FEATURE_SPEC) !== null) : opts.endToEnd || [];
  const epochs = opts.epochs;
  const runs: AvmnistProtocolResults[] = [];
  for (const seed of seeds) {
    log(`avmnist protocol, seed ${seed}`);
    runs.push(
      await runAvmnistProtocol({
        data,
        quick: opts.quick,
        unimodalEpochs: opts.unimodalEpochs ?? epochs,
        fusionEpochs: epochs,
        patience: opts.patience,
        batchSize: opts.batchSize,
        lr: opts.lr,
        seed,
        methods: avMethods,
        endToEnd,
        encoderOptions: set,
        fusionOptions: { ...AVMNIST_PROTOCOL_DEFAULTS.fusionOptions, ...set },
        robustness: opts.robustness,
        levels: opts.robustnessLevels,
        modalityDropout: opts.modalityDropout,
        task: opts.task,
        unimodalCache: !opts.quick, // the unimodal CNNs are trained once per seed and reused
        log,
        onResult: opts.onResult,
      }),
    );
  }
  const av = runs[0];
  const avDatasets = combineSeedRuns(runs);
  for (const s of av.skipped ?? []) skipped.push(s);

  // The other data sets.
  let rest: BenchResults | null = null;
  if (others.length > 0 && (otherMethods === undefined || otherMethods.length > 0)) {
    rest = await runBench({ ...opts, datasets: others, methods: otherMethods, set: otherSet });
  } else if (others.length > 0) {
    for (const n of others) skipped.push({ dataset: n, method: '*', reason: 'none of the listed methods fits this data set' });
  }

  // Merged: AV-MNIST first when it was named first, else after the others.
  const avFirst = names.indexOf(avName) === 0;
  const datasets = avFirst ? [...avDatasets, ...(rest?.datasets ?? [])] : [...(rest?.datasets ?? []), ...avDatasets];
  const ao = av.options;
  const base = rest?.options;
  return {
    ...resultsHeader(),
    options: {
      seeds: [...seeds],
      epochs: base?.epochs ?? ao.epochs,
      quick: !!opts.quick,
      patience: base?.patience ?? ao.patience,
      batchSize: base?.batchSize ?? ao.batchSize,
      lr: base?.lr ?? ao.lr,
      datasets: [...names],
      methods: opts.methods ? [...opts.methods] : null,
      set: { ...set },
      robustness: opts.robustness !== false,
      ...(opts.modalityDropout ? { modalityDropout: opts.modalityDropout } : {}),
      ...(opts.task ? { task: opts.task } : {}),
      avmnist: {
        protocol: ao.protocol,
        dataset: avName,
        limit: opts.avmnistLimit ?? null,
        unimodalEpochs: ao.unimodalEpochs,
        fusionEpochs: ao.epochs,
        patience: ao.patience,
        batchSize: ao.batchSize,
        lr: ao.lr,
        fusionOptions: ao.set,
        endToEnd: ao.endToEnd,
      },
    },
    datasets,
    ...(skipped.length + (rest?.skipped?.length ?? 0) > 0 ? { skipped: [...skipped, ...(rest?.skipped ?? [])] } : {}),
    totalSeconds: (performance.now() - t0) / 1000,
    protocol: av.protocol,
  } as BenchResults;
}
