/**
 * The benchmark report as one self-contained HTML page: it opens from disk, offline. The
 * page holds three things: the results JSON (a `<script type="application/json">` block),
 * chart.js's UMD build inlined (read from the installed `chart.js` package when the report
 * is written; no CDN), and the renderer (`./client.ts`), which builds the tables and charts
 * from the JSON alone. So any results.json renders with `renderReport`, and the page can
 * be regenerated from a results file (`modalfuse report results.json`).
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { ModalfuseError } from '../errors.js';
import type { BenchResults } from '../experiments/bench.js';
import { clientRender } from './client.js';
import { withoutBom } from '../util/bom.js';
import { writeFileAtomic } from '../util/atomic_dir.js';
import { checkRegularFile } from '../util/regular_file.js';

export const RESULTS_FILE = 'results.json';
export const REPORT_FILE = 'index.html';
/** id of the embedded results block. */
export const RESULTS_ELEMENT_ID = 'modalfuse-results';

let chartSource: string | null = null;

/** chart.js's UMD build (sets `window.Chart`), read once from the installed package. */
export function chartJsSource(): string {
  if (chartSource !== null) return chartSource;
  const require = createRequire(import.meta.url);
  let file: string;
  try {
    // The package's exports map hides dist/chart.umd.js; find the package folder from its main entry.
    const main = require.resolve('chart.js');
    let dir = path.dirname(main);
    while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
    file = path.join(dir, 'dist', 'chart.umd.js');
    if (!fs.existsSync(file)) file = path.join(dir, 'chart.umd.js');
  } catch (e) {
    throw new ModalfuseError(`chart.js is not installed: ${(e as Error).message}`, { expected: 'the chart.js package (npm install)', found: 'not found' });
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ModalfuseError(`cannot read chart.js (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { file });
  }
  // Nothing inside a <script> may close it.
  chartSource = text.replace(/<\/script/gi, '<\\/script').replace(/<!--/g, '<\\!--');
  return chartSource;
}

/** JSON that is safe inside a <script> element (no `</script>`, no `<!--`). */
export function scriptSafeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const STYLE = `
:root { --fg: #111827; --dim: #6b7280; --line: #e5e7eb; --bg: #ffffff; --soft: #f9fafb; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg); background: var(--bg); }
#report { max-width: 1320px; margin: 0 auto; padding: 20px 28px 40px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 0 0 2px; padding-top: 8px; }
h4 { font-size: 13px; margin: 0 0 6px; font-weight: 600; color: #374151; }
header { border-bottom: 2px solid var(--line); padding-bottom: 10px; margin-bottom: 8px; }
nav { margin-top: 8px; display: flex; gap: 6px; flex-wrap: wrap; }
nav a { color: var(--accent); text-decoration: none; padding: 2px 10px; border: 1px solid var(--line); border-radius: 12px; font-size: 13px; }
nav a:hover { background: var(--soft); }
section { border-bottom: 1px solid var(--line); padding: 14px 0 22px; }
.meta { color: var(--dim); margin: 2px 0 8px; font-size: 13px; }
.note { color: var(--dim); font-size: 12px; margin: 4px 0 0; }
.note.protocol { margin: 0 0 10px; max-width: 1100px; }
.dim { color: var(--dim); }
.table-wrap { overflow-x: auto; }
table.results { border-collapse: collapse; width: 100%; font-size: 13px; }
table.results th, table.results td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
table.results th { background: var(--soft); font-weight: 600; position: sticky; top: 0; }
table.results td.num, table.results th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.results td.best { font-weight: 700; }
table.results tr.best-row td { background: #eff6ff; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(400px, 1fr)); gap: 16px; margin-top: 16px; }
.chart { border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; background: var(--bg); }
.canvas-wrap { position: relative; height: 300px; }
.confusion-box { margin-top: 16px; display: inline-block; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; }
table.confusion { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
table.confusion th, table.confusion td { padding: 4px 10px; text-align: center; border: 1px solid #fff; }
table.confusion th { background: var(--soft); font-weight: 600; }
table.confusion th.corner { font-weight: 400; color: var(--dim); font-size: 11px; }
table.confusion td.cm { min-width: 48px; }
table.confusion td.cm-sum { color: var(--dim); }
details.skipped { margin-top: 12px; color: var(--dim); font-size: 13px; }
details.skipped summary { cursor: pointer; }
footer { color: var(--dim); font-size: 12px; margin-top: 16px; }
`;

/** The whole report page for `results` (any object of the results.json shape). */
export function renderReport(results: BenchResults | Record<string, unknown>): string {
  const title = `modalfuse benchmark${typeof results.createdAt === 'string' ? ` · ${results.createdAt.slice(0, 10)}` : ''}`;
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="generator" content="modalfuse">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    '<main id="report"><noscript>This report draws its tables and charts with JavaScript; the data is in the results JSON.</noscript></main>',
    `<script type="application/json" id="${RESULTS_ELEMENT_ID}">${scriptSafeJson(results)}</script>`,
    `<script>/* chart.js (MIT License), inlined so that the page works offline */\n${chartJsSource()}\n</script>`,
    `<script>\n"use strict";\n(${clientRender.toString()})();\n</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Writes `dir/results.json` and `dir/index.html` (creating `dir`); returns their paths. */
export function writeReport(dir: string, results: BenchResults | Record<string, unknown>): { resultsFile: string; reportFile: string } {
  const resultsFile = path.join(dir, RESULTS_FILE);
  const reportFile = path.join(dir, REPORT_FILE);
  const html = renderReport(results);
  try {
    fs.mkdirSync(dir, { recursive: true });
    writeFileAtomic(resultsFile, JSON.stringify(results, null, 2) + '\n');
    writeFileAtomic(reportFile, html);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ModalfuseError(`cannot write the report (${err.code ?? err.message})`, { file: err.path ?? dir });
  }
  return { resultsFile, reportFile };
}

/** Reads a results.json (for re-rendering). */
export function readResults(file: string): Record<string, unknown> {
  let text: string;
  checkRegularFile(file, 'a results.json');
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModalfuseError(code === 'ENOENT' ? 'results file not found' : `cannot read results file (${code})`, { file });
  }
  let json: unknown;
  try {
    json = JSON.parse(withoutBom(text));
  } catch (e) {
    throw new ModalfuseError(`results file is not valid JSON: ${(e as Error).message}`, { file });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json) || !Array.isArray((json as Record<string, unknown>).datasets)) {
    throw new ModalfuseError('not a benchmark results file', { file, expected: '{ "schemaVersion": 1, "datasets": [...] }', found: typeof json });
  }
  return json as Record<string, unknown>;
}
