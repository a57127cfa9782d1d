/**
 * The benchmark: `modalfuse bench` writes a results.json that validates against
 * schema/results.schema.json and a self-contained index.html; the method plan (defaults,
 * slow methods, --set); and the page renderer on results of every shape (run against a
 * minimal DOM stand-in).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { fileURLToPath } from 'node:url';
import Ajv2020Module from 'ajv/dist/2020.js';
import { initBackend } from '../src/backend/index.js';
import { ModalfuseError } from '../src/errors.js';
import { planBench, runBench, sampleStd, type BenchResults } from '../src/experiments/bench.js';
import { register } from '../src/registry/index.js';
import { renderReport, writeReport, RESULTS_ELEMENT_ID } from '../src/report/html.js';
import { formatResultsTable } from '../src/report/table.js';
import '../src/models/fusion_model.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
const CLI = path.resolve(here, '../src/cli/main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modalfuse-bench-test-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

type AjvCtor = new (o: Record<string, unknown>) => { compile(s: unknown): ((d: unknown) => boolean) & { errors?: unknown } };
const Ajv2020 = ((Ajv2020Module as unknown as { default?: AjvCtor }).default ?? Ajv2020Module) as unknown as AjvCtor;
const schema = JSON.parse(fs.readFileSync(path.join(repoRoot, 'schema/results.schema.json'), 'utf8'));
const validate = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);

function assertValid(results: unknown): void {
  assert.ok(validate(results), `results.json does not match the schema: ${JSON.stringify(validate.errors, null, 1)}`);
}

function embeddedJson(html: string): unknown {
  const m = new RegExp(`<script type="application/json" id="${RESULTS_ELEMENT_ID}">([\\s\\S]*?)</script>`).exec(html);
  assert.ok(m, 'embedded results block');
  return JSON.parse(m[1]);
}

test('bench CLI writes results.json (valid against the schema) and a self-contained index.html', () => {
  const out = path.join(tmp, 'report');
  const r = spawnSync(
    process.execPath,
    [CLI, 'bench', '--dataset', 'synthetic:redundant', '--dataset', 'synthetic:regression', '--methods', 'concat,late-mean,a-only', '--seeds', '1,2', '--epochs', '2', '--quick', '--set', 'units=8', '--set', 'hidden=16', '--out', out],
    { encoding: 'utf8', cwd: tmp, timeout: 120_000 },
  );
  // units is declared by none of concat, late-mean, a-only
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /modalfuse: option "units" is not an option of any selected method/);

  const r2 = spawnSync(
    process.execPath,
    [CLI, 'bench', '--dataset', 'synthetic:redundant', '--dataset', 'synthetic:regression', '--methods', 'concat,late-mean,a-only,sum', '--seeds', '1,2', '--epochs', '2', '--quick', '--set', 'units=8', '--set', 'hidden=16', '--out', out],
    { encoding: 'utf8', cwd: tmp, timeout: 120_000 },
  );
  assert.equal(r2.status, 0, r2.stderr);
  assert.match(r2.stdout, /^synthetic:redundant \(classification; accuracy higher is better\)/m);
  assert.match(r2.stdout, /late-mean/);
  assert.match(r2.stderr, /\[20\/20\]/, 'progress on stderr (constant, the floor, runs in every table)');
  const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as BenchResults;
  assertValid(results);
  assert.equal(results.schemaVersion, 1);
  assert.deepEqual(results.options.seeds, [1, 2]);
  assert.equal(results.options.epochs, 2);
  assert.equal(results.options.quick, true);
  assert.deepEqual(results.datasets.map((d) => d.dataset), ['synthetic:redundant', 'synthetic:regression']);
  const red = results.datasets[0];
  assert.deepEqual(red.results.map((x) => x.method), ['concat', 'late-mean', 'a-only', 'sum', 'constant']);
  for (const x of red.results) {
    assert.ok(x.metricsStd && typeof x.metricsStd.accuracy === 'number', 'std over two seeds');
    assert.equal(x.confusion!.length, 4);
    assert.equal(x.confusion!.flat().reduce((a, b) => a + b, 0), red.splits!.test);
    assert.equal(x.history.length, 2);
    assert.equal(x.options.hidden, 16, '--set hidden applies to every method');
    assert.ok(x.params > 0 && x.flopsPerSample > 0 && x.trainSamplesPerSec > 0);
    const mods = x.method === 'a-only' || x.method === 'constant' ? ['a'] : ['a', 'b'];
    assert.deepEqual([...new Set(x.robustness!.map((e) => e.modality))], mods, 'robustness sweep over the modalities the model reads');
    assert.ok(x.robustness!.some((e) => e.corruption === 'missing') && x.robustness!.some((e) => e.corruption === 'noise'));
  }
  assert.equal(red.results.find((x) => x.method === 'sum')!.options.units, 8, '--set units applies to sum');
  assert.ok(!('units' in red.results[0].options), 'and not to concat');
  assert.equal(results.datasets[1].results[0].confusion, undefined, 'no confusion matrix for regression');

  const html = fs.readFileSync(path.join(out, 'index.html'), 'utf8');
  assert.deepEqual(embeddedJson(html), results);
  assert.match(html, /Chart\.js v4/, 'chart.js inlined');
  assert.ok(!/<script[^>]+src=/.test(html) && !/https?:\/\/cdn/.test(html), 'no external scripts');
  assert.match(html, /function clientRender\(\)/);
});

test('default plan: registered methods that fit plus {modality}-only, not slow ones; --set checks', async () => {
  register({
    name: 'test-slow',
    family: 'test',
    level: 'feature',
    description: 'a slow method (test)',
    citation: '',
    tasks: ['classification'],
    modalityKinds: 'any',
    minModalities: 2,
    slow: true,
    options: { width: { type: 'integer', default: 4, min: 1, description: 'test' } },
    build(ctx) {
      return { outputs: { main: ctx.head(ctx.encode(ctx.modalities[0]), 'head') } };
    },
  });
  const p = await planBench({ datasets: ['synthetic:redundant'], quick: true });
  const names = p.datasets[0].runs.map((r) => r.method);
  for (const m of ['concat', 'sum', 'late-mean', 'hybrid', 'a-only', 'b-only']) assert.ok(names.includes(m), m);
  assert.ok(!names.includes('test-slow'));
  assert.ok(!names.includes('pixel'), 'pixel does not fit vectors of different widths');
  assert.ok(p.skipped.some((s) => s.method === 'pixel' && /pixel/.test(s.reason)));
  assert.ok(p.skipped.some((s) => s.method === 'test-slow' && /slow/.test(s.reason)));

  const named = await planBench({ datasets: ['synthetic:redundant'], quick: true, methods: ['test-slow', 'concat'], set: { width: '7' } });
  assert.deepEqual(named.datasets[0].runs.map((r) => [r.method, r.options.width]), [['test-slow', 7], ['concat', undefined], ['constant', undefined]]);
  // a method that fits only some data sets is skipped on the others
  const mixed = await planBench({ datasets: ['synthetic:redundant', 'synthetic:regression'], quick: true, methods: ['test-slow'] });
  assert.deepEqual(mixed.datasets.map((d) => d.runs.map((r) => r.method)), [['test-slow', 'constant'], ['constant']]);
  assert.ok(mixed.skipped.some((s) => s.dataset === 'synthetic:regression' && s.method === 'test-slow'));

  await assert.rejects(planBench({ datasets: ['synthetic:redundant'], quick: true, methods: ['concat'], set: { width: 3 } }), (e) => e instanceof ModalfuseError && /"width"/.test(e.message));
  await assert.rejects(planBench({ datasets: ['synthetic:redundant'], quick: true, set: { hidden: 'abc' } }), ModalfuseError);
  await assert.rejects(planBench({ datasets: ['synthetic:redundant'], methods: ['nope'] }), /unknown method "nope"/);
  await assert.rejects(planBench({ datasets: ['nope'] }), /unknown data set/);
});

test('runBench in the library: mean and std over seeds; report writes and renders', async () => {
  await initBackend();
  assert.equal(sampleStd([1, 2, 3]), 1);
  assert.equal(sampleStd([5]), 0);
  const logs: string[] = [];
  const res = await runBench({ datasets: ['synthetic:unique'], methods: ['concat'], seeds: [3], epochs: 1, quick: true, robustness: false, log: (l) => logs.push(l) });
  assertValid(res);
  assert.equal(res.datasets[0].results[0].robustness, undefined, 'robustness: false');
  assert.equal(res.datasets[0].results[0].metricsStd, undefined, 'no std with one seed');
  assert.ok(logs.some((l) => /\[1\/2\] synthetic:unique concat seed 3/.test(l)));
  assert.match(formatResultsTable(res), /concat/);
  const dir = path.join(tmp, 'lib-report');
  const { resultsFile, reportFile } = writeReport(dir, res);
  assert.deepEqual(JSON.parse(fs.readFileSync(resultsFile, 'utf8')), JSON.parse(JSON.stringify(res)));
  assert.deepEqual(embeddedJson(fs.readFileSync(reportFile, 'utf8')), JSON.parse(JSON.stringify(res)));
});

// ---------------------------------------------------------------- the page renderer

/** Just enough DOM for the renderer: elements, text, attributes, getElementById. */
class FakeNode {
  children: FakeNode[] = [];
  attrs: Record<string, string> = {};
  parent: FakeNode | null = null;
  className = '';
  private text = '';
  constructor(
    readonly tag: string,
    text = '',
  ) {
    this.text = text;
  }
  get textContent(): string {
    return this.tag === '#text' ? this.text : this.text + this.children.map((c) => c.textContent).join('');
  }
  set textContent(v: string) {
    this.text = v;
    this.children = [];
  }
  get childNodes() {
    return this.children;
  }
  appendChild(c: FakeNode) {
    c.parent = this;
    this.children.push(c);
    return c;
  }
  setAttribute(k: string, v: string) {
    this.attrs[k] = v;
  }
  replaceWith(n: FakeNode) {
    const p = this.parent!;
    p.children[p.children.indexOf(this)] = n;
    n.parent = p;
  }
  all(tag: string): FakeNode[] {
    return [...(this.tag === tag ? [this as FakeNode] : []), ...this.children.flatMap((c) => c.all(tag))];
  }
}

function renderInFakeDom(results: unknown): { root: FakeNode; charts: { type: string; data: { datasets: { label: string; data: unknown[] }[] } }[] } {
  const html = renderReport(results as Record<string, unknown>);
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
  const renderer = scripts.find((s) => s.includes('clientRender'))!;
  const root = new FakeNode('main');
  const json = new FakeNode('script', JSON.stringify(embeddedJson(html)));
  const charts: { type: string; data: { datasets: { label: string; data: unknown[] }[] } }[] = [];
  const document = {
    getElementById: (id: string) => (id === 'report' ? root : id === RESULTS_ELEMENT_ID ? json : null),
    createElement: (tag: string) => new FakeNode(tag),
    createTextNode: (t: string) => new FakeNode('#text', t),
  };
  class Chart {
    constructor(_canvas: unknown, config: (typeof charts)[number]) {
      charts.push(config);
    }
  }
  const context = vm.createContext({ document, Chart, console });
  (context as Record<string, unknown>).globalThis = context;
  vm.runInContext(renderer, context);
  // (objects made inside the vm context have its prototypes: compare them as plain JSON)
  return { root, charts: JSON.parse(JSON.stringify(charts)) };
}

test('the page renderer draws any results: tables, charts, robustness, confusion, partial files', () => {
  const hist = (n: number) => Array.from({ length: n }, (_, i) => ({ epoch: i + 1, loss: 1 / (i + 1), valid: { accuracy: 0.5 + i / 10 } }));
  const full = {
    schemaVersion: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    library: 'modalfuse@0.1.0',
    backend: 'wasm',
    options: { seeds: [1, 2], epochs: 3, quick: false },
    datasets: [
      {
        dataset: 'toy',
        task: 'classification',
        classes: ['no', 'yes'],
        results: ['concat', 'lmf'].map((m, k) => ({
          method: m,
          options: {},
          seeds: [1, 2],
          params: 1000 * (k + 1),
          flopsPerSample: 2000,
          activationBytesPerSample: 512,
          trainSamplesPerSec: 1e4,
          inferSamplesPerSec: 1e5,
          trainSeconds: 1.5,
          metrics: { accuracy: 0.8 + k / 10, f1: 0.7 },
          metricsStd: { accuracy: 0.01, f1: 0.02 },
          history: hist(3),
          confusion: [
            [40, 10],
            [5, 45],
          ],
          robustness: [
            { modality: 'audio', corruption: 'missing', level: 1, metrics: { accuracy: 0.6 } },
            { modality: 'image', corruption: 'missing', level: 1, metrics: { accuracy: 0.5 } },
            ...[0.5, 1, 2].flatMap((level) => [
              { modality: 'audio', corruption: 'noise', level, metrics: { accuracy: 0.9 - level / 3 } },
              { modality: 'image', corruption: 'noise', level, metrics: { accuracy: 0.9 - level / 4 } },
            ]),
          ],
        })),
      },
    ],
    skipped: [{ dataset: 'toy', method: 'pixel', reason: 'not aligned' }],
  };
  assertValid(full);
  const a = renderInFakeDom(full);
  const text = a.root.textContent;
  assert.match(text, /toy/);
  assert.match(text, /0\.9000 ± 0\.0100/);
  assert.match(text, /confusion matrix: lmf \(best by accuracy\)/);
  assert.match(text, /not aligned/);
  assert.deepEqual(
    a.charts.map((c) => c.type),
    ['scatter', 'line', 'line', 'bar', 'line', 'line'],
    'scatter, loss, valid metric, missing modality (bars), noise per modality (curves)',
  );
  assert.deepEqual(a.charts[0].data.datasets.map((d) => d.label), ['concat', 'lmf']);
  assert.deepEqual(a.charts[3].data.datasets[1].data, [0.6, 0.5], 'lmf with audio, image missing');
  assert.deepEqual(a.charts[4].data.datasets[1].data, [
    { x: 0, y: 0.9 },
    { x: 0.5, y: 0.9 - 0.5 / 3 },
    { x: 1, y: 0.9 - 1 / 3 },
    { x: 2, y: 0.9 - 2 / 3 },
  ], 'noise on audio: clean point first');
  assert.equal(a.root.all('table').length, 2, 'results table and confusion matrix');

  // Minimal and odd files still render without throwing.
  for (const partial of [
    {},
    { datasets: [] },
    { datasets: [{ dataset: 'r', task: 'regression', results: [{ method: 'x', metrics: { mae: 0.3 } }] }] },
    { datasets: [{ dataset: 'm', task: 'multilabel', results: [{ method: 'x', metrics: { microF1: 0.3, accuracy: null }, history: [{ epoch: 1, loss: null }] }, null] }] },
    { datasets: [{ dataset: 'u', results: [{ method: 'x', metrics: { custom: 1 }, robustness: [{ modality: 'a', corruption: 'noise', level: 0.1, metrics: {} }] }] }] },
  ]) {
    const r = renderInFakeDom(partial);
    assert.match(r.root.textContent, /modalfuse benchmark/);
  }
});

test('the page renderer on AV-MNIST protocol results: encoders and fusion params columns, the protocol note', () => {
  const row = (method: string, encoders: string, fusionParams?: number) => ({
    method,
    encoders,
    ...(fusionParams !== undefined ? { fusionParams } : {}),
    options: {},
    seeds: [1],
    params: 100_000,
    flopsPerSample: 1e6,
    activationBytesPerSample: 1024,
    trainSamplesPerSec: 1e3,
    inferSamplesPerSec: 1e4,
    trainSeconds: 1,
    metrics: { accuracy: 0.5, f1: 0.5 },
    history: [{ epoch: 1, loss: 1 }],
    robustness: [{ modality: 'audio', corruption: 'missing', level: 1, metrics: { accuracy: 0.3 } }],
  });
  const results = {
    schemaVersion: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    library: 'modalfuse@0.1.0',
    backend: 'wasm',
    options: { seeds: [1], epochs: 2, quick: true, modalityDropout: 0.3 },
    protocol: { unimodalEpochs: 3, fusionEpochs: 2 },
    datasets: [
      { dataset: 'avmnist', task: 'classification', results: [row('audio-only', 'trained'), row('concat', 'frozen', 4810)] },
      { dataset: 'avmnist:end-to-end', task: 'classification', results: [row('concat', 'end-to-end')] },
    ],
  };
  assertValid(results);
  const { root } = renderInFakeDom(results);
  const text = root.textContent;
  assert.match(text, /modality dropout 0\.3/);
  assert.match(text, /trained first \(≤ 3 epochs\).*frozen encoder features \(≤ 2 epochs\)/);
  assert.match(text, /End-to-end rows train encoders and fusion jointly/);
  const heads = root.all('th').map((t) => t.textContent);
  assert.ok(heads.includes('encoders') && heads.includes('fusion params'), heads.join(','));
  assert.match(text, /frozen/);
  assert.match(text, /4,810/);
  assert.match(formatResultsTable(results as unknown as BenchResults), /^concat\s+frozen\s+0\.5000/m);
});
