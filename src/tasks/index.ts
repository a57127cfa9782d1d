/**
 * Tasks: what a data set asks for and how a model's outputs are scored. A `Task` owns its
 * label layout, the output transform (logits -> probabilities or values), its metrics and
 * the metric model selection watches, its default loss and its default objective. The
 * kinds: classification, regression, multi-label and retrieval.
 */
import { tf } from '../backend/index.js';
import { ModalfuseError } from '../errors.js';
import { classificationMetrics, multilabelMetrics, regressionMetrics, regressionPerTarget, type EvalResult, type Metrics, type RegressionMetricOptions } from './metrics.js';
import type { LossTerm } from './objective.js';
import { retrievalMetrics, reverseKeys } from './retrieval_metrics.js';
import { taskWidth, type TaskKind, type TaskSpec } from './spec.js';

export * from './spec.js';
export * from './objective.js';
export { retrievalMetrics, reverseKeys, RECALL_KS, type RetrievalInput } from './retrieval_metrics.js';
export type { EvalResult, Metrics } from './metrics.js';

/** Model outputs as flat arrays, by output name, with their widths. */
export interface OutputArrays {
  values: Record<string, Float32Array>;
  widths: Record<string, number>;
}

export interface TaskMetricOptions extends RegressionMetricOptions {
  /** Retrieval: also rank the other way round (gallery items as queries), under `reverse*` keys. */
  reverse?: boolean;
}

export interface Task {
  readonly kind: TaskKind;
  readonly spec: TaskSpec;
  /** Width of the prediction output (classes, targets, labels); retrieval: 0 (embeddings have the method's width). */
  readonly outWidth: number;
  /** Labels: 'int32' class indices, one per sample, or 'float32' rows of `labelWidth`. */
  readonly labelType: 'int32' | 'float32';
  readonly labelWidth: number;
  /** The outputs its metrics read. */
  readonly reads: string[];
  /** Metric model selection and early stopping watch. */
  readonly primary: { key: string; higherIsBetter: boolean };
  /** Loss variants the training option `loss` may pick (first is the default). */
  readonly losses: string[];
  /** Tensor of the labels of samples `idx`. */
  labelBatch(labels: Int32Array | Float32Array, idx: ArrayLike<number>): tf.Tensor;
  /** Mean loss over a batch of raw outputs against `labelBatch` targets. */
  loss(raw: tf.Tensor, y: tf.Tensor, variant?: string): tf.Scalar;
  /** Raw prediction output -> probabilities (classification, multi-label) or values. */
  transform(raw: Float32Array): Float32Array;
  /** Metrics of a split's outputs against its labels. */
  evaluate(out: OutputArrays, labels: Int32Array | Float32Array, opts?: TaskMetricOptions): EvalResult;
  /** The objective of a method that only predicts: the task loss on `main`. */
  defaultObjective(): LossTerm[];
}

function classBatch(labels: Int32Array | Float32Array, idx: ArrayLike<number>): tf.Tensor {
  const out = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = labels[idx[i]];
  return tf.tensor1d(out, 'int32');
}

function rowBatch(labels: Int32Array | Float32Array, idx: ArrayLike<number>, width: number): tf.Tensor {
  const out = new Float32Array(idx.length * width);
  for (let i = 0; i < idx.length; i++) out.set(labels.subarray(idx[i] * width, (idx[i] + 1) * width), i * width);
  return tf.tensor2d(out, [idx.length, width]);
}

/** Row-wise softmax of a row-major [n, k] array. */
export function softmaxRows(raw: Float32Array, k: number): Float32Array {
  const out = new Float32Array(raw.length);
  for (let r = 0; r < raw.length; r += k) {
    let mx = -Infinity;
    for (let j = 0; j < k; j++) mx = Math.max(mx, raw[r + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += out[r + j] = Math.exp(raw[r + j] - mx);
    for (let j = 0; j < k; j++) out[r + j] /= s;
  }
  return out;
}

function needOutput(out: OutputArrays, name: string): Float32Array {
  const v = out.values[name];
  if (!v) throw new ModalfuseError(`the model has no output "${name}" that the task reads`, { expected: name, found: Object.keys(out.values) });
  return v;
}

/** Element-wise logistic function. */
export function sigmoidValues(raw: Float32Array): Float32Array {
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = 1 / (1 + Math.exp(-raw[i]));
  return out;
}

const MAIN = ['main'];
const predictObjective = (): LossTerm[] => [{ output: 'main', target: 'label', loss: 'task', weight: 1 }];

function classification(spec: Extract<TaskSpec, { kind: 'classification' }>): Task {
  const k = spec.classes.length;
  return {
    kind: 'classification',
    spec,
    outWidth: k,
    labelType: 'int32',
    labelWidth: 1,
    reads: MAIN,
    primary: { key: 'accuracy', higherIsBetter: true },
    losses: ['cross-entropy'],
    labelBatch: classBatch,
    loss(raw, y) {
      if (k < 2) throw new ModalfuseError('classification needs at least two classes', { expected: '>= 2 classes', found: spec.classes });
      return tf.tidy(() => {
        const oh = tf.oneHot(tf.cast(y, 'int32'), k);
        return tf.neg(tf.mean(tf.sum(tf.mul(oh, tf.logSoftmax(raw)), -1))) as tf.Scalar;
      });
    },
    transform: (raw) => softmaxRows(raw, k),
    evaluate: (out, labels) => classificationMetrics(needOutput(out, 'main'), labels, k),
    defaultObjective: predictObjective,
  };
}

function regression(spec: Extract<TaskSpec, { kind: 'regression' }>): Task {
  const k = spec.targets.length;
  return {
    kind: 'regression',
    spec,
    outWidth: k,
    labelType: 'float32',
    labelWidth: k,
    reads: MAIN,
    primary: { key: 'mae', higherIsBetter: false },
    losses: ['mse', 'l1'],
    labelBatch: (labels, idx) => rowBatch(labels, idx, k),
    loss(raw, y, variant = 'mse') {
      return tf.tidy(() => {
        const d = tf.sub(raw, y);
        return (variant === 'l1' ? tf.mean(tf.abs(d)) : tf.mean(tf.square(d))) as tf.Scalar;
      });
    },
    transform: (raw) => Float32Array.from(raw),
    evaluate: (out, labels, opts = {}) => {
      const raw = needOutput(out, 'main');
      const metrics = regressionMetrics(raw, labels, k, { ...opts, acc2Threshold: spec.acc2Threshold });
      return k > 1 ? { metrics, metricsPerTarget: regressionPerTarget(raw, labels, spec.targets) } : { metrics };
    },
    defaultObjective: predictObjective,
  };
}

function multilabel(spec: Extract<TaskSpec, { kind: 'multilabel' }>): Task {
  const k = spec.labels.length;
  return {
    kind: 'multilabel',
    spec,
    outWidth: k,
    labelType: 'float32',
    labelWidth: k,
    reads: MAIN,
    primary: { key: 'microF1', higherIsBetter: true },
    losses: ['bce'],
    labelBatch: (labels, idx) => rowBatch(labels, idx, k),
    loss(raw, y) {
      // stable: max(x,0) - x*z + log(1 + exp(-|x|))
      return tf.tidy(() => tf.mean(tf.add(tf.sub(tf.relu(raw), tf.mul(raw, y)), tf.log1p(tf.exp(tf.neg(tf.abs(raw)))))) as tf.Scalar);
    },
    transform: sigmoidValues,
    evaluate: (out, labels) => ({ metrics: multilabelMetrics(needOutput(out, 'main'), labels, k) }),
    defaultObjective: predictObjective,
  };
}

function retrieval(spec: Extract<TaskSpec, { kind: 'retrieval' }>): Task {
  return {
    kind: 'retrieval',
    spec,
    outWidth: 0,
    labelType: 'int32',
    labelWidth: 1,
    reads: ['query', 'gallery'],
    primary: { key: 'map', higherIsBetter: true },
    losses: ['pair-softmax'],
    labelBatch: classBatch,
    loss() {
      throw new ModalfuseError('a retrieval task has no loss on one output: use a pair term (pair-softmax) between the query and gallery outputs', { expected: 'pair-softmax', found: 'task' });
    },
    transform: (raw) => Float32Array.from(raw),
    evaluate(out, labels, opts = {}) {
      const q = needOutput(out, 'query');
      const g = needOutput(out, 'gallery');
      const dim = out.widths.query;
      if (out.widths.gallery !== dim) {
        throw new ModalfuseError('query and gallery embeddings differ in width', { expected: dim, found: out.widths.gallery });
      }
      const base = { dim, relevance: spec.relevance, queryLabels: labels, galleryLabels: labels };
      const metrics: Metrics = retrievalMetrics({ ...base, query: q, gallery: g });
      if (opts.reverse) Object.assign(metrics, reverseKeys(retrievalMetrics({ ...base, query: g, gallery: q })));
      return { metrics };
    },
    defaultObjective: () => [{ output: 'query', target: { output: 'gallery' }, loss: 'pair-softmax', weight: 1 }],
  };
}

/** The Task of a task spec. */
export function getTask(spec: TaskSpec): Task {
  switch (spec.kind) {
    case 'classification':
      return classification(spec);
    case 'regression':
      return regression(spec);
    case 'multilabel':
      return multilabel(spec);
    case 'retrieval':
      return retrieval(spec);
  }
}

/** The metric keys a task reports (before any reverse direction). */
export function metricKeys(spec: TaskSpec, opts: TaskMetricOptions = {}): string[] {
  switch (spec.kind) {
    case 'classification':
      return ['accuracy', 'f1'];
    case 'multilabel':
      return ['accuracy', 'f1', 'microF1'];
    case 'regression':
      return ['mae', 'corr', ...(opts.sentiment ? ['acc2', 'acc7'] : spec.acc2Threshold !== undefined ? ['acc2'] : [])];
    case 'retrieval': {
      const keys = ['recallAt1', 'recallAt5', 'recallAt10', 'map', 'mrr'];
      return opts.reverse ? [...keys, ...Object.keys(reverseKeys(Object.fromEntries(keys.map((k) => [k, 0]))))] : keys;
    }
  }
}

/**
 * `retrieval:audio->image`: score a data set whose labels are classes as retrieval between
 * two of its modalities (relevance by label). Returns the retrieval task spec.
 */
export function retrievalTaskFrom(text: string, base: TaskSpec, modalities: string[]): TaskSpec {
  const t = text.trim();
  const parts = t.startsWith('retrieval:') ? t.slice('retrieval:'.length).split('->') : [];
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new ModalfuseError('bad task', { expected: 'retrieval:QUERY->GALLERY, e.g. retrieval:audio->image', found: text });
  const [query, gallery] = parts;
  for (const x of [query, gallery]) {
    if (!modalities.includes(x)) throw new ModalfuseError(`the data has no modality "${x}" for retrieval`, { modality: x, expected: modalities, found: x });
  }
  if (query === gallery) throw new ModalfuseError('retrieval needs two different modalities', { expected: 'QUERY != GALLERY', found: text });
  if (base.kind === 'retrieval') return { ...base, query, gallery };
  if (base.kind !== 'classification') {
    throw new ModalfuseError(`a ${base.kind} data set cannot be scored as retrieval by label`, { expected: 'a classification data set', found: base.kind });
  }
  return { kind: 'retrieval', query, gallery, relevance: 'label', classes: base.classes };
}


/** Metrics of a predicting task's raw `main` output (logits or values) against labels. */
export function computeMetrics(spec: TaskSpec, raw: Float32Array, labels: Int32Array | Float32Array, opts: TaskMetricOptions = {}): EvalResult {
  const t = getTask(spec);
  return t.evaluate({ values: { main: raw }, widths: { main: t.outWidth } }, labels, opts);
}

/** The metric early stopping and model selection watch, and whether higher is better. */
export function primaryMetric(spec: TaskSpec): { key: string; higherIsBetter: boolean } {
  return getTask(spec).primary;
}
