/**
 * The synthetic sequence suite: seeded data sets of 20-step sequence modalities whose
 * answer is known. Not part of `synthetic` (the vector suite), so `npm start` keeps its
 * time; each is named on its own: `synthetic:seq-unimodal`, `synthetic:seq-timing`,
 * `synthetic:seq-regression`. Every step of every modality is Gaussian noise plus what
 * the task below puts there.
 *
 * - `synthetic:seq-unimodal` (2 classes; modalities `a` [20, 8], `b` [20, 12], `c` [20, 6]):
 *   `a` carries the label at every step (x_t = 0.35 mu[y] + noise, noise 1), `b` and `c`
 *   are noise. Solved by anything that reads `a` (a-only, concat, late fusion, an LSTM
 *   over `a` or its time average; about 0.95); `b-only` and `c-only` cannot beat chance
 *   (0.5). A modality-weighting method should put its weight on `a`.
 * - `synthetic:seq-timing` (2 classes; `a` [20, 8], `b` [20, 8]): each modality switches
 *   "on" (a pulse of norm 2 in a fixed direction, noise 0.5) for 10 cyclic steps from its
 *   onset t_a resp. t_b; t_a is uniform over the 20 steps, t_b = (t_a + d) mod 20 with d
 *   uniform over 1..9 (label 1: b switches on while a is on) or 11..19 (label 0: b switches
 *   on while a is off). Because of the cyclic construction, each modality alone is a
 *   uniformly placed window whatever the label: no per-modality summary, and no
 *   combination of per-modality decisions (late fusion) beats chance (0.5). Solved by
 *   anything that relates the two modalities in time: a model that sees both sequences at
 *   each step (ef-lstm, MFN) or fuses per-modality encodings that keep the onset phase
 *   (lf-lstm, dfg, modal attention over LSTM states) reaches over 0.9.
 * - `synthetic:seq-regression` (1 target; `a` [20, 8], `b` [20, 12]): latent u_a, u_b ~ N(0, 1)
 *   modulate a fixed per-modality pattern over time (x_t = u_m s_t v_m + noise 1);
 *   y = u_a + 0.5 u_b + u_a u_b + 0.1 e. One modality alone explains at most
 *   1 / 2.25 (a) or 0.25 / 2.25 (b) of the variance; an additive fusion of per-modality
 *   summaries gets 1.25 / 2.26; only a fusion with a multiplicative term gets close to all.
 */
import { ModalfuseError } from '../errors.js';
import { Rng } from '../util/rng.js';
import type { Dataset, ModalitySpec, SplitData, SplitName } from '../data/types.js';

export const SEQ_KINDS = ['seq-unimodal', 'seq-timing', 'seq-regression'] as const;
export type SeqKind = (typeof SEQ_KINDS)[number];
export const SEQ_NAMES = SEQ_KINDS.map((k) => `synthetic:${k}`);
export const SEQ_STEPS = 20;
/** seq-timing: each modality is "on" (a pulse of norm AMP) for ON cyclic steps from its onset. */
const ON = 10;
const AMP = 2;

export interface SeqOptions {
  seed?: number;
  /** Samples per split; default train 2000, valid 500, test 500. */
  sizes?: Partial<Record<SplitName, number>>;
}

const WIDTHS: Record<SeqKind, Record<string, number>> = {
  'seq-unimodal': { a: 8, b: 12, c: 6 },
  'seq-timing': { a: 8, b: 8 },
  'seq-regression': { a: 8, b: 12 },
};

function unit(rng: Rng, d: number): Float64Array {
  const v = new Float64Array(d);
  let s = 0;
  for (let j = 0; j < d; j++) {
    v[j] = rng.normal();
    s += v[j] * v[j];
  }
  for (let j = 0; j < d; j++) v[j] /= Math.sqrt(s);
  return v;
}

export function isSeqName(name: string): boolean {
  return (SEQ_NAMES as string[]).includes(name);
}

/** One data set of the sequence suite. */
export function makeSyntheticSeq(kind: SeqKind, opts: SeqOptions = {}): Dataset {
  if (!SEQ_KINDS.includes(kind)) throw new ModalfuseError('unknown synthetic sequence data set', { expected: SEQ_NAMES, found: `synthetic:${kind}` });
  const seed = opts.seed ?? 0;
  const sizes: Record<SplitName, number> = { train: 2000, valid: 500, test: 500, ...opts.sizes };
  const T = SEQ_STEPS;
  const widths = WIDTHS[kind];
  const names = Object.keys(widths);
  const structure = new Rng(seed * 7919 + kind.length * 104729 + kind.charCodeAt(4) * 13);
  const dir: Record<string, Float64Array> = Object.fromEntries(names.map((m) => [m, unit(structure, widths[m])]));
  const mu = [unit(structure, widths.a), unit(structure, widths.a)]; // seq-unimodal class directions
  const pattern = Array.from({ length: T }, (_, t) => Math.sin((Math.PI * (t + 1)) / (T + 1))); // seq-regression
  const splits: Partial<Record<SplitName, SplitData>> = {};
  (['train', 'valid', 'test'] as SplitName[]).forEach((split, si) => {
    const rng = new Rng(seed * 1000003 + si * 31 + 41);
    const n = sizes[split];
    const f: Record<string, Float32Array> = Object.fromEntries(names.map((m) => [m, new Float32Array(n * T * widths[m])]));
    const labels = kind === 'seq-regression' ? new Float32Array(n) : new Int32Array(n);
    const noise = kind === 'seq-timing' ? 0.5 : 1;
    for (let i = 0; i < n; i++) {
      for (const m of names) for (let k = 0; k < T * widths[m]; k++) f[m][i * T * widths[m] + k] = noise * rng.normal();
      const add = (m: string, t: number, v: ArrayLike<number>, s: number) => {
        const d = widths[m];
        for (let j = 0; j < d; j++) f[m][(i * T + t) * d + j] += s * v[j];
      };
      if (kind === 'seq-unimodal') {
        const y = rng.int(2);
        labels[i] = y;
        for (let t = 0; t < T; t++) add('a', t, mu[y], 0.35);
      } else if (kind === 'seq-timing') {
        const y = rng.int(2);
        const ta = rng.int(T);
        const d = y === 1 ? 1 + rng.int(9) : 11 + rng.int(9);
        labels[i] = y;
        const tb = (ta + d) % T;
        for (let s = 0; s < ON; s++) {
          add('a', (ta + s) % T, dir.a, AMP);
          add('b', (tb + s) % T, dir.b, AMP);
        }
      } else {
        const ua = rng.normal();
        const ub = rng.normal();
        for (let t = 0; t < T; t++) {
          add('a', t, dir.a, ua * pattern[t]);
          add('b', t, dir.b, ub * pattern[t]);
        }
        labels[i] = ua + 0.5 * ub + ua * ub + 0.1 * rng.normal();
      }
    }
    splits[split] = { n, features: f, labels };
  });
  const modalities: Record<string, ModalitySpec> = Object.fromEntries(names.map((m) => [m, { kind: 'sequence', shape: [T, widths[m]] }]));
  const formula = {
    'seq-unimodal': 'a_t = 0.35 mu[y] + e; b_t, c_t = e (uninformative)',
    'seq-timing': 'a on for 10 cyclic steps from t_a, b from (t_a + d) mod 20; y = 1 iff d in 1..9 (d in 11..19 otherwise); pulse norm 2, noise 0.5',
    'seq-regression': 'x_m,t = u_m sin(pi (t+1) / 21) v_m + e; y = u_a + 0.5 u_b + u_a u_b + 0.1 e',
  }[kind];
  return {
    name: `synthetic:${kind}`,
    task: kind === 'seq-regression' ? { kind: 'regression', targets: ['y'] } : { kind: 'classification', classes: ['0', '1'] },
    modalities,
    splits,
    provenance: { generator: `synthetic:${kind}`, seed, sizes, formula },
  };
}
