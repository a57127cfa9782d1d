/**
 * The cost rules of the layers encoders and heads are made of, written once: parameters,
 * FLOPs per sample (a multiply and an add count as two) and activations per sample (float
 * values kept for the backward pass). Used by encoder descriptions before anything is
 * built (./describe.ts) and by the accounting of built models (src/eval/cost.ts).
 */

export interface StepCost {
  params: number;
  flops: number;
  activations: number;
}

/** Dense of `units` on `rows` rows of width `inW` (rows > 1: applied per step). */
export function denseCost(inW: number, units: number, activation: string, rows = 1): StepCost & { outWidth: number } {
  const act = activation !== 'linear' ? units * rows : 0;
  return { params: inW * units + units, flops: rows * (2 * inW * units + units) + act, activations: units * rows, outWidth: units * rows };
}

/** LSTM (gates 4) or GRU (gates 3) over `steps` steps: gate activations and states kept for backpropagation through time. */
export function recurrentCost(steps: number, inW: number, units: number, returnSequences: boolean, gates = 4): StepCost {
  const perStep = gates * (2 * (inW + units) * units + units) + 10 * units;
  const out = returnSequences ? steps * units : units;
  return { params: gates * (inW * units + units * units + units), flops: steps * perStep, activations: steps * (gates + 2) * units + out };
}

/** 'same' convolution producing `positions` x `filters` outputs from `cin` channels. */
export function convCost(positions: number, cin: number, filters: number, kernel: [number, number], activation: string, useBias: boolean): StepCost {
  const out = positions * filters;
  return {
    params: kernel[0] * kernel[1] * cin * filters + (useBias ? filters : 0),
    flops: out * (2 * kernel[0] * kernel[1] * cin + 1) + (activation !== 'linear' ? out : 0),
    activations: out,
  };
}

/** Pooling to `out` values with a window of `window` values each. */
export function poolCost(out: number, window: number): StepCost {
  return { params: 0, flops: out * window, activations: out };
}

/** Batch normalisation over `size` values of `channels` channels (gamma, beta, moving mean and variance). */
export function batchNormCost(size: number, channels: number): StepCost {
  return { params: 4 * channels, flops: size, activations: size };
}

/** An element-wise layer (activation, dropout) over `size` values. */
export function elementwiseCost(size: number): StepCost {
  return { params: 0, flops: size, activations: size };
}
