/** Task losses on raw outputs: softmax / sigmoid cross-entropy, MSE or L1. */
import { tf } from '../backend/index.js';
import type { TaskSpec } from '../data/types.js';

export type RegressionLoss = 'mse' | 'l1';

/** Mean loss over the batch. `y` holds class indices (int32 [B]) or targets ([B, K]). */
export function taskLoss(task: TaskSpec, raw: tf.Tensor, y: tf.Tensor, regressionLoss: RegressionLoss = 'mse'): tf.Scalar {
  return tf.tidy(() => {
    if (task.kind === 'classification') {
      const k = task.classes.length;
      const oh = tf.oneHot(tf.cast(y, 'int32'), k);
      return tf.neg(tf.mean(tf.sum(tf.mul(oh, tf.logSoftmax(raw)), -1))) as tf.Scalar;
    }
    if (task.kind === 'multilabel') {
      // stable: max(x,0) - x*z + log(1 + exp(-|x|))
      const l = tf.add(tf.sub(tf.relu(raw), tf.mul(raw, y)), tf.log1p(tf.exp(tf.neg(tf.abs(raw)))));
      return tf.mean(l) as tf.Scalar;
    }
    const d = tf.sub(raw, y);
    return (regressionLoss === 'l1' ? tf.mean(tf.abs(d)) : tf.mean(tf.square(d))) as tf.Scalar;
  });
}
