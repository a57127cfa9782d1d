/**
 * Chained tensor methods (`x.square()`, `x.matMul(y)`, ...). The minimal tfjs-core package
 * registers them only through ESM side-effect modules that Node cannot load from its CJS
 * bundle, so user code written for the full `@tensorflow/tfjs` would break. We add every
 * chained method whose op has the same name on `tf`, plus the few that differ.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Chained-op names of tfjs-core 4.22 that map 1:1 onto a function of the same name. */
const SAME_NAME = (
  'abs acos acosh add all any argMax argMin asin asinh atan atan2 atanh avgPool batchToSpaceNd ' +
  'broadcastTo cast ceil clipByValue conv1d conv2d conv2dTranspose cos cosh cumprod cumsum depthToSpace ' +
  'depthwiseConv2d dilation2d div divNoNan dot elu equal erf euclideanNorm exp expandDims expm1 fft ' +
  'floor floorDiv gather greater greaterEqual ifft irfft isFinite isInf isNaN leakyRelu less lessEqual ' +
  'localResponseNormalization log log1p logSigmoid logSoftmax logSumExp logicalAnd logicalNot logicalOr ' +
  'logicalXor matMul max maxPool maximum mean min minimum mirrorPad mod mul neg norm notEqual oneHot ' +
  'onesLike pad pool pow prelu prod reciprocal relu relu6 reshape reverse rfft round rsqrt selu ' +
  'separableConv2d sigmoid sign sin sinh slice softmax softplus spaceToBatchNd split sqrt square ' +
  'squaredDifference squeeze step stridedSlice sub sum tan tanh tile topk transpose unique ' +
  'unsortedSegmentSum unstack zerosLike'
).split(/\s+/);

let done = false;

export function registerChainedOps(): void {
  if (done) return;
  done = true;
  const proto = tf.Tensor.prototype as unknown as Record<string, unknown>;
  const ops = tf as unknown as Record<string, unknown>;
  for (const name of SAME_NAME) {
    const op = ops[name];
    if (typeof op !== 'function' || typeof proto[name] === 'function') continue;
    proto[name] = function (this: tf.Tensor, ...args: unknown[]) {
      return (op as (...a: unknown[]) => tf.Tensor)(this, ...args);
    };
  }
  const extra: Record<string, (this: tf.Tensor, ...a: never[]) => unknown> = {
    asType(this: tf.Tensor, dtype: tf.DataType) { return tf.cast(this, dtype); },
    toFloat(this: tf.Tensor) { return tf.cast(this, 'float32'); },
    toInt(this: tf.Tensor) { return tf.cast(this, 'int32'); },
    toBool(this: tf.Tensor) { return tf.cast(this, 'bool'); },
    flatten(this: tf.Tensor) { return tf.reshape(this, [this.size]); },
    asScalar(this: tf.Tensor) { return tf.reshape(this, []); },
    reshapeAs(this: tf.Tensor, x: tf.Tensor) { return tf.reshape(this, x.shape); },
    concat(this: tf.Tensor, x: tf.Tensor | tf.Tensor[], axis?: number) {
      return tf.concat([this, ...(Array.isArray(x) ? x : [x])], axis);
    },
    stack(this: tf.Tensor, x: tf.Tensor, axis?: number) { return tf.stack([this, x], axis); },
    batchNorm(this: tf.Tensor, ...a: never[]) { return (tf.batchNorm as (...b: unknown[]) => tf.Tensor)(this, ...a); },
  };
  for (const [name, fn] of Object.entries(extra)) {
    if (typeof proto[name] !== 'function') proto[name] = fn;
  }
}
