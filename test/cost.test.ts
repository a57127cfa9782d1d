/**
 * Every method states its cost before it is built, from the same encoder and head
 * descriptions that build the model: the estimate equals the built model's accounting
 * (src/eval/cost.ts) for every built-in method, on vectors, sequences and images, with
 * per-modality options.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../src/backend/index.js';
import { FusionModel } from '../src/models/fusion_model.js';
import { getMethod, incompatibility, methodNamesFor, resolveOptions } from '../src/registry/index.js';
import { fusionModelCost } from '../src/eval/cost.js';
import { SIMPLE_METHODS, TENSOR_METHODS } from '../src/methods/index.js';
import { smallDataset } from './helpers.js';
import type { Dataset } from '../src/data/types.js';

before(async () => {
  await initBackend({ backend: 'wasm' });
});

const CLS = { kind: 'classification' as const, classes: ['x', 'y', 'z'] };
const SETS: [string, Dataset, Record<string, unknown>][] = [
  ['vectors', smallDataset({ a: { kind: 'vector', shape: [6] }, b: { kind: 'vector', shape: [5] } }, CLS, { train: 8 }), { hidden: { a: 4, b: 7 }, encoderLayers: 2, dropout: 0.1 }],
  ['aligned vectors', smallDataset({ a: { kind: 'vector', shape: [6] }, b: { kind: 'vector', shape: [6] } }, { kind: 'regression', targets: ['y', 'z'] }, { train: 8 }), { head: 'linear' }],
  ['sequences', smallDataset({ a: { kind: 'sequence', shape: [5, 3] }, b: { kind: 'sequence', shape: [5, 4] } }, CLS, { train: 8 }), { hidden: { a: 6 } }],
  ['images', smallDataset({ a: { kind: 'image', shape: [8, 8, 1] }, b: { kind: 'audio', shape: [8, 8, 2] } }, CLS, { train: 8 }), { convFilters: { a: '4', b: '3,5' }, convBatchNorm: { b: true }, hidden: 5 }],
];

for (const [what, data, given] of SETS) {
  test(`cost before building equals the built model's cost for every method on ${what}`, () => {
    const spec = { task: data.task, modalities: data.modalities };
    let checked = 0;
    for (const name of methodNamesFor(spec)) {
      const entry = getMethod(name, spec);
      const options = resolveOptions(entry, Object.fromEntries(Object.entries(given).filter(([k]) => k in { ...entry.options, hidden: 1, encoderLayers: 1, dropout: 1, head: 1, convFilters: 1, convBatchNorm: 1 })), Object.keys(spec.modalities).sort());
      if (incompatibility(entry, spec, options)) continue;
      if (!entry.cost) {
        // the simple and tensor families state their cost; newer families may not yet
        assert.ok(!(SIMPLE_METHODS.includes(name) || TENSOR_METHODS.includes(name) || entry.family === 'unimodal'), `${name} has no cost before it is built`);
        continue;
      }
      const fm = FusionModel.create(name, spec, options, { seed: 1 });
      assert.deepEqual(entry.cost!(spec, options), fusionModelCost(fm), `${name} on ${what}`);
      fm.dispose();
      checked++;
    }
    assert.ok(checked >= 8, `only ${checked} methods checked`);
  });
}
