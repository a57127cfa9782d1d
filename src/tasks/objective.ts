/**
 * A method's objective as data: a list of loss terms, each reading one named output of the
 * model and comparing it with a target. Stored in modalfuse.json, so a loaded model can be
 * trained further with the same objective. The trainer (src/train/objective.ts) turns the
 * terms into a scalar loss; an output that no term reads is never trained.
 */

/** What a term compares its output with. */
export type LossTarget =
  /** The sample's label (class index, targets or 0/1 labels), through the task's loss. */
  | 'label'
  /** Nothing: the term is a function of the output alone (e.g. `l2`). */
  | 'none'
  /** A modality's (preprocessed) input: reconstruction. */
  | { input: string }
  /** Another output of the model (e.g. the other tower, for pair losses). */
  | { output: string };

export type LossKind =
  /** The task's own loss (softmax / sigmoid cross-entropy, MSE or L1 by the training option `loss`). */
  | 'task'
  | 'mse'
  | 'l1'
  /** Sigmoid cross-entropy of logits against targets in [0, 1]. */
  | 'bce'
  /** Mean square of the output itself (target 'none'). */
  | 'l2'
  /**
   * Two towers: softmax over cosine similarities scaled by `gamma`, of each row of the output
   * against every row of the target output in the batch (the positive is the same row);
   * with labels, same-label rows are not counted as negatives (DSSM's in-batch softmax).
   * Params: `gamma` (fixed scale, default 10) or `gammaOutput` (name of an output holding a
   * learned scale); `negatives: K` for a softmax over the positive and K negatives sampled
   * from the batch (seeded by `seed` and the training step; never a same-label row when
   * relevance is by label) instead of every other row; `symmetric: false` for query -> gallery only.
   */
  | 'pair-softmax';

export const LOSS_KINDS: LossKind[] = ['task', 'mse', 'l1', 'bce', 'l2', 'pair-softmax'];

export interface LossTerm {
  /** Name of the output the term reads. */
  output: string;
  target: LossTarget;
  loss: LossKind;
  /** Multiplies the term; a term of weight 0 is left out. */
  weight: number;
  /**
   * Terms of one group share their weight and are added before it is applied
   * (w * (l1 + l2 + ...)); the auxiliary heads of late fusion form one group.
   */
  group?: string;
  /** Parameters of the loss (pair-softmax: `gamma`, default 10). */
  params?: Record<string, number | string | boolean>;
}

/** Outputs read by at least one term of weight > 0. */
export function trainedOutputs(terms: LossTerm[]): Set<string> {
  const s = new Set<string>();
  for (const t of terms) {
    if (t.weight <= 0) continue;
    s.add(t.output);
    if (typeof t.target === 'object' && 'output' in t.target) s.add(t.target.output);
    if (typeof t.params?.gammaOutput === 'string') s.add(t.params.gammaOutput);
  }
  return s;
}
