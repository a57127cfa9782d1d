/**
 * The commands of `modalfuse`: each parses what commander gave it and calls library
 * functions (src/experiments/workflows.ts and the rest of the library), printing results
 * to stdout and progress to stderr.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import type { BackendName } from '../backend/index.js';
import type { SplitName } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import { importDataset } from '../data/import.js';
import type { MethodEntry, OptionSpec } from '../registry/types.js';
import { VERSION } from '../version.js';
import { checkWritableDir, checkWritableFile, writeFileAtomic } from '../util/atomic_dir.js';
import { out, note, oneLine, intArg, seedArg, positiveArg, listArg, seedsArg, Converter, scalar, list, str, strList, bool, applyConfig, structuredSet, takeModalityDropout, need } from './args.js';

// The library (and TensorFlow.js with it) loads only when a command runs, so that usage
// errors and --help answer at once.
export const BACKEND_CHOICES = ['wasm', 'cpu', 'tensorflow'] satisfies BackendName[];

async function lib() {
  const [core, bench, predict, report, summary, table] = await Promise.all([
    import('../index.js'),
    import('../experiments/bench.js'),
    import('../predict/input.js'),
    import('../report/html.js'),
    import('../report/summary.js'),
    import('../report/table.js'),
  ]);
  const workflows = await import('../experiments/workflows.js');
  return { ...core, ...bench, ...predict, ...report, ...summary, ...table, ...workflows };
}

// ------------------------------------------------------------------ commands

async function backend(cmd: Command): Promise<Awaited<ReturnType<typeof lib>>> {
  const L = await lib();
  const b = cmd.optsWithGlobals().backend as BackendName | undefined;
  await L.initBackend(b ? { backend: b } : {});
  return L;
}

export function optionText(k: string, s: OptionSpec): string {
  const scalar = (t: { type: string; values?: readonly string[]; min?: number; max?: number }) =>
    t.values ? `one of ${t.values.join('|')}` : `${t.type}${t.min !== undefined ? ` >= ${t.min}` : ''}${t.max !== undefined ? ` <= ${t.max}` : ''}`;
  const range = s.type === 'list' ? `list of ${s.items ? scalar(s.items) : 'values'}` : s.type === 'json' ? 'JSON object, inline or @FILE' : scalar(s);
  const dflt = typeof s.default === 'object' ? JSON.stringify(s.default) : String(s.default);
  return `${k}=${dflt} (${range}${s.perModality ? '; per modality: ' + k + '.MODALITY=...' : ''}): ${s.description}`;
}

export function methodJson(e: MethodEntry, allOptions: (e: MethodEntry) => Record<string, OptionSpec>) {
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

export async function cmdMethods(opts: { json?: boolean }): Promise<void> {
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

export async function cmdInspect(target: string, opts: { json?: boolean }): Promise<void> {
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

export async function cmdImport(opts: Record<string, unknown>): Promise<void> {
  const { summarizeDataset, formatDatasetSummary } = await import('../report/summary.js');
  const ds = importDataset({
    out: need(opts.out as string | undefined, '--out'),
    task: need(opts.task as 'classification' | 'regression' | 'multilabel' | 'retrieval' | undefined, '--task'),
    retrieval: opts.task === 'retrieval' ? { query: need(opts.query as string | undefined, '--query'), gallery: need(opts.gallery as string | undefined, '--gallery'), relevance: opts.relevance as 'label' | 'pair' | undefined } : undefined,
    modalities: need(opts.modality as Record<string, string> | undefined, '--modality NAME=FILE'),
    kinds: opts.kind as Record<string, string> | undefined,
    labels: need(opts.labels as string | undefined, '--labels'),
    lengths: opts.lengths as Record<string, string> | undefined,
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
export async function cmdDataBuild(name: string, opts: Record<string, unknown>): Promise<void> {
  const { buildDataset } = await import('../experiments/workflows.js');
  const r = await buildDataset(name, {
    fsdd: opts.fsdd as string | undefined,
    mnist: opts.mnist as string | undefined,
    limit: opts.limit as number | undefined,
    seed: opts.seed as number | undefined,
    snrDb: opts.snrDb as number | undefined,
    out: opts.out as string | undefined,
    force: !!opts.force,
    log: note,
  });
  out(r.dir);
  out(JSON.stringify(r.summary));
}

export const TRAIN_KEYS: Record<string, Converter> = {
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

export async function cmdTrain(opts: Record<string, unknown>, cmd: Command): Promise<void> {
  structuredSet(opts);
  applyConfig(cmd, opts, TRAIN_KEYS);
  const dataset = need(opts.dataset as string | undefined, '--dataset');
  const method = need(opts.method as string | undefined, '--method');
  const save = need(opts.save as string | undefined, '--save');
  const modalityDropout = takeModalityDropout(opts);
  const { trainAndSave } = await backend(cmd);
  const r = await trainAndSave({
    dataset,
    method,
    options: (opts.set as Record<string, unknown>) ?? {},
    training: {
      epochs: opts.epochs as number | undefined,
      batchSize: opts.batchSize as number | undefined,
      lr: opts.lr as number | undefined,
      patience: opts.patience as number | undefined,
      seed: opts.seed as number | undefined,
      modalityDropout,
    },
    task: opts.task as string | undefined,
    save,
    force: !!opts.force,
    log: note,
  });
  if (r.transformsFrom) note(`attached the AV-MNIST transforms of ${r.transformsFrom} (predict --image/--wav and the demo page prepare raw inputs with them)`);
  const tr = r.train;
  note(`trained ${tr.epochsRun} epochs in ${tr.trainSeconds.toFixed(1)}s (${Math.round(tr.trainSamplesPerSec).toLocaleString('en-US')} samples/s; best epoch ${tr.bestEpoch}); model saved to ${save}`);
  out(JSON.stringify(r.result));
}

export async function cmdEval(opts: Record<string, unknown>, cmd: Command): Promise<void> {
  const { evaluateSaved, parseNoiseSpec } = await backend(cmd);
  const r = await evaluateSaved({
    model: opts.model as string,
    dataset: opts.dataset as string,
    split: opts.split as SplitName | undefined,
    task: opts.task as string | undefined,
    missing: opts.missing as string[] | undefined,
    noise: opts.noise !== undefined ? parseNoiseSpec(opts.noise as string[]) : undefined,
    seed: opts.seed as number | undefined,
    batchSize: opts.batchSize as number | undefined,
  });
  const c = r.result.corruption;
  note(`${r.result.method} on ${r.result.dataset} (${r.result.split}, ${r.n} samples${c ? `, corrupted: ${JSON.stringify(c)}` : ''}, ${Math.round(r.inferSamplesPerSec).toLocaleString('en-US')} samples/s)`);
  out(JSON.stringify(r.result));
}

export async function cmdExplain(opts: Record<string, unknown>, cmd: Command): Promise<void> {
  const { explainSaved } = await backend(cmd);
  out(JSON.stringify(await explainSaved({ model: opts.model as string, dataset: opts.dataset as string, split: opts.split as SplitName | undefined, limit: opts.limit as number | undefined })));
}

export async function cmdPredict(opts: Record<string, unknown>, cmd: Command): Promise<void> {
  if (opts.input === undefined && opts.image === undefined && opts.wav === undefined) {
    throw new ModalfuseError('missing --input (a dataset folder or JSONL), or --image / --wav for a model trained on avmnist');
  }
  if (opts.out) checkWritableFile(opts.out as string, '--out'); // before the model is loaded and run
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
      writeFileAtomic(opts.out as string, text);
    } catch (e) {
      throw new ModalfuseError(`cannot write predictions (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { file: opts.out as string });
    }
    note(`wrote ${records.length} predictions to ${opts.out as string}`);
  } else {
    process.stdout.write(text);
  }
}

export const BENCH_KEYS: Record<string, Converter> = {
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

export async function cmdBench(opts: Record<string, unknown>, cmd: Command): Promise<void> {
  structuredSet(opts);
  applyConfig(cmd, opts, BENCH_KEYS);
  const modalityDropout = takeModalityDropout(opts);
  const dir = (opts.out as string | undefined) ?? 'report';
  checkWritableDir(dir, '--out'); // before the long work
  const { runBenchSuite, writeReport, formatResultsTable } = await backend(cmd);
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
  out(formatResultsTable(results).trimEnd());
  let written: { resultsFile: string; reportFile: string };
  try {
    written = writeReport(dir, results);
  } catch (e) {
    // The results of a long run are not lost: they go to a fresh temporary folder, and the error says where.
    if (!(e instanceof ModalfuseError)) throw e;
    const rescue = fs.mkdtempSync(path.join(os.tmpdir(), 'modalfuse-report-'));
    const saved = writeReport(rescue, results);
    throw new ModalfuseError(`${oneLine(e.message)}; the results were written to ${saved.resultsFile} instead`, { file: dir });
  }
  note(`wrote ${written.resultsFile} and ${written.reportFile} (${((results.totalSeconds ?? 0) / 60).toFixed(1)} min)`);
}

export async function cmdDemo(opts: Record<string, unknown>): Promise<void> {
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

export async function cmdReport(file: string, opts: { out?: string }): Promise<void> {
  const { readResults, writeReport } = await import('../report/html.js');
  const results = readResults(file);
  const dir = opts.out ?? path.dirname(file);
  const { reportFile } = writeReport(dir, results);
  note(`wrote ${reportFile}`);
}

// ------------------------------------------------------------------ embed and retrieve (two-tower models)

export async function cmdEmbed(opts: Record<string, unknown>, cmd: Command): Promise<void> {
  const { FusionModel, embedDataset, writeEmbeddings } = await backend(cmd);
  const fm = await FusionModel.load(opts.model as string);
  const e = await embedDataset(fm, opts.dataset as string, opts.modality as string, opts.split as SplitName | undefined);
  fm.dispose();
  writeEmbeddings(opts.out as string, e);
  note(`wrote ${e.n} "${opts.modality as string}" embeddings of width ${e.dim} (${e.dataset}, ${e.split}) to ${opts.out as string}`);
}

export async function cmdRetrieve(opts: Record<string, unknown>, cmd: Command): Promise<void> {
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
