/**
 * The training loop shared by every method: seeded shuffling, Adam, the task loss on the
 * main output plus the weighted mean loss of auxiliary outputs (per-modality heads of
 * late and hybrid fusion), validation after each epoch, early stopping with the best
 * weights restored, checkpoints in the model-folder format and resumption from them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf } from '../backend/index.js';
import type { Dataset, SplitData } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import { validateDataset } from '../data/validate.js';
import { checkDataFitsModel } from '../eval/predict.js';
import { computeMetrics, primaryMetric, type Metrics } from '../eval/metrics.js';
import { FusionModel } from '../models/fusion_model.js';
import { Rng } from '../util/rng.js';
import { taskLoss, type RegressionLoss } from './losses.js';
import { applyModalityDropout, checkModalityDropout } from './modality_dropout.js';
import { encodeOptimizer, writeResumeFiles } from './resume_files.js';

export interface TrainOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  /** Epochs without improvement of the validation metric before stopping; 0 disables. */
  patience?: number;
  regressionLoss?: RegressionLoss;
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
}

export const TRAIN_DEFAULTS = { epochs: 30, batchSize: 64, lr: 1e-3, seed: 1, patience: 5 };

interface ResumeState {
  schemaVersion: 1;
  epoch: number;
  history: EpochRecord[];
  bestEpoch: number;
  bestScore: number | null;
  sinceBest: number;
  trainSeconds: number;
  samplesSeen: number;
  options: { epochs: number; batchSize: number; lr: number; seed: number; patience: number };
}

function labelTensor(labels: Int32Array | Float32Array, idx: ArrayLike<number>, width: number, classification: boolean): tf.Tensor {
  if (classification) {
    const out = new Int32Array(idx.length);
    for (let i = 0; i < idx.length; i++) out[i] = labels[idx[i]];
    return tf.tensor1d(out, 'int32');
  }
  const out = new Float32Array(idx.length * width);
  for (let i = 0; i < idx.length; i++) out.set(labels.subarray(idx[i] * width, (idx[i] + 1) * width), i * width);
  return tf.tensor2d(out, [idx.length, width]);
}

async function loadOptimizer(opt: tf.Optimizer, dir: string): Promise<void> {
  const specs = JSON.parse(fs.readFileSync(path.join(dir, 'optimizer.json'), 'utf8'));
  const buf = fs.readFileSync(path.join(dir, 'optimizer.bin'));
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
export async function train(fm: FusionModel, data: Dataset, opts: TrainOptions = {}): Promise<TrainResult> {
  const o = { ...TRAIN_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as Required<
    Pick<TrainOptions, 'epochs' | 'batchSize' | 'lr' | 'seed' | 'patience'>
  > &
    TrainOptions;
  const trainSplit = data.splits.train;
  if (!trainSplit || trainSplit.n === 0) throw new ModalfuseError('the data set has no training samples', { expected: 'a non-empty train split', found: Object.keys(data.splits) });
  if (!Number.isInteger(o.epochs) || o.epochs < 1) throw new ModalfuseError('bad number of epochs', { expected: 'integer >= 1', found: o.epochs });
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new ModalfuseError('bad batch size', { expected: 'integer >= 1', found: o.batchSize });
  if (!(o.lr > 0)) throw new ModalfuseError('bad learning rate', { expected: 'number > 0', found: o.lr });
  checkTrainingData(fm, data);
  if (o.modalityDropout !== undefined) checkModalityDropout(o.modalityDropout);
  const validSplit: SplitData | undefined = data.splits.valid && data.splits.valid.n > 0 ? data.splits.valid : undefined;
  const task = fm.meta.task;
  const classification = task.kind === 'classification';
  const width = fm.outWidth;
  const { key, higherIsBetter } = primaryMetric(task);
  const log = o.log ?? (() => {});

  const optimizer = tf.train.adam(o.lr);
  let state: ResumeState = {
    schemaVersion: 1,
    epoch: 0,
    history: [],
    bestEpoch: 0,
    bestScore: null,
    sinceBest: 0,
    trainSeconds: 0,
    samplesSeen: 0,
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
    await loadOptimizer(optimizer, resumeDir);
    if (fs.existsSync(path.join(o.checkpointDir!, 'model.json'))) {
      const best = await FusionModel.load(o.checkpointDir!);
      bestWeights = best.model.getWeights().map((w) => tf.keep(w.clone()));
      best.dispose();
    }
    log(`resuming after epoch ${state.epoch}`);
  } else {
    fm.fitPreprocessing(trainSplit);
  }

  const pre = fm.preprocess(trainSplit.features);
  const preValid = validSplit ? fm.preprocess(validSplit.features) : undefined;
  const vars = fm.model.trainableWeights.map((w) => w.read() as tf.Variable);
  const auxCount = fm.meta.auxNames.length;
  const trainMain = fm.meta.trainMain;
  const auxWeight = fm.meta.auxWeight;
  const n = trainSplit.n;
  let stoppedEarly = false;

  for (let epoch = state.epoch + 1; epoch <= o.epochs; epoch++) {
    const t0 = performance.now();
    const perm = new Rng(o.seed * 100003 + epoch).permutation(n);
    const dropRng = new Rng(o.seed * 100003 + epoch + 0x6d64); // modality dropout masks
    let lossSum = 0;
    let batches = 0;
    for (let s = 0; s < n; s += o.batchSize) {
      const idx = perm.subarray(s, Math.min(n, s + o.batchSize));
      const cost: tf.Scalar = tf.tidy(() => {
        const xs = applyModalityDropout(fm.batchTensors(pre, idx), o.modalityDropout ?? 0, dropRng);
        const y = labelTensor(trainSplit.labels, idx, width, classification);
        return optimizer.minimize(
          () => {
            const outs = fm.forward(xs, true);
            let loss: tf.Scalar = trainMain ? taskLoss(task, outs[0], y, o.regressionLoss) : tf.scalar(0);
            if (auxCount > 0 && auxWeight > 0) {
              const aux = outs.slice(1).map((a) => taskLoss(task, a, y, o.regressionLoss));
              loss = tf.add(loss, tf.mul(auxWeight / auxCount, tf.addN(aux))) as tf.Scalar;
            }
            return loss;
          },
          true,
          vars,
        ) as tf.Scalar;
      });
      lossSum += cost.dataSync()[0];
      cost.dispose();
      batches++;
    }
    const trainTime = (performance.now() - t0) / 1000;
    state.trainSeconds += trainTime;
    state.samplesSeen += n;
    const loss = lossSum / batches;
    if (!Number.isFinite(loss)) throw new ModalfuseError('training diverged (loss is not finite); lower the learning rate', { expected: 'finite loss', found: loss });
    const record: EpochRecord = { epoch, loss, seconds: trainTime };
    let improved = true;
    if (validSplit && preValid) {
      const raw = fm.predictPreprocessed(preValid, validSplit.n);
      record.valid = computeMetrics(task, raw, validSplit.labels, { sentiment: o.sentiment }).metrics;
      const score = record.valid[key];
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
      const opt = await encodeOptimizer(optimizer);
      await fm.save(resumeDir!, { history: state.history }, { prepare: (tmp) => writeResumeFiles(tmp, opt, state) });
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
  optimizer.dispose();
  fm.meta.history = state.history;
  return {
    history: state.history,
    bestEpoch: state.bestEpoch,
    epochsRun: state.epoch,
    stoppedEarly,
    trainSeconds: state.trainSeconds,
    trainSamplesPerSec: state.trainSeconds > 0 ? state.samplesSeen / state.trainSeconds : 0,
  };
}
