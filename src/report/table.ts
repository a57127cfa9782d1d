/** Plain-text tables of benchmark results (what `modalfuse bench` prints). */
import type { BenchResults } from '../experiments/bench.js';

function fmtMetric(v: number | null | undefined): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '-';
  return v.toFixed(4);
}

function fmtSI(v: number | undefined): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '-';
  const a = Math.abs(v);
  for (const [f, u] of [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const) {
    if (a >= f) return `${(v / f).toFixed(a / f >= 100 ? 0 : 1)}${u}`;
  }
  return String(Math.round(v));
}

/** Left-aligned first column, the rest right-aligned. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** One table per data set: metrics (± std over seeds), parameters, FLOPs, speed, time. */
export function formatResultsTable(results: BenchResults): string {
  const out: string[] = [];
  for (const ds of results.datasets) {
    const pm = ds.primaryMetric;
    const keys: string[] = [];
    for (const r of ds.results) for (const k of Object.keys(r.metrics)) if (!keys.includes(k)) keys.push(k);
    if (pm && keys.includes(pm.key)) {
      keys.splice(keys.indexOf(pm.key), 1);
      keys.unshift(pm.key);
    }
    // AV-MNIST protocol results say how each row was trained (trained / frozen / end-to-end).
    const enc = (r: (typeof ds.results)[number]) => (r as { encoders?: unknown }).encoders;
    const withEncoders = ds.results.some((r) => typeof enc(r) === 'string');
    const header = ['method', ...(withEncoders ? ['encoders'] : []), ...keys, 'params', 'FLOPs', 'train/s', 'infer/s', 'seconds', 'epochs'];
    const rows = ds.results.map((r) => [
      r.method,
      ...(withEncoders ? [typeof enc(r) === 'string' ? String(enc(r)) : '-'] : []),
      ...keys.map((k) => fmtMetric(r.metrics[k]) + (r.metricsStd && typeof r.metricsStd[k] === 'number' ? ` ± ${fmtMetric(r.metricsStd[k])}` : '')),
      Math.round(r.params).toLocaleString('en-US'),
      fmtSI(r.flopsPerSample),
      fmtSI(r.trainSamplesPerSec),
      fmtSI(r.inferSamplesPerSec),
      r.trainSeconds.toFixed(1),
      r.epochsRun !== undefined ? String(Math.round(r.epochsRun * 10) / 10) : String(r.history.length),
    ]);
    const title = `${ds.dataset} (${ds.task}${pm ? `; ${pm.key} ${pm.higherIsBetter ? 'higher' : 'lower'} is better` : ''})`;
    out.push(title, formatTable(header, rows), '');
  }
  return out.join('\n');
}
