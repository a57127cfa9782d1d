/** Task losses on raw outputs (softmax / sigmoid cross-entropy, MSE or L1): the tasks' own (src/tasks/). */
import type { tf } from '../backend/index.js';
import { getTask, type TaskSpec } from '../tasks/index.js';

export type RegressionLoss = 'mse' | 'l1';

/** Mean loss over the batch. `y` holds class indices (int32 [B]) or targets ([B, K]). */
export function taskLoss(task: TaskSpec, raw: tf.Tensor, y: tf.Tensor, regressionLoss: RegressionLoss = 'mse'): tf.Scalar {
  return getTask(task).loss(raw, y, regressionLoss);
}
