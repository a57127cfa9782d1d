#!/usr/bin/env node
/**
 * Compares the test metrics of two results.json files (from `modalfuse bench --out`):
 * one row per data set, method and metric with both values and their difference, and a
 * last JSON line. Exits 1 when a difference exceeds the tolerance or a result is missing.
 *
 *   node scripts/compare-results.mjs before/results.json after/results.json [--tol 1e-6]
 */
import fs from 'node:fs';

const args = process.argv.slice(2);
const tolAt = args.indexOf('--tol');
const tol = tolAt >= 0 ? Number(args[tolAt + 1]) : 1e-6;
const files = args.filter((a, i) => tolAt < 0 || (i !== tolAt && i !== tolAt + 1));
if (files.length !== 2 || !Number.isFinite(tol)) {
  process.stderr.write('usage: compare-results.mjs BEFORE.json AFTER.json [--tol 1e-6]\n');
  process.exit(2);
}
const read = (f) => {
  try {
    return JSON.parse(fs.readFileSync(f, 'utf8'));
  } catch (e) {
    process.stderr.write(`compare-results: cannot read ${f}: ${e.message}\n`);
    process.exit(2);
  }
};
const [a, b] = files.map(read);
const index = (r) => new Map(r.datasets.flatMap((d) => d.results.map((x) => [`${d.dataset}\t${x.method}`, x.metrics])));
const ia = index(a);
const ib = index(b);
const rows = [];
let worst = 0;
let missing = 0;
for (const [key, ma] of ia) {
  const mb = ib.get(key);
  if (!mb) {
    missing++;
    rows.push([...key.split('\t'), '(missing after)', '', '', '']);
    continue;
  }
  for (const [metric, va] of Object.entries(ma)) {
    const vb = mb[metric];
    const d = vb === undefined ? Infinity : Math.abs(va - vb);
    worst = Math.max(worst, d);
    rows.push([...key.split('\t'), metric, va.toFixed(6), vb === undefined ? '-' : vb.toFixed(6), d === Infinity ? 'missing' : d.toExponential(1)]);
  }
}
for (const key of ib.keys()) if (!ia.has(key)) rows.push([...key.split('\t'), '(new)', '', '', '']);
const head = ['dataset', 'method', 'metric', 'before', 'after', '|diff|'];
const w = head.map((h, j) => Math.max(h.length, ...rows.map((r) => String(r[j]).length)));
const line = (r) => r.map((c, j) => String(c).padEnd(w[j])).join('  ');
process.stdout.write([line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)].join('\n') + '\n');
const ok = worst <= tol && missing === 0;
process.stdout.write(JSON.stringify({ compared: rows.length, maxAbsDiff: worst, tolerance: tol, missing, equal: ok }) + '\n');
process.exit(ok ? 0 : 1);
