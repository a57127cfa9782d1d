/**
 * Metrics of DESIGN.md, computed from raw model outputs (logits / values) and labels.
 * classification: accuracy, f1 (macro); multi-label: accuracy (exact match), f1 (macro),
 * microF1; regression: mae, corr (Pearson, averaged over targets), and acc2 / acc7 when
 * the targets are sentiment scores on -3..3.
 */
import type { TaskSpec } from './spec.js';

export type Metrics = Record<string, number>;

export function argmaxRows(raw: Float32Array, k: number): Int32Array {
  const n = raw.length / k;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (raw[i * k + j] > raw[i * k + best]) best = j;
    out[i] = best;
  }
  return out;
}

export function confusionMatrix(pred: Int32Array, truth: ArrayLike<number>, k: number): number[][] {
  const m = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < pred.length; i++) m[truth[i]][pred[i]]++;
  return m;
}

function f1FromCounts(tp: number, fp: number, fn: number): number {
  const d = 2 * tp + fp + fn;
  return d === 0 ? 0 : (2 * tp) / d;
}

export function classificationMetrics(raw: Float32Array, labels: ArrayLike<number>, k: number): { metrics: Metrics; confusion: number[][] } {
  const pred = argmaxRows(raw, k);
  const conf = confusionMatrix(pred, labels, k);
  let correct = 0;
  for (let c = 0; c < k; c++) correct += conf[c][c];
  let f1 = 0;
  let present = 0;
  for (let c = 0; c < k; c++) {
    const tp = conf[c][c];
    let fp = 0;
    let fn = 0;
    for (let o = 0; o < k; o++) {
      if (o === c) continue;
      fp += conf[o][c];
      fn += conf[c][o];
    }
    // macro over classes that occur in truth or prediction (sklearn's zero-division aside)
    if (tp + fp + fn > 0) {
      f1 += f1FromCounts(tp, fp, fn);
      present++;
    }
  }
  return { metrics: { accuracy: pred.length ? correct / pred.length : 0, f1: present ? f1 / present : 0 }, confusion: conf };
}

export function multilabelMetrics(raw: Float32Array, labels: ArrayLike<number>, k: number): Metrics {
  const n = raw.length / k;
  let exact = 0;
  const tp = new Array<number>(k).fill(0);
  const fp = new Array<number>(k).fill(0);
  const fn = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++) {
    let all = true;
    for (let j = 0; j < k; j++) {
      const p = raw[i * k + j] > 0 ? 1 : 0;
      const t = labels[i * k + j] > 0.5 ? 1 : 0;
      if (p !== t) all = false;
      if (p && t) tp[j]++;
      else if (p) fp[j]++;
      else if (t) fn[j]++;
    }
    if (all) exact++;
  }
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  let macro = 0;
  for (let j = 0; j < k; j++) macro += f1FromCounts(tp[j], fp[j], fn[j]);
  return { accuracy: n ? exact / n : 0, f1: macro / k, microF1: f1FromCounts(sum(tp), sum(fp), sum(fn)) };
}

export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const a = x[i] - mx;
    const b = y[i] - my;
    sxy += a * b;
    sxx += a * a;
    syy += b * b;
  }
  return sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : 0;
}

export interface RegressionMetricOptions {
  /** Add acc2 / acc7 (targets are sentiment scores on -3..3). */
  sentiment?: boolean;
  /** Add acc2 as the agreement of label > t and prediction > t (when not `sentiment`). */
  acc2Threshold?: number;
}

export function regressionMetrics(raw: Float32Array, labels: ArrayLike<number>, k: number, opts: RegressionMetricOptions = {}): Metrics {
  const n = raw.length / k;
  let abs = 0;
  let corr = 0;
  for (let j = 0; j < k; j++) {
    const p = new Float64Array(n);
    const t = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      p[i] = raw[i * k + j];
      t[i] = labels[i * k + j];
      abs += Math.abs(p[i] - t[i]);
    }
    corr += pearson(p, t);
  }
  const m: Metrics = { mae: n ? abs / (n * k) : 0, corr: k ? corr / k : 0 };
  if (opts.sentiment) {
    // acc2: positive vs negative, over non-zero truths (MOSI convention); acc7: rounded class on -3..3
    let c2 = 0;
    let n2 = 0;
    let c7 = 0;
    for (let i = 0; i < n * k; i++) {
      if (labels[i] !== 0) {
        n2++;
        if (raw[i] > 0 === labels[i] > 0) c2++;
      }
      const r = (v: number) => Math.round(Math.min(3, Math.max(-3, v)));
      if (r(raw[i]) === r(labels[i])) c7++;
    }
    m.acc2 = n2 ? c2 / n2 : 0;
    m.acc7 = n ? c7 / (n * k) : 0;
  } else if (opts.acc2Threshold !== undefined) {
    const th = opts.acc2Threshold;
    let c = 0;
    for (let i = 0; i < n * k; i++) if (raw[i] > th === labels[i] > th) c++;
    m.acc2 = n ? c / (n * k) : 0;
  }
  return m;
}

/** MAE and Pearson r of each target of a multi-target regression, by target name. */
export function regressionPerTarget(raw: Float32Array, labels: ArrayLike<number>, targets: string[]): Record<string, Metrics> {
  const k = targets.length;
  const n = raw.length / k;
  const out: Record<string, Metrics> = {};
  targets.forEach((name, j) => {
    const p = new Float64Array(n);
    const t = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      p[i] = raw[i * k + j];
      t[i] = labels[i * k + j];
    }
    out[name] = { mae: n ? p.reduce((s, v, i) => s + Math.abs(v - t[i]), 0) / n : 0, corr: pearson(p, t) };
  });
  return out;
}

export interface EvalResult {
  metrics: Metrics;
  confusion?: number[][];
  /** Multi-target regression: `{target: {mae, corr}}`. */
  metricsPerTarget?: Record<string, Metrics>;
}
