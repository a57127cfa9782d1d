// Over 400 lines: the frozen-encoder protocol of MFAS end to end (unimodal training, feature extraction, fusion rows, retrieval, robustness through the encoders, end to end) in reading order.
/**
 * The AV-MNIST benchmark protocol (as in MFAS, Perez-Rua et al. 2019): train each
 * single-modality network once (`image-only`, `audio-only`, CNN encoders), freeze their
 * encoders, and train every feature-level fusion method of the registry on the frozen
 * encoders' features with the same head budget (same head options, no extra encoder
 * layers: `encoderLayers` 0). Optionally (`endToEnd`) chosen methods are also trained
 * jointly from the raw inputs.
 *
 * Frozen features: the output of each unimodal model's last `enc_<modality>_*` layer
 * (the dense layer of width `hidden`; dropout is inactive at inference) on its
 * preprocessed input, for every split. They form a derived data set of 'vector'
 * modalities `{ audio: [hidden], image: [hidden] }` (provenance says so) on which the
 * fusion methods train fast. Robustness is measured on the raw inputs: a corrupted (or
 * missing) raw modality goes through the frozen encoder, then through the fusion model.
 *
 * With `unimodalCache` the unimodal networks are trained once per seed (and data, options,
 * settings) and reused from disk by later runs (./unimodal_cache.ts).
 *
 * Methods that only retrieve (e.g. `dssm`) train their towers on the same frozen features,
 * scored as retrieval (`task`, default `retrieval:audio->image`: the spoken digit queries
 * the test images, relevant = same digit; `reverse*` keys for image -> audio); their
 * results, robustness included, go to the block `avmnist:retrieval`.
 *
 * Returns a `BenchResults` object (results.json of DESIGN.md): data set `avmnist` with
 * the unimodal and frozen-encoder fusion results (`encoders`: 'trained' | 'frozen'),
 * `avmnist:retrieval` for retrieval methods, and `avmnist:end-to-end` for the jointly trained ones.
 */
import { tf, tfl } from '../backend/index.js';
import { AVMNIST_QUICK_SIZES, loadAvmnist } from '../datasets/avmnist/build.js';
import type { Standardizer } from '../data/preprocess.js';
import type { Dataset, SplitData, SplitName } from '../data/types.js';
import { encoderOutput } from '../encoders/cnn.js';
import { ModalfuseError } from '../errors.js';
import { withTask } from '../data/with_task.js';
import { loadUnimodal, saveUnimodal, unimodalEntryDir, unimodalKey } from './unimodal_cache.js';
import { FusionModel } from '../models/fusion_model.js';
import { allOptions, getMethod, incompatibility, listMethods, resolveOptions, type DataSpec, type MethodEntry, type Options } from '../registry/index.js';
import { train, type TrainResult } from '../train/train.js';
import { resultsHeader, type BenchDatasetResult, type BenchMethodResult, type BenchResults, type BenchSkip } from './bench.js';
import { fusionModelCost, modelCost, type Cost } from '../eval/cost.js';
import { evaluate, type Evaluation } from '../eval/evaluate.js';
import { computeMetrics, primaryMetric } from '../eval/metrics.js';
import { corrupt, robustnessSweep, ROBUSTNESS_LEVELS, sweepConditions, type RobustnessPoint } from '../eval/robustness.js';

/** The retrieval task of AV-MNIST's retrieval methods: the spoken digit queries the images. */
export const AVMNIST_RETRIEVAL_TASK = 'retrieval:audio->image';

export const AVMNIST_PROTOCOL_DEFAULTS = {
  full: { unimodalEpochs: 8, fusionEpochs: 20, patience: 3 },
  quick: { unimodalEpochs: 2, fusionEpochs: 2, patience: 0 },
  batchSize: 64,
  lr: 1e-3,
  seed: 1,
  /** Options of every fusion method on frozen features: fuse the features themselves. */
  fusionOptions: { encoderLayers: 0 } as Record<string, unknown>,
};

export interface AvmnistProtocolOptions {
  /** The data (default: `loadAvmnist({ quick })`, built into the cache on first use). */
  data?: Dataset;
  /** 5,000 train / 1,000 valid / 2,000 test samples and 2 epochs. */
  quick?: boolean;
  /** Epochs of the unimodal networks (default 8; quick 2). */
  unimodalEpochs?: number;
  /** Epochs of the fusion methods (default 20; quick 2). */
  fusionEpochs?: number;
  /** Early-stopping patience (default 3; quick 0 = off). */
  patience?: number;
  batchSize?: number;
  lr?: number;
  /** Seed of every model (default 1). */
  seed?: number;
  /** Seed of the data set when it is loaded here (default 0). */
  dataSeed?: number;
  /** Fusion methods on frozen features (default: every registered method that fits two vector modalities, except pixel-level and slow ones). */
  methods?: string[];
  /** Methods also trained end to end from raw inputs (default none). */
  endToEnd?: string[];
  /** Options of the unimodal networks (and of end-to-end methods): hidden, convFilters, ... */
  encoderOptions?: Record<string, unknown>;
  /** Options of every fusion method (keys a method does not declare are ignored); default { encoderLayers: 0 }. */
  fusionOptions?: Record<string, unknown>;
  /** Robustness sweeps (default true). */
  robustness?: boolean;
  levels?: number[];
  /** Modality dropout while training the fusion methods (default 0). */
  modalityDropout?: number;
  /** Reuse the unimodal networks trained before with the same data, options, seed and settings (./unimodal_cache.ts): true for the default cache root, or a cache root folder; default off. */
  unimodalCache?: boolean | string;
  /** The retrieval task of methods that only retrieve (default `retrieval:audio->image`); given, the default methods are the retrieval ones. */
  task?: string;
  log?: (line: string) => void;
  /** Called after each method. */
  onResult?: (dataset: string, result: AvmnistMethodResult) => void;
}

export interface AvmnistMethodResult extends BenchMethodResult {
  /** 'trained': a unimodal network; 'frozen': fusion on the frozen unimodal encoders; 'end-to-end'. */
  encoders: 'trained' | 'frozen' | 'end-to-end';
  /** Cost of the fusion model alone (frozen: without the encoders counted in `params`). */
  fusionParams?: number;
  robustness?: RobustnessPoint[];
}

export interface AvmnistProtocolResults extends BenchResults {
  datasets: (Omit<BenchDatasetResult, 'results'> & { results: AvmnistMethodResult[] })[];
  protocol: {
    quick: boolean;
    sizes: Partial<Record<SplitName, number>>;
    unimodalEpochs: number;
    fusionEpochs: number;
    unimodalSeconds: number;
    featureSeconds: number;
    featureDataset: { modalities: Record<string, { kind: string; shape: number[] }>; provenance: Record<string, unknown> };
    dataProvenance: Record<string, unknown>;
  };
}

const MODALITIES = ['audio', 'image'];

function subsample(data: Dataset, sizes: Record<SplitName, number>): Dataset {
  const splits: Partial<Record<SplitName, SplitData>> = {};
  for (const [s, sd] of Object.entries(data.splits) as [SplitName, SplitData][]) {
    if (!sd) continue;
    const n = Math.min(sd.n, sizes[s]);
    if (n === sd.n) {
      splits[s] = sd;
      continue;
    }
    const features: Record<string, Float32Array> = {};
    for (const [m, x] of Object.entries(sd.features)) features[m] = x.subarray(0, (x.length / sd.n) * n);
    splits[s] = { n, features, labels: sd.labels.subarray(0, n) };
  }
  return { ...data, splits, provenance: { ...(data.provenance ?? {}), subsampled: sizes } };
}

/** A unimodal model's frozen encoder: raw features -> [n, hidden]. */
class FrozenEncoder {
  readonly modality: string;
  readonly fm: FusionModel;
  readonly sub: tfl.LayersModel;
  readonly width: number;
  constructor(fm: FusionModel, modality: string) {
    this.modality = modality;
    this.fm = fm;
    const out = encoderOutput(fm.model, `enc_${modality}`);
    this.sub = tfl.model({ inputs: fm.model.inputs, outputs: out });
    this.width = out.shape[out.shape.length - 1] as number;
  }
  get stats(): Standardizer {
    return this.fm.meta.preprocessing[this.modality];
  }
  cost(): Cost {
    return modelCost(this.sub);
  }
  /** Features of raw inputs; `missing`: all-zero preprocessed inputs (the mean input). */
  features(raw: Float32Array, n: number, missing = false, batchSize = 256): Float32Array {
    const pre = missing ? new Float32Array(raw.length) : this.fm.preprocess({ [this.modality]: raw })[this.modality];
    const out = new Float32Array(n * this.width);
    for (let s = 0; s < n; s += batchSize) {
      const e = Math.min(n, s + batchSize);
      const idx = Array.from({ length: e - s }, (_, i) => s + i);
      const y = tf.tidy(() => {
        const xs = this.fm.batchTensors({ [this.modality]: pre }, idx);
        return this.sub.apply(xs[0], { training: false }) as tf.Tensor;
      });
      out.set(y.dataSync() as Float32Array, s * this.width);
      y.dispose();
    }
    return out;
  }
}

function historyOf(tr: TrainResult): BenchMethodResult['history'] {
  return tr.history.map((h) => ({ epoch: h.epoch, loss: h.loss, ...(h.losses ? { losses: h.losses } : {}), ...(h.valid ? { valid: h.valid } : {}), seconds: h.seconds }));
}

function resultOf(
  entry: MethodEntry,
  options: Options,
  seed: number,
  tr: TrainResult,
  ev: Evaluation,
  secs: number,
  cost: Cost,
  encoders: AvmnistMethodResult['encoders'],
  extra: Partial<AvmnistMethodResult> = {},
): AvmnistMethodResult {
  return {
    method: entry.name,
    family: entry.family,
    level: entry.level,
    options,
    seeds: [seed],
    params: cost.params,
    flopsPerSample: cost.flopsPerSample,
    activationBytesPerSample: cost.activationBytesPerSample,
    trainSamplesPerSec: tr.trainSamplesPerSec,
    inferSamplesPerSec: ev.inferSamplesPerSec,
    trainSeconds: secs,
    epochsRun: tr.epochsRun,
    metrics: ev.metrics,
    history: historyOf(tr),
    ...(ev.confusion ? { confusion: ev.confusion } : {}),
    encoders,
    ...extra,
  };
}

function givenFor(entry: MethodEntry, opts: Record<string, unknown>): Record<string, unknown> {
  const specs = allOptions(entry);
  return Object.fromEntries(Object.entries(opts).filter(([k]) => k in specs));
}

/** Default fusion methods on frozen features: every registered method that fits the spec, except pixel-level, unimodal and slow ones. */
export function frozenFusionMethods(spec: DataSpec): string[] {
  return listMethods()
    .filter((e) => e.name !== '{modality}-only' && e.level !== 'pixel' && !e.slow && incompatibility(e, spec) === null)
    .map((e) => e.name);
}

/** Runs the AV-MNIST protocol (see the file comment). */
export async function runAvmnistProtocol(opts: AvmnistProtocolOptions = {}): Promise<AvmnistProtocolResults> {
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const quick = !!opts.quick;
  const d = quick ? AVMNIST_PROTOCOL_DEFAULTS.quick : AVMNIST_PROTOCOL_DEFAULTS.full;
  const unimodalEpochs = opts.unimodalEpochs ?? d.unimodalEpochs;
  const fusionEpochs = opts.fusionEpochs ?? d.fusionEpochs;
  const patience = opts.patience ?? d.patience;
  const batchSize = opts.batchSize ?? AVMNIST_PROTOCOL_DEFAULTS.batchSize;
  const lr = opts.lr ?? AVMNIST_PROTOCOL_DEFAULTS.lr;
  const seed = opts.seed ?? AVMNIST_PROTOCOL_DEFAULTS.seed;
  const levels = opts.levels ?? ROBUSTNESS_LEVELS;
  const doRobust = opts.robustness ?? true;
  const encoderOptions = opts.encoderOptions ?? {};
  const fusionOptions = { ...AVMNIST_PROTOCOL_DEFAULTS.fusionOptions, ...(opts.fusionOptions ?? {}) };

  let data = opts.data ?? (await loadAvmnist({ quick, seed: opts.dataSeed ?? 0, log }));
  if (quick) data = subsample(data, AVMNIST_QUICK_SIZES);
  for (const m of MODALITIES) {
    if (!(m in data.modalities)) throw new ModalfuseError('the AV-MNIST protocol needs audio and image modalities', { modality: m, expected: MODALITIES, found: Object.keys(data.modalities) });
  }
  const test = data.splits.test;
  if (!test || !data.splits.train) throw new ModalfuseError('the AV-MNIST protocol needs train and test splits', { expected: ['train', 'valid', 'test'], found: Object.keys(data.splits) });
  const sizes: Partial<Record<SplitName, number>> = {};
  for (const [s, sd] of Object.entries(data.splits)) if (sd) sizes[s as SplitName] = sd.n;
  log(`avmnist protocol${quick ? ' (quick)' : ''}: train ${sizes.train}, valid ${sizes.valid ?? 0}, test ${sizes.test}; unimodal ${unimodalEpochs} epochs, fusion ${fusionEpochs} epochs`);
  const trainOpts = { batchSize, lr, seed, patience };
  const spec: DataSpec = { task: data.task, modalities: data.modalities };
  const skipped: BenchSkip[] = [];

  // 1. Unimodal networks.
  const tUni = performance.now();
  const unimodal: AvmnistMethodResult[] = [];
  const encoders: Record<string, FrozenEncoder> = {};
  const models: FusionModel[] = [];
  try {
    for (const m of MODALITIES) {
      const name = `${m}-only`;
      const entry = getMethod(name, spec);
      let fm = FusionModel.create(name, spec, givenFor(entry, encoderOptions), { seed, dataset: data.name });
      models.push(fm);
      const cacheDir = typeof opts.unimodalCache === 'string' ? opts.unimodalCache : undefined;
      const key = opts.unimodalCache ? unimodalKey({ data, method: name, options: fm.meta.options, seed, training: { ...trainOpts, epochs: unimodalEpochs, robustness: doRobust ? levels : null } }) : null;
      const hit = key ? await loadUnimodal<AvmnistMethodResult>(key, cacheDir) : null;
      if (hit) {
        fm.dispose();
        models[models.length - 1] = fm = hit.fm;
        unimodal.push(hit.result);
        opts.onResult?.('avmnist', hit.result);
        log(`${name}: from the cache (${unimodalEntryDir(key!, cacheDir)}), test accuracy ${hit.result.metrics.accuracy.toFixed(4)}`);
      } else {
        const ts = performance.now();
        const tr = await train(fm, data, { ...trainOpts, epochs: unimodalEpochs, log: (l) => log(`  ${name}: ${l}`) });
        const secs = (performance.now() - ts) / 1000;
        const ev = evaluate(fm, data);
        const r = resultOf(entry, fm.meta.options, seed, tr, ev, secs, fusionModelCost(fm), 'trained');
        if (doRobust) r.robustness = robustnessSweep(fm, data, { levels });
        unimodal.push(r);
        opts.onResult?.('avmnist', r);
        log(`${name}: test accuracy ${ev.metrics.accuracy.toFixed(4)} (${tr.epochsRun} epochs, ${secs.toFixed(0)}s)`);
        if (key) await saveUnimodal(key, fm, r, cacheDir);
      }
      encoders[m] = new FrozenEncoder(fm, m);
    }
    const unimodalSeconds = (performance.now() - tUni) / 1000;

    // 2. Frozen features of every split, and of the corrupted test inputs.
    const tFeat = performance.now();
    const featSplits: Partial<Record<SplitName, SplitData>> = {};
    for (const [s, sd] of Object.entries(data.splits) as [SplitName, SplitData][]) {
      if (!sd) continue;
      const features: Record<string, Float32Array> = {};
      for (const m of MODALITIES) features[m] = encoders[m].features(sd.features[m], sd.n);
      featSplits[s] = { n: sd.n, features, labels: sd.labels };
    }
    const featModalities = Object.fromEntries(MODALITIES.map((m) => [m, { kind: 'vector' as const, shape: [encoders[m].width] }]));
    const featProvenance = {
      derivedFrom: data.name,
      features: 'frozen encoders: output of the last enc_<modality>_* layer of the trained unimodal networks (image-only, audio-only)',
      encoderOptions: Object.fromEntries(MODALITIES.map((m) => [m, encoders[m].fm.meta.options])),
      seed,
    };
    const feat: Dataset = { name: `${data.name}:frozen-features`, task: data.task, modalities: featModalities, splits: featSplits, provenance: featProvenance };
    const featSpec: DataSpec = { task: data.task, modalities: featModalities };
    const stats: Record<string, Standardizer> = Object.fromEntries(MODALITIES.map((m) => [m, encoders[m].stats]));
    const conditions = doRobust ? sweepConditions(MODALITIES, levels) : [];
    const condFeatures = conditions.map((c) => {
      const raw = test.features[c.modality];
      const x =
        c.corruption === 'missing'
          ? encoders[c.modality].features(raw, test.n, true)
          : encoders[c.modality].features(corrupt(test.features, data, { noise: { [c.modality]: c.level }, stats })[c.modality], test.n);
      return { ...featSplits.test!.features, [c.modality]: x };
    });
    const featureSeconds = (performance.now() - tFeat) / 1000;
    log(`frozen features: ${MODALITIES.map((m) => `${m} [${encoders[m].width}]`).join(', ')} in ${featureSeconds.toFixed(1)}s`);
    const encCost = MODALITIES.map((m) => encoders[m].cost()).reduce((a, c) => ({
      params: a.params + c.params,
      flopsPerSample: a.flopsPerSample + c.flopsPerSample,
      activationBytesPerSample: a.activationBytesPerSample + c.activationBytesPerSample,
    }));

    // 3. Fusion methods on the frozen features (retrieval methods on them scored as retrieval).
    const retrieval = withTask(feat, opts.task ?? AVMNIST_RETRIEVAL_TASK);
    const retrievalSpec: DataSpec = { task: retrieval.task, modalities: featModalities };
    const methods = opts.methods ?? frozenFusionMethods(opts.task ? retrievalSpec : featSpec);
    const fused: AvmnistMethodResult[] = [];
    const retrieved: AvmnistMethodResult[] = [];
    for (const name of methods) {
      const retrieves = !getMethod(name).tasks.includes(data.task.kind);
      const onFeat = retrieves ? retrieval : feat;
      const entry = getMethod(name, retrieves ? retrievalSpec : featSpec);
      const options = resolveOptions(entry, givenFor(entry, fusionOptions));
      const why = incompatibility(entry, retrieves ? retrievalSpec : featSpec, options);
      if (why) {
        log(`skip ${name}: ${why}`);
        skipped.push({ dataset: 'avmnist', method: name, reason: `on frozen encoder features: ${why}` });
        continue;
      }
      const fm = FusionModel.create(name, retrieves ? retrievalSpec : featSpec, options, { seed, dataset: data.name });
      try {
        const ts = performance.now();
        const tr = await train(fm, onFeat, { ...trainOpts, epochs: fusionEpochs, modalityDropout: opts.modalityDropout });
        const secs = (performance.now() - ts) / 1000;
        const ev = evaluate(fm, onFeat);
        const own = fusionModelCost(fm);
        const cost: Cost = {
          params: own.params + encCost.params,
          flopsPerSample: own.flopsPerSample + encCost.flopsPerSample,
          activationBytesPerSample: own.activationBytesPerSample + encCost.activationBytesPerSample,
        };
        const r = resultOf(entry, options, seed, tr, ev, secs, cost, 'frozen', { fusionParams: own.params });
        if (doRobust) {
          // a method that handles missing modalities is told which one is missing
          r.robustness = conditions.map((c, i) => {
            const missing = c.corruption === 'missing' && fm.meta.presence ? [c.modality] : undefined;
            if (retrieves) return { ...c, metrics: evaluate(fm, { ...onFeat, splits: { ...onFeat.splits, test: { ...featSplits.test!, features: condFeatures[i] } } }).metrics };
            return { ...c, metrics: computeMetrics(data.task, fm.predictRaw(condFeatures[i], test.n, 256, { missing }), test.labels).metrics };
          });
        }
        (retrieves ? retrieved : fused).push(r);
        opts.onResult?.(retrieves ? 'avmnist:retrieval' : 'avmnist', r);
        const key = primaryMetric(onFeat.task).key;
        log(`${name} (frozen encoders): test ${key} ${ev.metrics[key].toFixed(4)} (${tr.epochsRun} epochs, ${secs.toFixed(1)}s)`);
      } finally {
        fm.dispose();
      }
    }

    // 4. End to end.
    const e2e: AvmnistMethodResult[] = [];
    for (const name of opts.endToEnd ?? []) {
      const entry = getMethod(name, spec);
      const given = { ...givenFor(entry, encoderOptions), ...givenFor(entry, opts.fusionOptions ?? {}) };
      const options = resolveOptions(entry, given);
      const why = incompatibility(entry, spec, options);
      if (why) {
        log(`skip ${name} end to end: ${why}`);
        skipped.push({ dataset: 'avmnist:end-to-end', method: name, reason: why });
        continue;
      }
      const fm = FusionModel.create(name, spec, options, { seed, dataset: data.name });
      try {
        const ts = performance.now();
        const tr = await train(fm, data, { ...trainOpts, epochs: unimodalEpochs, modalityDropout: opts.modalityDropout, log: (l) => log(`  ${name} (end to end): ${l}`) });
        const secs = (performance.now() - ts) / 1000;
        const ev = evaluate(fm, data);
        const r = resultOf(entry, options, seed, tr, ev, secs, fusionModelCost(fm), 'end-to-end');
        if (doRobust) r.robustness = robustnessSweep(fm, data, { levels });
        e2e.push(r);
        opts.onResult?.('avmnist:end-to-end', r);
        log(`${name} (end to end): test accuracy ${ev.metrics.accuracy.toFixed(4)} (${tr.epochsRun} epochs, ${secs.toFixed(0)}s)`);
      } finally {
        fm.dispose();
      }
    }

    const dsResult = (dataset: string, results: AvmnistMethodResult[], t = data.task) => ({
      dataset,
      task: t.kind,
      primaryMetric: primaryMetric(t),
      classes: t.kind === 'classification' ? t.classes : undefined,
      modalities: data.modalities,
      splits: sizes,
      results,
    });
    const datasets = [dsResult('avmnist', [...unimodal, ...fused])];
    if (retrieved.length > 0) datasets.push(dsResult('avmnist:retrieval', retrieved, retrieval.task));
    if (e2e.length > 0) datasets.push(dsResult('avmnist:end-to-end', e2e));
    return {
      ...resultsHeader(),
      options: {
        seeds: [seed],
        epochs: fusionEpochs,
        quick,
        patience,
        batchSize,
        lr,
        datasets: ['avmnist'],
        methods: opts.methods ? [...opts.methods] : null,
        set: { ...fusionOptions },
        protocol: 'avmnist-frozen-encoders',
        unimodalEpochs,
        encoderOptions: { ...encoderOptions },
        endToEnd: [...(opts.endToEnd ?? [])],
        modalityDropout: opts.modalityDropout ?? 0,
        ...(retrieved.length > 0 ? { task: opts.task ?? AVMNIST_RETRIEVAL_TASK } : {}),
      },
      datasets: datasets as AvmnistProtocolResults['datasets'],
      ...(skipped.length > 0 ? { skipped } : {}),
      totalSeconds: (performance.now() - t0) / 1000,
      protocol: {
        quick,
        sizes,
        unimodalEpochs,
        fusionEpochs,
        unimodalSeconds,
        featureSeconds,
        featureDataset: { modalities: featModalities, provenance: featProvenance },
        dataProvenance: data.provenance ?? {},
      },
    };
  } finally {
    models.forEach((m) => m.dispose());
  }
}
