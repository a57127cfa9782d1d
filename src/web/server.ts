/**
 * The demo server (Node only): serves the demo page (web/), the browser bundle and its
 * wasm binaries (dist/web/, built by `npm run build`), a model folder under /model/, a few
 * test samples of a data set as JSON (/samples?n=20) and the benchmark report (/report/).
 *
 * ```ts
 * import { serveDemo } from 'modalfuse/dist/src/web/server.js';
 * const demo = await serveDemo({ modelDir: 'my-model', dataset: 'synthetic:redundant' });
 * console.log(demo.url);   // http://127.0.0.1:8080/
 * await demo.close();
 * ```
 *
 * node:http and a few lines of static serving rather than a framework: the routes are
 * fixed, everything is GET, and no static-server package is installed.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { ModalfuseError } from '../errors.js';
import { loadDataset, type ResolveOptions } from '../datasets/resolve.js';
import { hasClassLabels, sizeOf, SPLITS, taskWidth, type Dataset, type SplitName } from '../data/types.js';
import { LIBRARY } from '../version.js';
import { packageRoot } from '../util/package_root.js';

export interface DemoOptions {
  /** Model folder (written by `modalfuse train --save DIR` or `FusionModel.save`). */
  modelDir: string;
  /** Data set to take test samples from: a name (`synthetic:redundant`, `avmnist`), a folder path, or a loaded Dataset. */
  dataset?: string | Dataset;
  /** Options of the data set's loader (seed, quick, ...) when `dataset` is a name. */
  datasetOptions?: ResolveOptions;
  /** Port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1 (this machine only). */
  host?: string;
  /** Benchmark report folder served under /report/; default `./report` when it holds an index.html. */
  reportDir?: string;
}

export interface DemoServer {
  /** The page's URL, e.g. `http://127.0.0.1:8080/`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** One sample as the page receives it: raw (not standardised) features, row-major. */
export interface DemoSample {
  index: number;
  /** Class index (classification), or the target / label vector. */
  label: number | number[];
  /** Class name (classification). */
  labelName?: string;
  features: Record<string, number[]>;
}

export interface DemoSamples {
  schemaVersion: 1;
  dataset: string | null;
  split: SplitName | null;
  modalities: Dataset['modalities'] | null;
  task: Dataset['task'] | null;
  samples: DemoSample[];
  /** Why there are no samples, when there are none. */
  note?: string;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.wav': 'audio/wav',
};


/** The first `n` samples of the test split (else valid, else train) as the page takes them. */
export function demoSamples(ds: Dataset | null, n = 20, modalities?: string[], shapes?: Record<string, { shape: number[] }>): DemoSamples {
  if (!ds) {
    return {
      schemaVersion: 1, dataset: null, split: null, modalities: null, task: null, samples: [],
      note: 'no data set was given to the demo (modalfuse demo --dataset NAME|PATH), so there are no test samples to pick',
    };
  }
  const split = (['test', 'valid', 'train'] as SplitName[]).find((s) => SPLITS.includes(s) && ds.splits[s] && ds.splits[s]!.n > 0) ?? null;
  const base = { schemaVersion: 1 as const, dataset: ds.name, split, modalities: ds.modalities, task: ds.task };
  if (!split) return { ...base, samples: [], note: `data set "${ds.name}" has no samples` };
  const data = ds.splits[split]!;
  const names = (modalities ?? Object.keys(ds.modalities)).slice().sort();
  for (const m of names) {
    if (!ds.modalities[m]) {
      throw new ModalfuseError('the data set lacks a modality the model reads', { modality: m, expected: names, found: Object.keys(ds.modalities) });
    }
    const want = shapes?.[m]?.shape;
    if (want && want.join('x') !== ds.modalities[m].shape.join('x')) {
      throw new ModalfuseError("the data set's modality does not have the shape the model reads", { modality: m, expected: want, found: ds.modalities[m].shape });
    }
  }
  const count = Math.max(0, Math.min(n, data.n));
  const samples: DemoSample[] = [];
  const width = hasClassLabels(ds.task) ? 1 : taskWidth(ds.task);
  for (let i = 0; i < count; i++) {
    const features: Record<string, number[]> = {};
    for (const m of names) {
      const size = sizeOf(ds.modalities[m].shape);
      features[m] = Array.from(data.features[m].subarray(i * size, (i + 1) * size));
    }
    const label = ds.task.kind === 'classification' ? data.labels[i] : Array.from(data.labels.subarray(i * width, (i + 1) * width));
    const sample: DemoSample = { index: i, label, features };
    if (ds.task.kind === 'classification') sample.labelName = ds.task.classes[data.labels[i]];
    samples.push(sample);
  }
  return { ...base, samples };
}

/**
 * Resolves `rel` (URL path, already decoded) inside `root` by real path: null when it would
 * leave it, by `..` or by a symlink (a link inside the folder to a file outside is not served).
 */
function inside(root: string, rel: string): string | null {
  const p = path.resolve(root, `.${path.posix.normalize(`/${rel}`)}`);
  if (p !== root && !p.startsWith(root + path.sep)) return null;
  let real: string;
  let realRoot: string;
  try {
    real = fs.realpathSync(p);
    realRoot = fs.realpathSync(root);
  } catch {
    return null; // missing (or a dangling link)
  }
  return real === realRoot || real.startsWith(realRoot + path.sep) ? real : null;
}

/**
 * Content-Security-Policy of every answer: this origin only (the tfjs wasm binaries need
 * 'wasm-unsafe-eval'); the benchmark report inlines its scripts and styles.
 */
const CSP_APP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const CSP_REPORT = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function headers(type: string, extra: Record<string, string | number> = {}, csp = CSP_APP): Record<string, string | number> {
  return { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', 'Content-Security-Policy': csp, 'Referrer-Policy': 'no-referrer', ...extra };
}

function send(res: http.ServerResponse, status: number, body: string | Buffer, type: string): void {
  res.writeHead(status, headers(type));
  res.end(body);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  send(res, status, JSON.stringify(value), MIME['.json']);
}

function sendFile(req: http.IncomingMessage, res: http.ServerResponse, root: string | null, rel: string, csp = CSP_APP): void {
  let file = root === null ? null : inside(root, rel);
  if (file && root !== null && fs.statSync(file).isDirectory()) file = inside(root, path.posix.join(rel, 'index.html'));
  if (!file || !fs.statSync(file).isFile()) {
    send(res, 404, 'not found\n', MIME['.txt']);
    return;
  }
  const type = MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  res.writeHead(200, headers(type, { 'Content-Length': fs.statSync(file).size }, csp));
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  fs.createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * `Host` values this server answers (DNS rebinding: a page of another site that resolves its
 * name to 127.0.0.1 sends its own name): the listening host and port, and on a loopback
 * interface the loopback names with that port.
 */
export function allowedHosts(host: string, port: number): Set<string> {
  const shown = host.includes(':') ? `[${host}]` : host;
  const names = new Set([shown]);
  if (LOOPBACK.has(shown) || shown.startsWith('127.')) for (const n of LOOPBACK) names.add(n);
  return new Set([...names].map((n) => `${n}:${port}`.toLowerCase()));
}

/** Starts the demo server; resolves once it listens. */
export async function serveDemo(opts: DemoOptions): Promise<DemoServer> {
  const root = packageRoot();
  const webDir = path.join(root, 'web');
  const libDir = path.join(root, 'dist', 'web');
  const modelDir = path.resolve(opts.modelDir);
  if (!fs.existsSync(modelDir) || !fs.statSync(modelDir).isDirectory()) {
    throw new ModalfuseError('model folder not found', { file: modelDir, expected: 'a folder written by `modalfuse train --save DIR`' });
  }
  if (!fs.existsSync(path.join(libDir, 'modalfuse.js'))) {
    throw new ModalfuseError('the browser bundle is not built (run `npm run build`)', { file: path.join(libDir, 'modalfuse.js') });
  }
  const reportCandidate = path.resolve(opts.reportDir ?? 'report');
  const reportDir = fs.existsSync(path.join(reportCandidate, 'index.html')) ? reportCandidate : null;
  if (opts.reportDir && !reportDir) {
    throw new ModalfuseError('report folder has no index.html', { file: reportCandidate, expected: 'a folder written by `modalfuse bench --out DIR`' });
  }

  if (typeof opts.dataset === 'string') await import('../datasets/avmnist/build.js'); // registers the `avmnist` name
  const dataset = typeof opts.dataset === 'string' ? await loadDataset(opts.dataset, opts.datasetOptions ?? {}) : opts.dataset ?? null;
  /** Modalities the model reads and their shapes (its modalfuse.json), read per request: the folder may change. */
  const modelInputs = (): { names?: string[]; shapes?: Record<string, { shape: number[] }> } => {
    try {
      // Contained and a small regular file, as every file this server reads from the model folder.
      const file = inside(modelDir, 'modalfuse.json');
      if (!file || !fs.statSync(file).isFile() || fs.statSync(file).size > 64 * 1024 * 1024) return {};
      const meta = JSON.parse(fs.readFileSync(file, 'utf8')) as {
        inputModalities?: string[];
        modalities?: Record<string, { shape: number[] }>;
      };
      return { names: Array.isArray(meta.inputModalities) ? meta.inputModalities : undefined, shapes: meta.modalities };
    } catch {
      return {}; // the page reports a broken model folder itself
    }
  };

  let hosts = new Set<string>();
  const server = http.createServer((req, res) => {
    try {
      if (!hosts.has((req.headers.host ?? '').toLowerCase())) {
        send(res, 403, 'forbidden: this server answers only requests for its own loopback address\n', MIME['.txt']);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(res, 405, 'only GET and HEAD\n', MIME['.txt']);
        return;
      }
      const raw = req.url ?? '/';
      let url: URL;
      let p: string;
      try {
        if (!raw.startsWith('/') || raw.startsWith('//')) throw new Error('not a path');
        url = new URL(raw, 'http://localhost');
        p = decodeURIComponent(url.pathname);
      } catch {
        send(res, 400, 'bad URL\n', MIME['.txt']);
        return;
      }
      if (p === '/info') {
        sendJson(res, 200, {
          schemaVersion: 1,
          library: LIBRARY,
          model: '/model/',
          bundle: '/lib/modalfuse.js',
          report: reportDir ? '/report/' : null,
          dataset: dataset?.name ?? null,
        });
        return;
      }
      if (p === '/samples') {
        const n = Number(url.searchParams.get('n') ?? 20);
        if (!Number.isInteger(n) || n < 0 || n > 1000) {
          sendJson(res, 400, { error: `n must be an integer in 0..1000, found "${url.searchParams.get('n')}"` });
          return;
        }
        try {
          const { names, shapes } = modelInputs();
          sendJson(res, 200, demoSamples(dataset, n, names, shapes));
        } catch (e) {
          sendJson(res, 400, { error: (e as Error).message });
        }
        return;
      }
      if (p === '/model' || p === '/report' || p === '/lib') {
        res.writeHead(301, headers(MIME['.txt'], { Location: `${p}/` }));
        res.end();
        return;
      }
      if (p.startsWith('/model/')) return sendFile(req, res, modelDir, p.slice('/model/'.length));
      if (p.startsWith('/lib/')) return sendFile(req, res, libDir, p.slice('/lib/'.length));
      if (p.startsWith('/report/')) return sendFile(req, res, reportDir, p.slice('/report/'.length), CSP_REPORT);
      return sendFile(req, res, webDir, p === '/' ? 'index.html' : p.slice(1));
    } catch (e) {
      if (!res.headersSent) send(res, 500, 'internal error\n', MIME['.txt']);
      else res.destroy();
    }
  });

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new ModalfuseError(`port ${opts.port ?? 8080} is in use (choose another with --port, or 0 for any free port)`, { found: `${host}:${opts.port ?? 8080}` })
          : e,
      ),
    );
    server.listen(opts.port ?? 8080, host, () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port ?? 8080;
  hosts = allowedHosts(host, port);
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
