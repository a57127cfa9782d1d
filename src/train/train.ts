/**
 * The training loop shared by every method: seeded shuffling, batching, Adam on the
 * method's objective (its loss terms: the task loss, auxiliary heads, reconstructions,
 * pair losses; ./objective.ts) or the method's own step with several optimisers,
 * validation after each epoch with the task's metrics, early stopping with the best weights
 * restored, checkpoints in the model-folder format with every optimiser's state, and
 * resumption from them. Training settings: library defaults < the method's own
 * (`MethodEntry.training`) < the caller's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf } from '../backend/index.js';
import type { Dataset, SplitData } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import { validateDataset } from '../data/validate.js';
import { checkDataFitsModel } from '../models/fit_check.js';
import type { Metrics } from '../tasks/metrics.js';
import { FusionModel } from '../models/fusion_model.js';
import { getMethod, type CustomStep, type TrainingDefaults } from '../registry/index.js';
import { Rng } from '../util/rng.js';
import type { RegressionLoss } from './losses.js';
import { modalityDropoutMasks, checkModalityDropout } from './modality_dropout.js';
import { objectiveLoss } from './objective.js';
import { encodeOptimizer, optimizerFile, writeResumeFiles, type EncodedOptimizer } from './resume_files.js';

export interface TrainOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /** Epochs without improvement of the validation metric before stopping; 0 disables. */
  patience?: number;
  regressionLoss?: RegressionLoss;
  /** The task loss's variant (regression: mse | l1); `regressionLoss` is its older name. */
  loss?: string;
  /** Write checkpoints here: the best model as a model folder, and `resume/` for the last epoch. */
  checkpointDir?: string;
  /** Continue from `checkpointDir/resume` when it exists. */
  resume?: boolean;
  /** Called after each epoch with its record. */
  onEpoch?: (record: EpochRecord) => void;
  /** Progress lines (stderr in the CLI). */
  log?: (line: string) => void;
  /** Add acc2/acc7 to regression metrics (sentiment scores on -3..3). */
  sentiment?: boolean;
  /** Probability per sample and modality of zeroing its preprocessed input while training (never all at once); see ./modality_dropout.ts. */
  modalityDropout?: number;
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  /** Named losses of a custom step that reports several (e.g. GAN: task, generator, discriminator), mean per batch. */
  losses?: Record<string, number>;
  valid?: Metrics;
  seconds: number;
}

export interface TrainResult {
  history: EpochRecord[];
  bestEpoch: number;
  epochsRun: number;
  stoppedEarly: boolean;
  trainSeconds: number;
  trainSamplesPerSec: number;
  /** The training settings used (library defaults < the method's own < the caller's). */
  settings: { epochs: number; batchSize: number; lr: number; patience: number; loss?: string };
}

export const TRAIN_DEFAULTS = { epochs: 30, batchSize: 64, lr: 1e-3, seed: 1, patience: 5 };

/** The training settings a run uses: library defaults < the method's own < `opts` (undefined values ignored). */
export function trainingSettings(method: string, opts: TrainOptions = {}, base: { epochs: number; batchSize: number; lr: number; patience: number } = TRAIN_DEFAULTS): Required<Pick<TrainOptions, 'epochs' | 'batchSize' | 'lr' | 'seed' | 'patience'>> & { loss?: string } {
  const own: TrainingDefaults = getMethod(method).training ?? {};
  const given = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) as TrainOptions;
  const loss = given.loss ?? given.regressionLoss ?? own.loss;
  return {
    epochs: given.epochs ?? own.epochs ?? base.epochs,
    batchSize: given.batchSize ?? own.batchSize ?? base.batchSize,
    lr: given.lr ?? own.lr ?? base.lr,
    seed: given.seed ?? TRAIN_DEFAULTS.seed,
    patience: given.patience ?? own.patience ?? base.patience,
    ...(loss !== undefined ? { loss } : {}),
  };
}

function methodLoss(method: string): string | undefined {
  try {
    return getMethod(method).training?.loss;
  } catch {
    return undefined;
  }
}

interface ResumeState {
  schemaVersion: 1;
  epoch: number;
  history: EpochRecord[];
  bestEpoch: number;
  bestScore: number | null;
  sinceBest: number;
  trainSeconds: number;
  samplesSeen: number;
  /** Batches stepped so far (custom steps alternate on it). */
  steps?: number;
  options: { epochs: number; batchSize: number; lr: number; seed: number; patience: number };
}

async function loadOptimizer(opt: tf.Optimizer, dir: string, name = 'main'): Promise<void> {
  const specs = JSON.parse(fs.readFileSync(path.join(dir, `${optimizerFile(name)}.json`), 'utf8'));
  const buf = fs.readFileSync(path.join(dir, `${optimizerFile(name)}.bin`));
  const map = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer, specs);
  await opt.setWeights(specs.map((s: { name: string }) => ({ name: s.name, tensor: map[s.name] })));
}

/**
 * The data must be valid (shapes, labels, no NaN/Inf) and match the model's modalities and
 * task; errors name the modality and the shapes expected and found.
 */
export function checkTrainingData(fm: FusionModel, data: Dataset): void {
  validateDataset(data);
  checkDataFitsModel(fm, data, `data set "${data.name}"`);
}

/**
 * Train `fm` on `data` (train split; valid split for early stopping when present).
 * Fits the preprocessing on the training split unless resuming.
 */
/** The optimisers of a run and the variables each updates. */
interface Optimizers {
  step?: CustomStep;
  optimizers: Record<string, tf.Optimizer>;
  vars: Record<string, tf.Variable[]>;
}

function makeOptimizers(fm: FusionModel, lr: number): Optimizers {
  const all = fm.model.trainableWeights;
  const entry = getMethod(fm.meta.method, fm.spec);
  if (!entry.customStep) return { optimizers: { main: tf.train.adam(lr) }, vars: { main: all.map((w) => w.read() as tf.Variable) } };
  const step = entry.customStep({ model: fm.model, options: fm.meta.options, task: fm.task, objective: fm.meta.objective });
  const optimizers: Record<string, tf.Optimizer> = {};
  const vars: Record<string, tf.Variable[]> = {};
  for (const [name, o] of Object.entries(step.optimizers)) {
    optimizers[name] = tf.train.adam(lr * (o.lr ?? 1));
    vars[name] = all.filter((w) => o.weights(w.name)).map((w) => w.read() as tf.Variable);
    if (vars[name].length === 0) throw new Error(`method ${entry.name}: optimiser "${name}" selects no weight`);
  }
  return { step, optimizers, vars };
}

/**
 * Train `fm` on `data` (train split; valid split for early stopping when present).
 * Fits the preprocessing on the training split unless resuming.
 */
export async function train(fm: FusionModel, data: Dataset, opts: TrainOptions = {}): Promise<TrainResult> {
  const o = { ...opts, ...trainingSettings(fm.meta.method, opts) };
  const trainSplit = data.splits.train;
  if (!trainSplit || trainSplit.n === 0) throw new ModalfuseError('the data set has no training samples', { expected: 'a non-empty train split', found: Object.keys(data.splits) });
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new ModalfuseError('bad number of epochs', { expected: 'integer >= 1', found: o.epochs });
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new ModalfuseError('bad batch size', { expected: 'integer >= 1', found: o.batchSize });
  if (!(o.lr > 0)) throw new ModalfuseError('bad learning rate', { expected: 'number > 0', found: o.lr });
  checkTrainingData(fm, data);
  if (o.modalityDropout !== undefined) checkModalityDropout(o.modalityDropout);
  const validSplit: SplitData | undefined = data.splits.valid && data.splits.valid.n > 0 ? data.splits.valid : undefined;
  const task = fm.task;
  // a method's own loss default (e.g. mfn's l1 for regression) applies only where the task has it
  const ownLoss = methodLoss(fm.meta.method);
  if (o.loss !== undefined && o.loss === ownLoss && (opts.loss ?? opts.regressionLoss ?? ownLoss) === ownLoss && !task.losses.includes(o.loss)) delete (o as { loss?: string }).loss;
  if (o.loss !== undefined && task.kind !== 'retrieval' && !task.losses.includes(o.loss)) {
    throw new ModalfuseError(`bad loss for a ${task.kind} task`, { expected: task.losses, found: o.loss });
  }
  const { key, higherIsBetter } = task.primary;
  const log = o.log ?? (() => {});

  const opt = makeOptimizers(fm, o.lr);
  let state: ResumeState = {
    schemaVersion: 1,
    epoch: 0,
    history: [],
    bestEpoch: 0,
    bestScore: null,
    sinceBest: 0,
    trainSeconds: 0,
    samplesSeen: 0,
    steps: 0,
    options: { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, seed: o.seed, patience: o.patience },
  };
  const resumeDir = o.checkpointDir ? path.join(o.checkpointDir, 'resume') : undefined;
  let bestWeights: tf.Tensor[] | null = null;
  if (o.resume && resumeDir && fs.existsSync(path.join(resumeDir, 'state.json'))) {
    state = JSON.parse(fs.readFileSync(path.join(resumeDir, 'state.json'), 'utf8')) as ResumeState;
    const last = await FusionModel.load(resumeDir);
    fm.model.setWeights(last.model.getWeights());
    fm.meta.preprocessing = last.meta.preprocessing;
    last.dispose();
    for (const name of Object.keys(opt.optimizers)) await loadOptimizer(opt.optimizers[name], resumeDir, name);
    if (fs.existsSync(path.join(o.checkpointDir!, 'model.json'))) {
      const best = await FusionModel.load(o.checkpointDir!);
      bestWeights = best.model.getWeights().map((w) => tf.keep(w.clone()));
      best.dispose();
    }
    log(`resuming after epoch ${state.epoch}`);
  } else {
    fm.fitPreprocessing(trainSplit);
  }
  state.steps ??= 0;

  const pre = fm.preprocess(trainSplit.features, [], trainSplit.lengths);
  const preValid = validSplit ? fm.preprocess(validSplit.features, [], validSplit.lengths) : undefined;
  const inputModalities = fm.inputModalities;
  const allModalities = Object.keys(fm.meta.modalities).sort();
  const objective = fm.meta.objective;
  const n = trainSplit.n;
  let stoppedEarly = false;

  /** The batch's input tensors, modality dropout applied (zeroed inputs, and 0 in the presence mask). */
  const batchInputs = (idx: Int32Array, dropRng: Rng): tf.Tensor[] => {
    const p = o.modalityDropout ?? 0;
    if (p <= 0 || inputModalities.length < 2) return fm.batchTensors(pre, idx);
    const masks = modalityDropoutMasks(idx.length, inputModalities.length, p, dropRng);
    let presence: Float32Array | undefined;
    if (fm.meta.presence) {
      presence = fm.presenceMask(idx.length);
      inputModalities.forEach((m, j) => {
        const col = allModalities.indexOf(m);
        for (let i = 0; i < idx.length; i++) presence![i * allModalities.length + col] = masks[j][i];
      });
    }
    const xs = fm.batchTensors(pre, idx, presence);
    return xs.map((x, j) => (j < inputModalities.length ? tf.mul(x, tf.tensor(masks[j], [idx.length, ...x.shape.slice(1).map(() => 1)])) : x));
  };

  for (let epoch = state.epoch + 1; epoch <= o.epochs; epoch++) {
    const t0 = performance.now();
    const perm = new Rng(o.seed * 100003 + epoch).permutation(n);
    const dropRng = new Rng(o.seed * 100003 + epoch + 0x6d64); // modality dropout masks
    let lossSum = 0;
    let batches = 0;
    let named: Record<string, number> | undefined;
    for (let s = 0; s < n; s += o.batchSize) {
      const idx = perm.subarray(s, Math.min(n, s + o.batchSize));
      if (opt.step) {
        const step = opt.step;
        const value = tf.tidy(() => {
          const xs = batchInputs(idx, dropRng);
          const y = task.labelBatch(trainSplit.labels, idx);
          return step.step({ inputs: xs, labels: y, step: state.steps!, forward: (training) => fm.forwardNamed(xs, training) }, opt.optimizers, opt.vars);
        });
        if (typeof value === 'number') lossSum += value;
        else {
          lossSum += value.loss;
          named ??= {};
          for (const [k, v] of Object.entries(value)) named[k] = (named[k] ?? 0) + v;
        }
      } else {
        const cost: tf.Scalar = tf.tidy(() => {
          const xs = batchInputs(idx, dropRng);
          const y = task.labelBatch(trainSplit.labels, idx);
          const inputs = Object.fromEntries(inputModalities.map((m, j) => [m, xs[j]]));
          return opt.optimizers.main.minimize(
            () => objectiveLoss(objective, task, { outputs: fm.forwardNamed(xs, true), labels: y, inputs, step: state.steps }, { loss: o.loss }),
            true,
            opt.vars.main,
          ) as tf.Scalar;
        });
        lossSum += cost.dataSync()[0];
        cost.dispose();
      }
      state.steps!++;
      batches++;
    }
    const trainTime = (performance.now() - t0) / 1000;
    state.trainSeconds += trainTime;
    state.samplesSeen += n;
    const loss = lossSum / batches;
    if (!Number.isFinite(loss)) throw new ModalfuseError('training diverged (loss is not finite); lower the learning rate', { expected: 'finite loss', found: loss });
    const record: EpochRecord = { epoch, loss, seconds: trainTime };
    if (named) record.losses = Object.fromEntries(Object.entries(named).map(([k, v]) => [k, v / batches]));
    let improved = true;
    if (validSplit && preValid) {
      const outs = fm.outputsPreprocessed(preValid, validSplit.n, { names: task.reads });
      const valid = task.evaluate(outs, validSplit.labels, { sentiment: o.sentiment }).metrics;
      record.valid = valid;
      const score = valid[key];
      improved = state.bestScore === null || (higherIsBetter ? score > state.bestScore : score < state.bestScore);
      if (improved) state.bestScore = score;
    }
    if (improved) {
      state.bestEpoch = epoch;
      state.sinceBest = 0;
      bestWeights?.forEach((w) => w.dispose());
      bestWeights = fm.model.getWeights().map((w) => tf.keep(w.clone()));
    } else {
      state.sinceBest++;
    }
    state.epoch = epoch;
    state.history.push(record);
    log(
      `epoch ${epoch}/${o.epochs} loss ${loss.toFixed(4)}` +
        (record.valid ? ` valid ${key} ${record.valid[key].toFixed(4)}` : '') +
        ` ${trainTime.toFixed(1)}s`,
    );
    o.onEpoch?.(record);
    if (o.checkpointDir) {
      if (improved) await fm.save(o.checkpointDir, { history: state.history });
      const encoded: Record<string, EncodedOptimizer> = {};
      for (const [name, optimizer] of Object.entries(opt.optimizers)) encoded[name] = await encodeOptimizer(optimizer);
      await fm.save(resumeDir!, { history: state.history }, { prepare: (tmp) => writeResumeFiles(tmp, encoded, state) });
    }
    if (o.patience > 0 && state.sinceBest >= o.patience) {
      stoppedEarly = true;
      log(`early stop: no improvement of valid ${key} for ${o.patience} epochs (best epoch ${state.bestEpoch})`);
      break;
    }
  }
  if (bestWeights) {
    fm.model.setWeights(bestWeights);
    bestWeights.forEach((w) => w.dispose());
  }
  Object.values(opt.optimizers).forEach((x) => x.dispose());
  fm.meta.history = state.history;
  return {
    history: state.history,
    bestEpoch: state.bestEpoch,
    epochsRun: state.epoch,
    stoppedEarly,
    trainSeconds: state.trainSeconds,
    trainSamplesPerSec: state.trainSeconds > 0 ? state.samplesSeen / state.trainSeconds : 0,
    settings: { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, patience: o.patience, ...(o.loss !== undefined ? { loss: o.loss } : {}) },
  };
}
