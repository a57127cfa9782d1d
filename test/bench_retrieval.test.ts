/**
 * Issue 13, benchmarks: `runBench` with a `task` scores classification data as retrieval
 * (dssm on synthetic:redundant a->b, robustness with retrieval metrics); the AV-MNIST
 * protocol trains dssm's towers on the frozen unimodal features as audio -> image
 * retrieval (block avmnist:retrieval, both directions, robustness) beside ae-fusion and
 * gan-fusion in the avmnist block (gan-fusion's named losses in its curve), and the result
 * is a valid results.json.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { buildAvmnist } from '../src/datasets/avmnist/build.js';
import type { Dataset } from '../src/data/types.js';
import { runBench } from '../src/experiments/bench.js';
import { runAvmnistProtocol } from '../src/experiments/avmnist_protocol.js';
import { tmpDir } from './helpers.js';
import Ajv2020Module from 'ajv/dist/2020.js';

type AjvCtor = new (o: Record<string, unknown>) => { compile(s: unknown): ((d: unknown) => boolean) & { errors?: unknown } };
const Ajv2020 = ((Ajv2020Module as unknown as { default?: AjvCtor }).default ?? Ajv2020Module) as unknown as AjvCtor;
const validate = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(JSON.parse(fs.readFileSync(path.resolve('schema/results.schema.json'), 'utf8')));
const RETRIEVAL_KEYS = ['recallAt1', 'recallAt5', 'recallAt10', 'map', 'mrr', 'reverseRecallAt1', 'reverseMap', 'reverseMrr'];

let built: Dataset;
before(async () => {
  await initBackend({ backend: 'wasm' });
  built = await buildAvmnist({ fsdd: path.resolve('../shared/data/fsdd/recordings'), limit: 300, seed: 7, out: path.join(tmpDir(), 'avmnist') });
});

test('runBench with task retrieval:a->b scores dssm with retrieval metrics, robustness included', async () => {
  const r = await runBench({ datasets: ['synthetic:redundant'], task: 'retrieval:a->b', methods: ['dssm'], quick: true, robustnessLevels: [1] });
  const ds = r.datasets[0];
  assert.equal(ds.task, 'retrieval');
  assert.equal(ds.primaryMetric?.key, 'map');
  assert.equal(r.options.task, 'retrieval:a->b');
  const dssm = ds.results[0];
  for (const k of RETRIEVAL_KEYS) assert.ok(typeof dssm.metrics[k] === 'number', k);
  assert.ok(dssm.metrics.map > 0.4, `map ${dssm.metrics.map}`);
  assert.ok(dssm.robustness!.length === 4 && dssm.robustness!.every((p) => 'recallAt1' in p.metrics));
  assert.ok(validate(JSON.parse(JSON.stringify(r))), JSON.stringify(validate.errors));
});

test('AV-MNIST protocol: dssm towers on the frozen features as audio -> image retrieval; ae-fusion and gan-fusion beside the others', async () => {
  const r = await runAvmnistProtocol({
    data: built,
    unimodalEpochs: 1,
    fusionEpochs: 2,
    patience: 0,
    methods: ['concat', 'ae-fusion', 'gan-fusion', 'dssm'],
    encoderOptions: { hidden: 8, convFilters: '4,8' },
    levels: [1],
  });
  const main = r.datasets.find((d) => d.dataset === 'avmnist')!;
  assert.deepEqual(main.results.map((x) => x.method), ['audio-only', 'image-only', 'concat', 'ae-fusion', 'gan-fusion']);
  const gan = main.results.find((x) => x.method === 'gan-fusion')!;
  assert.deepEqual(Object.keys(gan.history[0].losses ?? {}).sort(), ['discriminator', 'generator', 'loss', 'task']);
  const ae = main.results.find((x) => x.method === 'ae-fusion')!;
  assert.equal(ae.robustness!.filter((p) => p.corruption === 'missing').length, 2);
  const ret = r.datasets.find((d) => d.dataset === 'avmnist:retrieval')!;
  assert.equal(ret.task, 'retrieval');
  const dssm = ret.results[0];
  assert.equal(dssm.method, 'dssm');
  assert.equal(dssm.encoders, 'frozen');
  for (const k of RETRIEVAL_KEYS) assert.ok(typeof dssm.metrics[k] === 'number', k);
  assert.ok(dssm.robustness!.length === 4 && dssm.robustness!.every((p) => 'recallAt1' in p.metrics));
  assert.equal(r.options.task, 'retrieval:audio->image');
  assert.ok(validate(JSON.parse(JSON.stringify(r))), JSON.stringify(validate.errors));
});

test('AV-MNIST protocol: the unimodal networks are cached per seed and reused, with the same results', async () => {
  const cache = tmpDir('modalfuse-unimodal-cache-');
  const run = (log: string[], seed = 1) =>
    runAvmnistProtocol({ data: built, unimodalEpochs: 1, fusionEpochs: 1, patience: 0, seed, methods: ['concat'], encoderOptions: { hidden: 8, convFilters: '4,8' }, robustness: false, unimodalCache: cache, log: (l) => log.push(l) });
  const first: string[] = [];
  const a = await run(first);
  assert.ok(!first.some((l) => l.includes('from the cache')));
  const second: string[] = [];
  const b = await run(second);
  assert.equal(second.filter((l) => l.includes('from the cache')).length, 2, second.join('\n'));
  assert.ok(!second.some((l) => /audio-only: epoch/.test(l)), 'no unimodal training the second time');
  const rows = (r: typeof a) => r.datasets[0].results.map((x) => [x.method, x.metrics]);
  assert.deepEqual(rows(b), rows(a));
  const third: string[] = [];
  await run(third, 2);
  assert.ok(!third.some((l) => l.includes('from the cache')), 'another seed trains its own networks');
});
