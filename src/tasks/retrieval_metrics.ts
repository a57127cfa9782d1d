/**
 * Retrieval metrics (DESIGN.md): every query is ranked against the whole gallery by cosine
 * similarity of their embeddings (ties keep the gallery's order, so rankings are
 * deterministic). An item is relevant when its label equals the query's (`label`) or when
 * it has the query's index (`pair`). Queries with no relevant item in the gallery are left
 * out of every metric.
 * - `recallAt{k}`: the share of queries with at least one relevant item in the top k;
 * - `map`: mean over queries of the average precision of the full ranking, i.e. the mean
 *   of precision@r over the ranks r of the relevant items;
 * - `mrr`: mean over queries of 1 / the rank of the first relevant item.
 */
import type { Relevance } from './spec.js';
import type { Metrics } from './metrics.js';

export const RECALL_KS = [1, 5, 10] as const;

function normalizeRows(x: Float32Array, n: number, d: number): Float64Array {
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[i * d + j] * x[i * d + j];
    const f = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < d; j++) out[i * d + j] = x[i * d + j] * f;
  }
  return out;
}

export interface RetrievalInput {
  /** Query embeddings, row-major [nq, d]. */
  query: Float32Array;
  /** Gallery embeddings, row-major [ng, d]. */
  gallery: Float32Array;
  /** Embedding width. */
  dim: number;
  relevance: Relevance;
  /** Labels of the queries and of the gallery items (relevance by label). */
  queryLabels?: ArrayLike<number>;
  galleryLabels?: ArrayLike<number>;
}

/** recallAt1/5/10, map and mrr of ranking `gallery` for each row of `query`. */
export function retrievalMetrics(inp: RetrievalInput): Metrics {
  const d = inp.dim;
  const nq = inp.query.length / d;
  const ng = inp.gallery.length / d;
  if (!Number.isInteger(nq) || !Number.isInteger(ng)) throw new Error(`retrieval embeddings are not rows of width ${d}`);
  if (inp.relevance === 'label' && (!inp.queryLabels || !inp.galleryLabels)) throw new Error('relevance by label needs labels');
  const q = normalizeRows(inp.query, nq, d);
  const g = normalizeRows(inp.gallery, ng, d);
  const sims = new Float64Array(ng);
  const order = new Int32Array(ng);
  const hits = RECALL_KS.map(() => 0);
  let apSum = 0;
  let rrSum = 0;
  let counted = 0;
  for (let i = 0; i < nq; i++) {
    const relevant = (j: number) => (inp.relevance === 'pair' ? j === i : inp.queryLabels![i] === inp.galleryLabels![j]);
    let nRel = 0;
    for (let j = 0; j < ng; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += q[i * d + k] * g[j * d + k];
      sims[j] = s;
      order[j] = j;
      if (relevant(j)) nRel++;
    }
    if (nRel === 0) continue;
    counted++;
    order.sort((a, b) => sims[b] - sims[a] || a - b);
    let found = 0;
    let ap = 0;
    let first = 0;
    for (let r = 0; r < ng && found < nRel; r++) {
      if (!relevant(order[r])) continue;
      found++;
      ap += found / (r + 1);
      if (first === 0) first = r + 1;
    }
    apSum += ap / nRel;
    rrSum += 1 / first;
    RECALL_KS.forEach((k, t) => {
      if (first <= k) hits[t]++;
    });
  }
  const mean = (v: number) => (counted ? v / counted : 0);
  const out: Metrics = {};
  RECALL_KS.forEach((k, t) => (out[`recallAt${k}`] = mean(hits[t])));
  out.map = mean(apSum);
  out.mrr = mean(rrSum);
  return out;
}

/** `recallAt1` -> `reverseRecallAt1`, `map` -> `reverseMap`. */
export function reverseKeys(m: Metrics): Metrics {
  const out: Metrics = {};
  for (const [k, v] of Object.entries(m)) out[`reverse${k[0].toUpperCase()}${k.slice(1)}`] = v;
  return out;
}
