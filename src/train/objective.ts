/**
 * Turns a method's loss terms (src/tasks/objective.ts) into one scalar for a batch.
 * Terms are added in their order; the terms of one group are added first and then
 * weighted (w * (l1 + l2 + ...)), so that the auxiliary heads of late fusion are weighted
 * as one set.
 */
import { tf } from '../backend/index.js';
import { ModalfuseError } from '../errors.js';
import type { LossTerm, Task, TaskSpec } from '../tasks/index.js';
import { negativesRng, sampleNegatives } from './negatives.js';

export interface ObjectiveBatch {
  /** The model's outputs by name. */
  outputs: Record<string, tf.Tensor>;
  /** The task's label tensor of the batch. */
  labels: tf.Tensor;
  /** Preprocessed inputs by modality (reconstruction targets). */
  inputs: Record<string, tf.Tensor>;
  /** Training steps taken before this batch (seeds the negative sampler of `pair-softmax` with `negatives: K`). */
  step?: number;
}

export interface ObjectiveOptions {
  /** The task loss's variant (regression: mse | l1). */
  loss?: string;
}

function l2normalize(x: tf.Tensor): tf.Tensor {
  return tf.div(x, tf.maximum(tf.norm(x, 'euclidean', -1, true), 1e-12));
}

/**
 * In-batch softmax over scaled cosine similarities: row i of `a` against every row of `b`,
 * the positive being row i. Same-label rows other than i are masked out (not negatives)
 * when `labels` is given. `symmetric` adds the b -> a direction and averages.
 */
export function pairSoftmaxLoss(a: tf.Tensor, b: tf.Tensor, gamma: number | tf.Tensor, labels?: tf.Tensor, symmetric = true): tf.Scalar {
  return tf.tidy(() => {
    const n = a.shape[0]!;
    const sims = tf.mul(gamma, tf.matMul(l2normalize(a), l2normalize(b), false, true));
    const eye = tf.eye(n);
    let logits = sims;
    if (labels) {
      const l = tf.cast(labels, 'float32');
      const same = tf.cast(tf.equal(tf.expandDims(l, 1), tf.expandDims(l, 0)), 'float32');
      const notNegative = tf.sub(same, eye); // same label, other row
      logits = tf.sub(sims, tf.mul(notNegative, 1e9));
    }
    const dir = (z: tf.Tensor) => tf.neg(tf.mean(tf.sum(tf.mul(eye, tf.logSoftmax(z)), -1)));
    const loss = symmetric ? tf.mul(0.5, tf.add(dir(logits), dir(tf.transpose(logits)))) : dir(logits);
    return loss as tf.Scalar;
  });
}

/**
 * Softmax over one positive and K sampled negatives (DSSM): row i of `a` against row i of
 * `b` (the positive) and the rows `negatives[i * k .. i * k + k)` of `b` (-1: none, masked),
 * similarities being cosines scaled by `gamma`. `negativesT`, when given, are the negatives
 * of the b -> a direction, and the two directions are averaged.
 */
export function sampledSoftmaxLoss(a: tf.Tensor, b: tf.Tensor, gamma: number | tf.Tensor, k: number, negatives: Int32Array, negativesT?: Int32Array): tf.Scalar {
  return tf.tidy(() => {
    const n = a.shape[0]!;
    const sims = tf.mul(gamma, tf.matMul(l2normalize(a), l2normalize(b), false, true));
    const dir = (z: tf.Tensor, neg: Int32Array) => {
      const pos = tf.reshape(tf.sum(tf.mul(tf.eye(n), z), -1), [n, 1]);
      const flatIdx = Int32Array.from(neg, (j, t) => Math.floor(t / k) * n + Math.max(j, 0));
      const masked = Float32Array.from(neg, (j) => (j < 0 ? 1e9 : 0));
      const negs = tf.sub(tf.reshape(tf.gather(tf.reshape(z, [n * n]), tf.tensor1d(flatIdx, 'int32')), [n, k]), tf.tensor2d(masked, [n, k]));
      const logp = tf.logSoftmax(tf.concat([pos, negs], 1));
      return tf.neg(tf.mean(tf.slice(logp, [0, 0], [n, 1])));
    };
    const loss = negativesT ? tf.mul(0.5, tf.add(dir(sims, negatives), dir(tf.transpose(sims), negativesT))) : dir(sims, negatives);
    return loss as tf.Scalar;
  });
}

function sigmoidCrossEntropy(raw: tf.Tensor, z: tf.Tensor): tf.Tensor {
  return tf.mean(tf.add(tf.sub(tf.relu(raw), tf.mul(raw, z)), tf.log1p(tf.exp(tf.neg(tf.abs(raw))))));
}

function termLoss(t: LossTerm, task: Task, spec: TaskSpec, b: ObjectiveBatch, opts: ObjectiveOptions): tf.Scalar {
  const out = b.outputs[t.output];
  if (!out) throw new ModalfuseError(`loss term reads output "${t.output}", which the model does not return`, { expected: Object.keys(b.outputs), found: t.output });
  let target: tf.Tensor | undefined;
  if (t.target === 'label') target = b.labels;
  else if (typeof t.target === 'object' && 'input' in t.target) target = b.inputs[t.target.input];
  else if (typeof t.target === 'object' && 'output' in t.target) target = b.outputs[t.target.output];
  if (t.target !== 'none' && !target) throw new ModalfuseError(`loss term of output "${t.output}" has no target`, { expected: JSON.stringify(t.target), found: 'nothing' });
  const flat = (x: tf.Tensor) => (x.rank > 2 ? tf.reshape(x, [x.shape[0]!, -1]) : x);
  switch (t.loss) {
    case 'task':
      return task.loss(out, target!, opts.loss);
    case 'mse':
      return tf.mean(tf.square(tf.sub(flat(out), flat(target!)))) as tf.Scalar;
    case 'l1':
      return tf.mean(tf.abs(tf.sub(flat(out), flat(target!)))) as tf.Scalar;
    case 'bce':
      return sigmoidCrossEntropy(out, target!) as tf.Scalar;
    case 'l2':
      return tf.mean(tf.square(out)) as tf.Scalar;
    case 'pair-softmax': {
      const gamma = pairGamma(t, b);
      const byLabel = (spec.kind === 'retrieval' && spec.relevance === 'label') || t.params?.maskSameLabel === true;
      const symmetric = t.params?.symmetric !== false;
      const k = t.params?.negatives;
      if (typeof k === 'number') {
        // K sampled negatives: never the row itself, never a same-label row when relevance is by label
        const n = out.shape[0]!;
        const labels = byLabel ? b.labels.dataSync() : null;
        const rng = negativesRng(typeof t.params?.seed === 'number' ? t.params.seed : 0, b.step ?? 0);
        const neg = sampleNegatives(n, k, labels, rng);
        return sampledSoftmaxLoss(out, target!, gamma, k, neg, symmetric ? sampleNegatives(n, k, labels, rng) : undefined);
      }
      return pairSoftmaxLoss(out, target!, gamma, byLabel ? b.labels : undefined, symmetric);
    }
  }
}

/** A pair term's scale: the fixed `gamma` (default 10), or the mean of the output named by `gammaOutput` (a learned scale). */
function pairGamma(t: LossTerm, b: ObjectiveBatch): number | tf.Tensor {
  const from = t.params?.gammaOutput;
  if (typeof from === 'string') {
    const g = b.outputs[from];
    if (!g) throw new ModalfuseError(`loss term of output "${t.output}" reads its scale from output "${from}", which the model does not return`, { expected: Object.keys(b.outputs), found: from });
    return tf.mean(g);
  }
  return typeof t.params?.gamma === 'number' ? t.params.gamma : 10;
}

/** The weighted sum of the terms on one batch (call inside a gradient scope). */
export function objectiveLoss(terms: LossTerm[], task: Task, b: ObjectiveBatch, opts: ObjectiveOptions = {}): tf.Scalar {
  const groups: { weight: number; losses: tf.Scalar[] }[] = [];
  const byName = new Map<string, { weight: number; losses: tf.Scalar[] }>();
  for (const t of terms) {
    if (!(t.weight > 0)) continue;
    const l = termLoss(t, task, task.spec, b, opts);
    const g = t.group !== undefined ? byName.get(t.group) : undefined;
    if (g) {
      g.losses.push(l);
      continue;
    }
    const ng = { weight: t.weight, losses: [l] };
    groups.push(ng);
    if (t.group !== undefined) byName.set(t.group, ng);
  }
  if (groups.length === 0) throw new ModalfuseError('the objective has no loss term to train', { expected: 'at least one term of weight > 0', found: terms.length });
  let total: tf.Scalar | undefined;
  for (const g of groups) {
    const sum = g.losses.length === 1 ? g.losses[0] : (tf.addN(g.losses) as tf.Scalar);
    const v = g.weight === 1 ? sum : (tf.mul(g.weight, sum) as tf.Scalar);
    total = total ? (tf.add(total, v) as tf.Scalar) : v;
  }
  return total!;
}
