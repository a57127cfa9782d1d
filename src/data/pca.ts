/**
 * PCA for AV-MNIST's image energy removal: the Float64 covariance of [0, 1]-scaled images
 * (accumulated over non-zero pixels only, since MNIST digits are ~80% zeros), its top
 * eigenpairs by block (subspace) iteration with Rayleigh-Ritz and a cyclic Jacobi solver for
 * the small projected problem, and projection / reconstruction.
 *
 * Written here rather than taken from npm: the job is one symmetric 784x784 eigenproblem
 * of which only the leading few pairs are needed; the maintained linear-algebra packages
 * (ml-matrix's EVD, mathjs' eigs) compute the full decomposition of a dense matrix in
 * plain JS arrays and take tens of seconds at this size, and none of them builds the
 * covariance of 60,000 sparse images efficiently. Pure functions on typed arrays (no Node
 * modules), so the browser can reconstruct images with a stored basis.
 */
import { Rng } from '../util/rng.js';

export interface PcaFit {
  /** Feature means [d]. */
  mean: Float64Array;
  /** Leading components, row-major [k, d], unit length, sign fixed (largest |entry| positive). */
  components: Float64Array;
  k: number;
  d: number;
  /** Eigenvalues of the kept components (variances along them). */
  eigenvalues: number[];
  /** Total variance (trace of the covariance). */
  totalVariance: number;
  /** Fraction of the total variance each kept component holds. */
  explained: number[];
  /** Cumulative fraction kept by the k components. */
  keptFraction: number;
  /** Cumulative fraction of the first k - 1 components (below the target by construction). */
  previousFraction: number;
}

/**
 * Mean and covariance (population, divided by n) of `n` rows of `d` values `x[i] * scale`,
 * skipping zero entries when accumulating the second moments.
 */
export function covariance(x: ArrayLike<number>, n: number, d: number, scale = 1): { mean: Float64Array; cov: Float64Array } {
  const sum = new Float64Array(d);
  const s2 = new Float64Array(d * d);
  const idx = new Int32Array(d);
  const val = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    const o = r * d;
    let nz = 0;
    for (let j = 0; j < d; j++) {
      const v = x[o + j];
      if (v !== 0) {
        idx[nz] = j;
        val[nz] = v * scale;
        nz++;
      }
    }
    for (let a = 0; a < nz; a++) {
      const ia = idx[a];
      const va = val[a];
      sum[ia] += va;
      const row = ia * d;
      for (let b = a; b < nz; b++) s2[row + idx[b]] += va * val[b];
    }
  }
  const mean = new Float64Array(d);
  for (let j = 0; j < d; j++) mean[j] = n > 0 ? sum[j] / n : 0;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = i; j < d; j++) {
      const c = (n > 0 ? s2[i * d + j] / n : 0) - mean[i] * mean[j];
      cov[i * d + j] = c;
      cov[j * d + i] = c;
    }
  }
  return { mean, cov };
}

/** Eigen-decomposition of a small symmetric matrix (cyclic Jacobi). Values descending; vectors as columns of V [p, p]. */
export function jacobiEigen(a: Float64Array, p: number): { values: number[]; vectors: Float64Array } {
  const A = Float64Array.from(a);
  const V = new Float64Array(p * p);
  for (let i = 0; i < p; i++) V[i * p + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) off += A[i * p + j] ** 2;
    let diag = 0;
    for (let i = 0; i < p; i++) diag += A[i * p + i] ** 2;
    if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
    for (let i = 0; i < p; i++) {
      for (let j = i + 1; j < p; j++) {
        const aij = A[i * p + j];
        if (Math.abs(aij) < 1e-300) continue;
        const theta = (A[j * p + j] - A[i * p + i]) / (2 * aij);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < p; k++) {
          const aki = A[k * p + i];
          const akj = A[k * p + j];
          A[k * p + i] = c * aki - s * akj;
          A[k * p + j] = s * aki + c * akj;
        }
        for (let k = 0; k < p; k++) {
          const aik = A[i * p + k];
          const ajk = A[j * p + k];
          A[i * p + k] = c * aik - s * ajk;
          A[j * p + k] = s * aik + c * ajk;
        }
        for (let k = 0; k < p; k++) {
          const vki = V[k * p + i];
          const vkj = V[k * p + j];
          V[k * p + i] = c * vki - s * vkj;
          V[k * p + j] = s * vki + c * vkj;
        }
      }
    }
  }
  const order = Array.from({ length: p }, (_, i) => i).sort((x, y) => A[y * p + y] - A[x * p + x]);
  const values = order.map((i) => A[i * p + i]);
  const vectors = new Float64Array(p * p);
  order.forEach((src, dst) => {
    for (let k = 0; k < p; k++) vectors[k * p + dst] = V[k * p + src];
  });
  return { values, vectors };
}

/** Modified Gram-Schmidt on the p rows (length d) of Q, in place. */
function orthonormalizeRows(Q: Float64Array, p: number, d: number, rng: Rng): void {
  for (let i = 0; i < p; i++) {
    const oi = i * d;
    for (let j = 0; j < i; j++) {
      const oj = j * d;
      let dot = 0;
      for (let k = 0; k < d; k++) dot += Q[oi + k] * Q[oj + k];
      for (let k = 0; k < d; k++) Q[oi + k] -= dot * Q[oj + k];
    }
    let nrm = 0;
    for (let k = 0; k < d; k++) nrm += Q[oi + k] ** 2;
    nrm = Math.sqrt(nrm);
    if (nrm < 1e-12) {
      // rank deficiency: restart this vector randomly and orthogonalise again
      for (let k = 0; k < d; k++) Q[oi + k] = rng.normal();
      i--;
      continue;
    }
    for (let k = 0; k < d; k++) Q[oi + k] /= nrm;
  }
}

/**
 * The top `p` eigenpairs of the symmetric [d, d] matrix `a` by subspace iteration with
 * Rayleigh-Ritz, until the Ritz values change by less than `tol` (relative).
 */
export function topEigen(a: Float64Array, d: number, p: number, opts: { tol?: number; maxIter?: number; seed?: number } = {}): { values: number[]; vectors: Float64Array } {
  p = Math.min(p, d);
  const tol = opts.tol ?? 1e-12;
  const maxIter = opts.maxIter ?? 2000;
  const rng = new Rng(opts.seed ?? 12345);
  let Q = new Float64Array(p * d);
  for (let i = 0; i < Q.length; i++) Q[i] = rng.normal();
  orthonormalizeRows(Q, p, d, rng);
  const Z = new Float64Array(p * d);
  let prev: number[] | null = null;
  let values: number[] = [];
  for (let it = 0; it < maxIter; it++) {
    // Z = Q A (rows), A symmetric
    Z.fill(0);
    for (let i = 0; i < p; i++) {
      const oi = i * d;
      for (let r = 0; r < d; r++) {
        const q = Q[oi + r];
        if (q === 0) continue;
        const ar = r * d;
        for (let c = 0; c < d; c++) Z[oi + c] += q * a[ar + c];
      }
    }
    // Rayleigh-Ritz: T = Q A Q^T (p x p), rotate Z by T's eigenvectors
    const T = new Float64Array(p * p);
    for (let i = 0; i < p; i++) {
      for (let j = i; j < p; j++) {
        let s = 0;
        for (let k = 0; k < d; k++) s += Q[i * d + k] * Z[j * d + k];
        T[i * p + j] = s;
        T[j * p + i] = s;
      }
    }
    const e = jacobiEigen(T, p);
    values = e.values;
    const next = new Float64Array(p * d);
    for (let j = 0; j < p; j++) {
      for (let i = 0; i < p; i++) {
        const w = e.vectors[i * p + j];
        if (w === 0) continue;
        for (let k = 0; k < d; k++) next[j * d + k] += w * Z[i * d + k];
      }
    }
    orthonormalizeRows(next, p, d, rng);
    Q = next;
    if (prev) {
      const scale = Math.max(Math.abs(values[0]), 1e-300);
      let change = 0;
      // the leading half is what callers use; the trailing half is headroom that speeds it up
      for (let i = 0; i < Math.ceil(p / 2); i++) change = Math.max(change, Math.abs(values[i] - prev[i]) / scale);
      if (change < tol && it > 3) break;
    }
    prev = values;
  }
  // final Ritz vectors: one more Rayleigh-Ritz step without the multiplication is Q itself,
  // whose rows are (near) eigenvectors; fix signs for determinism
  for (let i = 0; i < p; i++) {
    let big = 0;
    for (let k = 0; k < d; k++) if (Math.abs(Q[i * d + k]) > Math.abs(big)) big = Q[i * d + k];
    if (big < 0) for (let k = 0; k < d; k++) Q[i * d + k] = -Q[i * d + k];
  }
  return { values, vectors: Q };
}

/**
 * PCA keeping the fewest leading components whose variances together reach
 * `fraction` of the total (e.g. 0.25: "remove 75% of the energy").
 */
export function fitPcaFraction(x: ArrayLike<number>, n: number, d: number, fraction: number, scale = 1): PcaFit {
  if (!(fraction > 0 && fraction <= 1)) throw new Error(`PCA variance fraction must be in (0, 1], got ${fraction}`);
  const { mean, cov } = covariance(x, n, d, scale);
  let total = 0;
  for (let i = 0; i < d; i++) total += cov[i * d + i];
  let p = Math.min(d, 16);
  for (;;) {
    const { values, vectors } = topEigen(cov, d, p);
    let cum = 0;
    let k = 0;
    while (k < p && cum < fraction * total) cum += values[k++];
    if ((cum >= fraction * total && k <= Math.ceil(p / 2)) || p === d || total <= 0) {
      // only the leading half of the p pairs is converged to tolerance
      const explained = values.slice(0, k).map((v) => (total > 0 ? v / total : 0));
      const keptFraction = explained.reduce((a, b) => a + b, 0);
      return {
        mean,
        components: vectors.slice(0, k * d),
        k,
        d,
        eigenvalues: values.slice(0, k),
        totalVariance: total,
        explained,
        keptFraction,
        previousFraction: keptFraction - (explained[k - 1] ?? 0),
      };
    }
    p = Math.min(d, p * 2);
  }
}

/**
 * Reconstruction of rows from the leading components: mean + sum_k <x - mean, v_k> v_k,
 * with x = raw * scale. Writes `n` rows into `out` (float32).
 */
export function pcaReconstruct(
  x: ArrayLike<number>,
  n: number,
  mean: ArrayLike<number>,
  components: ArrayLike<number>,
  k: number,
  scale = 1,
  out: Float32Array = new Float32Array(n * mean.length),
): Float32Array {
  const d = mean.length;
  const coef = new Float64Array(k);
  const cen = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let j = 0; j < d; j++) cen[j] = x[o + j] * scale - mean[j];
    for (let c = 0; c < k; c++) {
      let s = 0;
      const oc = c * d;
      for (let j = 0; j < d; j++) s += cen[j] * components[oc + j];
      coef[c] = s;
    }
    for (let j = 0; j < d; j++) {
      let v = mean[j];
      for (let c = 0; c < k; c++) v += coef[c] * components[c * d + j];
      out[o + j] = v;
    }
  }
  return out;
}
