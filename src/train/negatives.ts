/**
 * Sampled negatives for two-tower losses (DSSM's softmax over one positive and K negatives).
 * For each row i of a batch, K other rows are drawn without replacement from the rows that
 * are not positives of i: never i itself, and, when relevance is by label, never a row of
 * the same label. A row with fewer than K candidates gets all of them, padded with -1
 * (masked out by the loss). The draw comes from a seeded Rng, so training is reproducible.
 */
import { Rng } from '../util/rng.js';

/**
 * Indices [n * k] (row-major, -1 = none) of the negatives of each of `n` rows.
 * `labels`: the rows' labels when relevance is by label (same label = positive), else null.
 */
export function sampleNegatives(n: number, k: number, labels: ArrayLike<number> | null, rng: Rng): Int32Array {
  const out = new Int32Array(n * k).fill(-1);
  const cand = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let c = 0;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      if (labels && labels[j] === labels[i]) continue;
      cand[c++] = j;
    }
    const take = Math.min(k, c);
    // partial Fisher-Yates over the candidates
    for (let t = 0; t < take; t++) {
      const r = t + rng.int(c - t);
      const v = cand[r];
      cand[r] = cand[t];
      cand[t] = v;
      out[i * k + t] = v;
    }
  }
  return out;
}

/** The sampler's generator for one training step: reproducible from (seed, step). */
export function negativesRng(seed: number, step: number): Rng {
  return new Rng((Math.imul(seed | 0, 1000003) + (step | 0) * 7919 + 0x5eed) | 0);
}
