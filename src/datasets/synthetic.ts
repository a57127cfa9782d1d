/**
 * The built-in synthetic suite: seeded data sets whose answer is known, each with two
 * vector modalities of different widths (`a`: 16, `b`: 24).
 *
 * - `synthetic:redundant`: both modalities carry the 4-class label (class centroid plus
 *   noise); either alone suffices (about 0.9), together they do better.
 * - `synthetic:unique`: only `a` carries the label; `b` is noise.
 * - `synthetic:synergy`: each modality carries a latent digit c_m in {0..3} (centroid plus
 *   noise, easy to decode); the label is (c_a + c_b) mod 4, the 4-ary XOR. Each modality
 *   alone is independent of the label (chance 0.25), and an additive combination of
 *   per-modality scores cannot express the cyclic table (softmax regression on the exact
 *   one-hot digits reaches under 0.5); a fused representation with multiplicative
 *   (bilinear) terms can reach ~1.
 * - `synthetic:regression`: y = z_a1 + 0.5 z_b1 + z_a2 z_b2 + 0.1 e, where z_m are
 *   3-d latent factors observed through a random linear map plus noise.
 */
import { ModalfuseError } from '../errors.js';
import { Rng } from '../util/rng.js';
import type { Dataset, SplitData, SplitName } from '../data/types.js';

export const SYNTHETIC_KINDS = ['redundant', 'unique', 'synergy', 'regression'] as const;
export type SyntheticKind = (typeof SYNTHETIC_KINDS)[number];
export const SYNTHETIC_NAMES = SYNTHETIC_KINDS.map((k) => `synthetic:${k}`);

export interface SyntheticOptions {
  seed?: number;
  /** Samples per split; default train 5000, valid 1000, test 1000. */
  sizes?: Partial<Record<SplitName, number>>;
}

const WIDTH = { a: 16, b: 24 } as const;
const CLASSES = 4;

function randn(rng: Rng, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * scale;
  return out;
}

/** Random class centroids, rows scaled to norm `norm`. */
function centroids(rng: Rng, k: number, d: number, norm: number): Float32Array {
  const c = randn(rng, k * d);
  for (let i = 0; i < k; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += c[i * d + j] ** 2;
    const f = norm / Math.sqrt(s);
    for (let j = 0; j < d; j++) c[i * d + j] *= f;
  }
  return c;
}

function fillClassSample(out: Float32Array, row: number, d: number, mu: Float32Array | null, cls: number, noise: number, rng: Rng) {
  for (let j = 0; j < d; j++) out[row * d + j] = (mu ? mu[cls * d + j] : 0) + rng.normal() * noise;
}

/** One synthetic data set by kind. */
export function makeSynthetic(kind: SyntheticKind, opts: SyntheticOptions = {}): Dataset {
  if (!SYNTHETIC_KINDS.includes(kind)) {
    throw new ModalfuseError('unknown synthetic data set', { expected: SYNTHETIC_NAMES, found: `synthetic:${kind}` });
  }
  const seed = opts.seed ?? 0;
  const sizes: Record<SplitName, number> = { train: 5000, valid: 1000, test: 1000, ...opts.sizes };
  // Structure (centroids, maps) depends on the seed only; samples draw from per-split streams.
  const structure = new Rng(seed * 7919 + kind.length * 104729 + kind.charCodeAt(0));
  const splits: Partial<Record<SplitName, SplitData>> = {};
  const provenance: Record<string, unknown> = { generator: `synthetic:${kind}`, seed, sizes };

  if (kind === 'regression') {
    const L = 3;
    const A = randn(structure, L * WIDTH.a, 1 / Math.sqrt(L));
    const B = randn(structure, L * WIDTH.b, 1 / Math.sqrt(L));
    (['train', 'valid', 'test'] as SplitName[]).forEach((split, si) => {
      const rng = new Rng(seed * 1000003 + si * 31 + 17);
      const n = sizes[split];
      const fa = new Float32Array(n * WIDTH.a);
      const fb = new Float32Array(n * WIDTH.b);
      const y = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const za = [rng.normal(), rng.normal(), rng.normal()];
        const zb = [rng.normal(), rng.normal(), rng.normal()];
        for (let j = 0; j < WIDTH.a; j++) {
          let s = 0;
          for (let l = 0; l < L; l++) s += za[l] * A[l * WIDTH.a + j];
          fa[i * WIDTH.a + j] = s + 0.1 * rng.normal();
        }
        for (let j = 0; j < WIDTH.b; j++) {
          let s = 0;
          for (let l = 0; l < L; l++) s += zb[l] * B[l * WIDTH.b + j];
          fb[i * WIDTH.b + j] = s + 0.1 * rng.normal();
        }
        y[i] = za[0] + 0.5 * zb[0] + za[1] * zb[1] + 0.1 * rng.normal();
      }
      splits[split] = { n, features: { a: fa, b: fb }, labels: y };
    });
    provenance.formula = 'y = z_a1 + 0.5 z_b1 + z_a2 z_b2 + 0.1 e; x_m = A_m z_m + 0.1 e';
    return {
      name: `synthetic:${kind}`,
      task: { kind: 'regression', targets: ['y'] },
      modalities: { a: { kind: 'vector', shape: [WIDTH.a] }, b: { kind: 'vector', shape: [WIDTH.b] } },
      splits,
      provenance,
    };
  }

  // Classification kinds. Noise levels give the stated single-modality accuracies.
  const cfg = {
    redundant: { normA: 2.6, normB: 2.6, noise: 1.0 },
    unique: { normA: 3.4, normB: 0, noise: 1.0 },
    synergy: { normA: 4.0, normB: 4.0, noise: 0.6 },
  }[kind];
  const muA = centroids(structure, CLASSES, WIDTH.a, cfg.normA);
  const muB = cfg.normB > 0 ? centroids(structure, CLASSES, WIDTH.b, cfg.normB) : null;
  (['train', 'valid', 'test'] as SplitName[]).forEach((split, si) => {
    const rng = new Rng(seed * 1000003 + si * 31 + 5);
    const n = sizes[split];
    const fa = new Float32Array(n * WIDTH.a);
    const fb = new Float32Array(n * WIDTH.b);
    const y = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      if (kind === 'synergy') {
        const ca = rng.int(CLASSES);
        const cb = rng.int(CLASSES);
        y[i] = (ca + cb) % CLASSES;
        fillClassSample(fa, i, WIDTH.a, muA, ca, cfg.noise, rng);
        fillClassSample(fb, i, WIDTH.b, muB, cb, cfg.noise, rng);
      } else {
        const c = rng.int(CLASSES);
        y[i] = c;
        fillClassSample(fa, i, WIDTH.a, muA, c, cfg.noise, rng);
        fillClassSample(fb, i, WIDTH.b, muB, c, cfg.noise, rng);
      }
    }
    splits[split] = { n, features: { a: fa, b: fb }, labels: y };
  });
  provenance.formula = {
    redundant: 'x_m = mu_m[y] + e, both modalities informative',
    unique: 'x_a = mu_a[y] + e; x_b = e (uninformative)',
    synergy: 'x_a = mu_a[c_a] + e, x_b = mu_b[c_b] + e, y = (c_a + c_b) mod 4',
  }[kind];
  provenance.noise = cfg.noise;
  return {
    name: `synthetic:${kind}`,
    task: { kind: 'classification', classes: Array.from({ length: CLASSES }, (_, i) => String(i)) },
    modalities: { a: { kind: 'vector', shape: [WIDTH.a] }, b: { kind: 'vector', shape: [WIDTH.b] } },
    splits,
    provenance,
  };
}

export function isSyntheticName(name: string): boolean {
  return name === 'synthetic' || name.startsWith('synthetic:');
}

/** `synthetic` expands to the whole suite; `synthetic:KIND` to one. */
export function syntheticSuite(name: string, opts: SyntheticOptions = {}): Dataset[] {
  if (name === 'synthetic') return SYNTHETIC_KINDS.map((k) => makeSynthetic(k, opts));
  const kind = name.slice('synthetic:'.length) as SyntheticKind;
  return [makeSynthetic(kind, opts)];
}
