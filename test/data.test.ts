import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ModalfuseError } from '../src/errors.js';
import { packageRoot } from '../src/util/package_root.js';
import { loadMfn } from '../src/datasets/mfn.js';
import {
  encodeNpy,
  hdf5Ready,
  parseCsv,
  parseNpy,
  readCsv,
  readDatasetFolder,
  readHdf5,
  readNpy,
  validateDataset,
  validateManifest,
  writeDatasetFolder,
  writeNpy,
  type Dataset,
  type SplitName,
} from '../src/data/index.js';

// ---------------------------------------------------------------- helpers

const repoRoot = packageRoot();
const sharedData = path.resolve(repoRoot, '../shared/data');
const mfnDir = path.join(sharedData, 'mfn');
const noMfn = fs.existsSync(mfnDir) ? false : `shared data not found at ${mfnDir}`;

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'modalfuse-data-test-'));
let tmpCount = 0;
function tmpDir(): string {
  const d = path.join(tmpRoot, String(tmpCount++));
  fs.mkdirSync(d, { recursive: true });
  return d;
}
process.on('exit', () => fs.rmSync(tmpRoot, { recursive: true, force: true }));

function checkError(e: unknown, parts: string[]): true {
  assert.ok(e instanceof ModalfuseError, `expected a ModalfuseError, got ${String(e)}`);
  for (const p of parts) assert.ok(e.message.includes(p), `message ${JSON.stringify(e.message)} does not include ${JSON.stringify(p)}`);
  return true;
}
function throwsMf(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => checkError(e, parts));
}
async function rejectsMf(fn: () => Promise<unknown>, ...parts: string[]): Promise<void> {
  await assert.rejects(fn, (e: unknown) => checkError(e, parts));
}

/** Builds .npy bytes by hand: any descr, any header text, v1 or v2 length field. */
function npyBytes(descr: string, shape: number[], body: Uint8Array, opts: { version?: 1 | 2; fortran?: boolean; pad?: number } = {}): Uint8Array {
  const version = opts.version ?? 1;
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${descr}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  dict += ' '.repeat(opts.pad ?? 0) + '\n';
  const prefix = version === 1 ? 10 : 12;
  const out = new Uint8Array(prefix + dict.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, dict.length, true);
  else dv.setUint32(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[prefix + i] = dict.charCodeAt(i);
  out.set(body, prefix + dict.length);
  return out;
}

/** A small deterministic dataset: image [2,2,1] and stats [3], 3 classes. */
function smallDataset(): Dataset {
  const make = (n: number, seed: number) => {
    const image = new Float32Array(n * 4).map((_, i) => ((i * 7 + seed) % 11) / 10);
    const stats = new Float32Array(n * 3).map((_, i) => ((i * 5 + seed) % 13) - 6.5);
    const labels = new Int32Array(n).map((_, i) => (i + seed) % 3);
    return { n, features: { image, stats }, labels };
  };
  return {
    name: 'small',
    task: { kind: 'classification', classes: ['a', 'b', 'c'] },
    modalities: { stats: { kind: 'vector', shape: [3] }, image: { kind: 'image', shape: [2, 2, 1] } },
    splits: { train: make(6, 1), valid: make(2, 2), test: make(3, 3) },
    provenance: { seed: 7, note: 'test' },
  };
}

function goodManifest(): Record<string, unknown> {
  return {
    schemaVersion: 1,
    name: 'm',
    task: { kind: 'classification', classes: ['0', '1', '2'] },
    modalities: { audio: { kind: 'audio', shape: [4, 2] }, text: { kind: 'sequence', shape: [5, 3] } },
    splits: { train: 10, test: 4 },
  };
}

// ---------------------------------------------------------------- .npy

test('npy: float32 and int32 round trip, header aligned to 64 bytes', () => {
  const dir = tmpDir();
  const f = new Float32Array([0, 1.5, -2.25, 3e-8, 1e30, -0]);
  const fFile = path.join(dir, 'f.npy');
  writeNpy(fFile, f, [2, 3]);
  const bytes = fs.readFileSync(fFile);
  assert.equal(bytes[6], 1); // version 1.0
  const headerTotal = 10 + bytes.readUInt16LE(8);
  assert.equal(headerTotal % 64, 0);
  assert.equal(bytes[headerTotal - 1], 0x0a);
  const rf = readNpy(fFile);
  assert.equal(rf.dtype, '<f4');
  assert.deepEqual(rf.shape, [2, 3]);
  assert.ok(rf.data instanceof Float32Array);
  assert.deepEqual(Array.from(rf.data), Array.from(f));

  const i = new Int32Array([5, -1, 2147483647, -2147483648]);
  const iFile = path.join(dir, 'i.npy');
  writeNpy(iFile, i, [4]);
  const ri = readNpy(iFile);
  assert.equal(ri.dtype, '<i4');
  assert.deepEqual(ri.shape, [4]);
  assert.ok(ri.data instanceof Int32Array);
  assert.deepEqual(Array.from(ri.data), Array.from(i));

  // scalar and empty arrays
  const s = parseNpy(encodeNpy(new Float32Array([4]), []));
  assert.deepEqual(s.shape, []);
  assert.deepEqual(Array.from(s.data), [4]);
  const e = parseNpy(encodeNpy(new Int32Array(0), [0, 5]));
  assert.deepEqual(e.shape, [0, 5]);
  assert.equal(e.data.length, 0);

  throwsMf(() => writeNpy(path.join(dir, 'bad.npy'), new Float32Array(5), [2, 3]), 'bad.npy', '6 values', '5 values');
});

test('npy: reads hand-built float64, int64, big-endian, uint8/uint16 and v2.0 files', () => {
  // <f8, v1.0, header length chosen so the data offset is not a multiple of 8.
  const f8 = new Float64Array([1 / 3, -2.5, 1e-300, 7]);
  const b = npyBytes('<f8', [2, 2], new Uint8Array(f8.buffer), { pad: 3 });
  assert.notEqual((b.length - 32) % 8, 0);
  const dir = tmpDir();
  const file = path.join(dir, 'f8.npy');
  fs.writeFileSync(file, b);
  const r = readNpy(file);
  assert.equal(r.dtype, '<f8');
  assert.deepEqual(r.shape, [2, 2]);
  assert.ok(r.data instanceof Float32Array);
  assert.deepEqual(Array.from(r.data), Array.from(Float32Array.from(f8)));

  // <i8 as v2.0 -> Int32Array
  const i8 = new BigInt64Array([0n, 2n, -1n]);
  const ri8 = parseNpy(npyBytes('<i8', [3], new Uint8Array(i8.buffer), { version: 2 }));
  assert.ok(ri8.data instanceof Int32Array);
  assert.deepEqual(Array.from(ri8.data), [0, 2, -1]);

  // >f8 big-endian
  const be = new Uint8Array(16);
  const dv = new DataView(be.buffer);
  dv.setFloat64(0, 1.25, false);
  dv.setFloat64(8, -3, false);
  assert.deepEqual(Array.from(parseNpy(npyBytes('>f8', [2], be)).data), [1.25, -3]);

  // |u1 and <u2
  const u1 = parseNpy(npyBytes('|u1', [3], new Uint8Array([0, 128, 255])));
  assert.ok(u1.data instanceof Uint8Array);
  assert.deepEqual(Array.from(u1.data), [0, 128, 255]);
  const u2 = parseNpy(npyBytes('<u2', [2], new Uint8Array(new Uint16Array([1, 65535]).buffer)));
  assert.ok(u2.data instanceof Uint16Array);
  assert.deepEqual(Array.from(u2.data), [1, 65535]);
});

test('npy: bad files are ModalfuseErrors naming the file', () => {
  const dir = tmpDir();
  throwsMf(() => readNpy(path.join(dir, 'missing.npy')), 'file not found', 'missing.npy');
  const fort = path.join(dir, 'fortran.npy');
  fs.writeFileSync(fort, npyBytes('<f4', [2, 3], new Uint8Array(24), { fortran: true }));
  throwsMf(() => readNpy(fort), 'Fortran', 'fortran.npy', 'fortran_order: False', 'fortran_order: True');
  const trunc = path.join(dir, 'trunc.npy');
  fs.writeFileSync(trunc, npyBytes('<f4', [2, 3], new Uint8Array(20)));
  throwsMf(() => readNpy(trunc), 'truncated', 'trunc.npy', '24 data bytes', '20 bytes');
  const notNpy = path.join(dir, 'text.npy');
  fs.writeFileSync(notNpy, 'hello world, not numpy');
  throwsMf(() => readNpy(notNpy), 'not a NumPy', 'text.npy');
  throwsMf(() => parseNpy(npyBytes('<c8', [1], new Uint8Array(8)), 'c.npy'), 'unsupported', 'c.npy', '<c8');
});

// ---------------------------------------------------------------- dataset folder

test('folder: classification dataset round trip', () => {
  const dir = path.join(tmpDir(), 'ds');
  const ds = smallDataset();
  writeDatasetFolder(dir, ds);
  const files = fs.readdirSync(dir).sort();
  assert.deepEqual(files, [
    'dataset.json',
    'image.test.npy',
    'image.train.npy',
    'image.valid.npy',
    'labels.test.npy',
    'labels.train.npy',
    'labels.valid.npy',
    'stats.test.npy',
    'stats.train.npy',
    'stats.valid.npy',
  ]);
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'dataset.json'), 'utf8'));
  assert.equal(manifest.schemaVersion, 1);
  assert.deepEqual(manifest.splits, { train: 6, valid: 2, test: 3 });
  assert.deepEqual(readNpy(path.join(dir, 'image.train.npy')).shape, [6, 2, 2, 1]);
  assert.equal(readNpy(path.join(dir, 'labels.train.npy')).dtype, '<i4');

  const back = readDatasetFolder(dir);
  assert.equal(back.name, 'small');
  assert.deepEqual(back.task, ds.task);
  assert.deepEqual(back.modalities, { image: ds.modalities.image, stats: ds.modalities.stats });
  assert.deepEqual(back.provenance, ds.provenance);
  for (const s of ['train', 'valid', 'test'] as SplitName[]) {
    const a = ds.splits[s]!;
    const b = back.splits[s]!;
    assert.equal(b.n, a.n);
    assert.ok(b.labels instanceof Int32Array);
    assert.deepEqual(Array.from(b.labels), Array.from(a.labels));
    for (const m of ['image', 'stats']) assert.deepEqual(Array.from(b.features[m]), Array.from(a.features[m]));
  }
  const only = readDatasetFolder(dir, { splits: ['test'] });
  assert.deepEqual(Object.keys(only.splits), ['test']);
  throwsMf(() => readDatasetFolder(path.join(tmpDir(), 'x'), { splits: ['train'] }), 'not found');
});

test('folder: regression and multilabel round trip; float64 features and int64/float labels are converted', () => {
  const reg: Dataset = {
    name: 'reg',
    task: { kind: 'regression', targets: ['y1', 'y2'] },
    modalities: { v: { kind: 'vector', shape: [2] } },
    splits: { train: { n: 3, features: { v: new Float32Array([1, 2, 3, 4, 5, 6]) }, labels: new Float32Array([0.5, 1, 1.5, 2, -2.5, 3]) } },
  };
  const d1 = tmpDir();
  writeDatasetFolder(d1, reg);
  assert.deepEqual(readNpy(path.join(d1, 'labels.train.npy')).shape, [3, 2]);
  const r = readDatasetFolder(d1);
  assert.deepEqual(Array.from(r.splits.train!.labels), [0.5, 1, 1.5, 2, -2.5, 3]);
  assert.ok(r.splits.train!.labels instanceof Float32Array);

  const ml: Dataset = {
    name: 'ml',
    task: { kind: 'multilabel', labels: ['p', 'q', 'r'] },
    modalities: { v: { kind: 'vector', shape: [1] } },
    splits: { valid: { n: 2, features: { v: new Float32Array([1, 2]) }, labels: new Float32Array([1, 0, 1, 0, 0, 1]) } },
  };
  const d2 = tmpDir();
  writeDatasetFolder(d2, ml);
  assert.deepEqual(Array.from(readDatasetFolder(d2).splits.valid!.labels), [1, 0, 1, 0, 0, 1]);

  // A folder as NumPy would write it by default: float64 features, int64 labels, or float64 labels.
  const d3 = tmpDir();
  fs.writeFileSync(
    path.join(d3, 'dataset.json'),
    JSON.stringify({ schemaVersion: 1, name: 'np', task: { kind: 'classification', classes: ['x', 'y'] }, modalities: { v: { kind: 'vector', shape: [2] } }, splits: { train: 2, test: 2 } }),
  );
  const f64 = new Float64Array([0.1, 0.2, 0.3, 0.4]);
  fs.writeFileSync(path.join(d3, 'v.train.npy'), npyBytes('<f8', [2, 2], new Uint8Array(f64.buffer)));
  fs.writeFileSync(path.join(d3, 'v.test.npy'), npyBytes('<f8', [2, 2], new Uint8Array(f64.buffer)));
  fs.writeFileSync(path.join(d3, 'labels.train.npy'), npyBytes('<i8', [2], new Uint8Array(new BigInt64Array([1n, 0n]).buffer)));
  fs.writeFileSync(path.join(d3, 'labels.test.npy'), npyBytes('<f8', [2, 1], new Uint8Array(new Float64Array([0, 1]).buffer)));
  const np = readDatasetFolder(d3);
  assert.ok(np.splits.train!.features.v instanceof Float32Array);
  assert.deepEqual(Array.from(np.splits.train!.features.v), Array.from(Float32Array.from(f64)));
  assert.ok(np.splits.train!.labels instanceof Int32Array);
  assert.deepEqual(Array.from(np.splits.train!.labels), [1, 0]);
  assert.ok(np.splits.test!.labels instanceof Int32Array);
  assert.deepEqual(Array.from(np.splits.test!.labels), [0, 1]);
});

test('folder: missing folder / dataset.json / array file', () => {
  const base = tmpDir();
  throwsMf(() => readDatasetFolder(path.join(base, 'nope')), 'dataset folder not found', path.join(base, 'nope', 'dataset.json'));
  throwsMf(() => readDatasetFolder(base), 'no dataset.json', path.join(base, 'dataset.json'));

  const dir = path.join(tmpDir(), 'ds');
  writeDatasetFolder(dir, smallDataset());
  fs.rmSync(path.join(dir, 'stats.valid.npy'));
  throwsMf(
    () => readDatasetFolder(dir),
    'modality "stats" is missing from split "valid"',
    `file: ${path.join(dir, 'stats.valid.npy')}`,
    'modality: stats',
    'expected: [2, 3]',
  );
  // Reading only the other splits still works.
  assert.equal(readDatasetFolder(dir, { splits: ['train', 'test'] }).splits.train!.n, 6);
  fs.rmSync(path.join(dir, 'labels.test.npy'));
  throwsMf(() => readDatasetFolder(dir, { splits: ['test'] }), 'labels are missing', 'labels.test.npy');

  fs.writeFileSync(path.join(dir, 'dataset.json'), '{ "schemaVersion": 1, ');
  throwsMf(() => readDatasetFolder(dir), 'not valid JSON', 'dataset.json');
});

test('folder: array shape not matching dataset.json names file, modality, expected and found', () => {
  const dir = path.join(tmpDir(), 'ds');
  writeDatasetFolder(dir, smallDataset());
  const file = path.join(dir, 'image.train.npy');
  writeNpy(file, new Float32Array(6 * 4), [6, 4]);
  throwsMf(() => readDatasetFolder(dir), `file: ${file}`, 'modality: image', 'expected: [6, 2, 2, 1]', 'found: [6, 4]');
  // Wrong sample count.
  writeNpy(file, new Float32Array(5 * 4), [5, 2, 2, 1]);
  throwsMf(() => readDatasetFolder(dir), `file: ${file}`, 'modality: image', 'expected: [6, 2, 2, 1]', 'found: [5, 2, 2, 1]');
  // Labels of the wrong shape.
  writeNpy(file, new Float32Array(6 * 4), [6, 2, 2, 1]);
  const lfile = path.join(dir, 'labels.train.npy');
  writeNpy(lfile, new Int32Array(12), [6, 2]);
  throwsMf(() => readDatasetFolder(dir), `file: ${lfile}`, 'expected: [6]', 'found: [6, 2]');
});

test('folder: labels of the wrong kind or range', () => {
  const dir = path.join(tmpDir(), 'ds');
  writeDatasetFolder(dir, smallDataset());
  const lfile = path.join(dir, 'labels.train.npy');
  writeNpy(lfile, new Float32Array([0, 1, 0.5, 2, 1, 0]), [6]);
  throwsMf(() => readDatasetFolder(dir), 'integer class indices', `file: ${lfile}`, 'sample 2', 'found: 0.5');
  writeNpy(lfile, new Int32Array([0, 1, 5, 2, 1, 0]), [6]);
  throwsMf(() => readDatasetFolder(dir), 'out of range', `file: ${lfile}`, 'sample 2', 'expected: an integer in [0, 3)', 'found: 5');
  writeNpy(lfile, new Int32Array([0, 1, -1, 2, 1, 0]), [6]);
  throwsMf(() => readDatasetFolder(dir), 'out of range', 'found: -1');
});

test('folder: NaN/Inf in features names modality, split, file, first sample and count', () => {
  const dir = path.join(tmpDir(), 'ds');
  const ds = smallDataset();
  writeDatasetFolder(dir, ds);
  const file = path.join(dir, 'stats.test.npy');
  const bad = Float32Array.from(ds.splits.test!.features.stats);
  bad[4] = NaN; // sample 1, element 1
  bad[8] = Infinity; // sample 2
  writeNpy(file, bad, [3, 3]);
  throwsMf(
    () => readDatasetFolder(dir),
    'modality "stats" in split "test"',
    '2 non-finite value(s)',
    '1 NaN, 1 Inf',
    'in 2 of 3 samples',
    'first at sample 1, element 1',
    `file: ${file}`,
    'found: NaN',
  );
  // Writing refuses it too.
  const ds2 = smallDataset();
  ds2.splits.train!.features.image[5] = -Infinity;
  throwsMf(() => writeDatasetFolder(path.join(tmpDir(), 'w'), ds2), 'modality "image" in split "train"', 'first at sample 1, element 1', 'found: -Infinity');
});

// ---------------------------------------------------------------- validation

test('validateManifest: accepts a good manifest, rejects bad ones with the field named', () => {
  const m = validateManifest(goodManifest(), 'x/dataset.json');
  assert.deepEqual(m.splits, { train: 10, test: 4 });
  const bad = (edit: (j: Record<string, any>) => void, ...parts: string[]) => {
    const j = goodManifest() as Record<string, any>;
    edit(j);
    throwsMf(() => validateManifest(j, 'x/dataset.json'), 'file: x/dataset.json', ...parts);
  };
  bad((j) => (j.schemaVersion = 2), 'schemaVersion', 'expected: 1', 'found: number 2');
  bad((j) => delete j.schemaVersion, 'schemaVersion', 'found: missing');
  bad((j) => (j.name = ''), 'name');
  bad((j) => (j.task = { kind: 'ranking' }), 'unknown task kind', 'found: string "ranking"');
  bad((j) => (j.task = { kind: 'classification' }), 'task.classes');
  bad((j) => (j.task = { kind: 'classification', classes: ['a', 'a'] }), 'duplicate', 'found: a');
  bad((j) => (j.task = { kind: 'regression', targets: [] }), 'task.targets');
  bad((j) => (j.task = { kind: 'multilabel', labels: 'abc' }), 'task.labels');
  bad((j) => (j.modalities.audio.kind = 'smell'), 'unknown modality kind', 'modality: audio', 'found: string "smell"');
  bad((j) => (j.modalities.text.shape = [5, 0]), 'positive integers', 'modality: text', 'found: [5, 0]');
  bad((j) => (j.modalities.text.shape = [2.5]), 'positive integers', 'modality: text');
  bad((j) => (j.modalities = {}), 'at least one modality');
  bad((j) => (j.modalities['a.b'] = { kind: 'vector', shape: [1] }), 'bad modality name', 'modality: a.b');
  bad((j) => (j.modalities.labels = { kind: 'vector', shape: [1] }), 'bad modality name', 'modality: labels');
  bad((j) => (j.splits = { training: 3 }), 'unknown split name', 'found: training');
  bad((j) => (j.splits.train = -1), 'split count', 'found: number -1');
  bad((j) => (j.splits = {}), 'splits');
  bad((j) => (j.provenance = 'me'), 'provenance');
  throwsMf(() => validateManifest([1, 2], 'x/dataset.json'), 'JSON object', 'found: an array');

  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'dataset.json'), JSON.stringify({ ...goodManifest(), schemaVersion: 3 }));
  throwsMf(() => readDatasetFolder(dir), 'schemaVersion', path.join(dir, 'dataset.json'));
});

test('validateDataset: in-memory datasets', () => {
  validateDataset(smallDataset());
  const t = (edit: (d: Dataset) => void, ...parts: string[]) => {
    const d = smallDataset();
    edit(d);
    throwsMf(() => validateDataset(d, { file: 'mem' }), ...parts);
  };
  t((d) => delete d.splits.valid!.features.image, 'modality "image" is missing from split "valid"', 'modality: image', 'expected: [2, 2, 2, 1]');
  t((d) => (d.splits.train!.features.stats = new Float32Array(5 * 3)), 'modality: stats', 'expected: [6, 3]', 'found: [5, 3]');
  t((d) => (d.splits.train!.features.stats = new Float32Array(7)), 'modality: stats', 'not a multiple of 3');
  t((d) => ((d.splits.train!.features as Record<string, unknown>).stats = new Float64Array(18)), 'must be a Float32Array', 'found: Float64Array');
  t((d) => (d.splits.train!.features.extra = new Float32Array(6)), 'does not declare', 'modality: extra');
  t((d) => (d.splits.train!.labels = new Float32Array(6)), 'integer class indices', 'found: Float32Array');
  t((d) => (d.splits.test!.labels = new Int32Array([0, 3, 1])), 'out of range', 'sample 1', 'found: 3');
  t((d) => (d.splits.test!.labels = new Int32Array(2)), 'wrong length', 'expected: [3]', 'found: [2]');
  t((d) => (d.splits = {}), 'no splits');
  t((d) => (d.task = { kind: 'regression', targets: ['a', 'b'] }), 'regression labels', 'must be a Float32Array');
  t((d) => {
    d.task = { kind: 'regression', targets: ['a'] };
    d.splits = { train: { ...d.splits.train!, labels: new Float32Array([1, 2, NaN, 4, 5, 6]) } };
  }, 'sample 2', 'target "a"', 'finite', 'found: NaN');
  t((d) => {
    d.task = { kind: 'multilabel', labels: ['p', 'q'] };
    d.splits = { train: { ...d.splits.train!, labels: new Float32Array([1, 0, 0, 1, 2, 0, 0, 0, 1, 1, 0, 0]) } };
  }, 'sample 2', 'label "p"', '0 or 1', 'found: 2');
  t((d) => {
    d.task = { kind: 'multilabel', labels: ['p', 'q'] };
    d.splits = { train: { ...d.splits.train!, labels: new Float32Array(6) } };
  }, 'wrong size', 'expected: [6, 2]', 'found: [3, 2]');
  throwsMf(() => validateDataset(smallDataset(), { expectedSplits: { train: 7 } }), 'wrong number of samples', 'expected: 7', 'found: 6');
});

// ---------------------------------------------------------------- CSV

test('csv: header detection, delimiters, bad cells', () => {
  const dir = tmpDir();
  const withHeader = path.join(dir, 'h.csv');
  fs.writeFileSync(withHeader, 'a,b,c\r\n1,2,3\r\n4.5,-6e2,nan\r\n\r\n');
  const h = readCsv(withHeader);
  assert.deepEqual(h.header, ['a', 'b', 'c']);
  assert.deepEqual(h.shape, [2, 3]);
  assert.deepEqual(Array.from(h.data.subarray(0, 5)), [1, 2, 3, 4.5, -600]);
  assert.ok(Number.isNaN(h.data[5]));

  const noHeader = parseCsv('1,2\n3,4\n');
  assert.equal(noHeader.header, undefined);
  assert.deepEqual(noHeader.shape, [2, 2]);
  assert.deepEqual(Array.from(noHeader.data), [1, 2, 3, 4]);
  assert.deepEqual(Array.from(parseCsv('x;y\n1;2\n').data), [1, 2]);
  assert.deepEqual(Array.from(parseCsv('1\t2\n"3"\t 4\n').data), [1, 2, 3, 4]);
  assert.deepEqual(parseCsv('1,2\n', { header: true }).header, ['1', '2']);

  const badCell = path.join(dir, 'bad.csv');
  fs.writeFileSync(badCell, 'a,b,c\n1,2,3\n4,five,6\n');
  throwsMf(() => readCsv(badCell), 'row 2 (line 3), column 2 "b"', 'is not a number', `file: ${badCell}`, 'found: "five"');
  throwsMf(() => parseCsv('1,2\n3,\n', {}, 'e.csv'), 'row 2 (line 2), column 2', 'file: e.csv', 'found: an empty cell');
  throwsMf(() => parseCsv('1,2\n3,4,5\n', {}, 'w.csv'), 'row 2 (line 2)', 'wrong number of columns', 'expected: 2', 'found: 3');
  // A mixed first row is data, so its bad cell is reported.
  throwsMf(() => parseCsv('1,x\n3,4\n', {}, 'm.csv'), 'row 1 (line 1), column 2', 'found: "x"');
  throwsMf(() => readCsv(path.join(dir, 'none.csv')), 'file not found', 'none.csv');
  throwsMf(() => parseCsv('', {}, 'empty.csv'), 'no rows', 'empty.csv');
});

// ---------------------------------------------------------------- HDF5 and MFN

test('hdf5: reads the POM audio training set', { skip: noMfn }, async () => {
  const file = path.join(mfnDir, 'pom', 'audio_train.h5');
  const a = await readHdf5(file);
  assert.deepEqual(a.shape, [600, 20, 43]);
  assert.equal(a.key, 'd1');
  assert.equal(a.dtype, '<d');
  assert.ok(a.data instanceof Float32Array);
  assert.equal(a.data.length, 600 * 20 * 43);
  const same = await readHdf5(file, 'd1');
  assert.equal(same.data[12345], a.data[12345]);
  await rejectsMf(() => readHdf5(file, 'nope'), 'HDF5 key "nope" not found', `file: ${file}`, 'expected: one of d1', 'found: nope');
  await rejectsMf(() => readHdf5(path.join(mfnDir, 'pom', 'audio_none.h5')), 'file not found', 'audio_none.h5');
});

test('hdf5: not-HDF5 file, and several keys without a key argument', async () => {
  const dir = tmpDir();
  const txt = path.join(dir, 'plain.h5');
  fs.writeFileSync(txt, 'not hdf5 at all');
  await rejectsMf(() => readHdf5(txt), 'not an HDF5 file', 'plain.h5');
  const h5 = await hdf5Ready();
  const multi = path.join(dir, 'multi.h5');
  const f = new h5.File(multi, 'w');
  f.create_dataset({ name: 'a', data: new Float64Array([1, 2, 3, 4]), shape: [2, 2], dtype: '<d' });
  f.create_dataset({ name: 'b', data: new Int32Array([7, 8]), shape: [2], dtype: '<i' });
  f.close();
  await rejectsMf(() => readHdf5(multi), 'exactly one dataset', 'multi.h5', 'found: [a, b]');
  const b = await readHdf5(multi, 'b');
  assert.deepEqual(b.shape, [2]);
  assert.deepEqual(Array.from(b.data), [7, 8]);
  assert.deepEqual(Array.from((await readHdf5(multi, 'a')).data), [1, 2, 3, 4]);
});

test('mfn: POM, YouTube and MMMO load with the documented shapes and labels', { skip: noMfn }, async () => {
  const pom = await loadMfn(mfnDir, 'pom');
  assert.equal(pom.name, 'mfn:pom');
  assert.deepEqual(pom.modalities, { audio: { kind: 'sequence', shape: [20, 43] }, video: { kind: 'sequence', shape: [20, 41] } });
  assert.equal(pom.task.kind, 'regression');
  assert.equal(pom.task.kind === 'regression' && pom.task.targets.length, 17);
  assert.deepEqual([pom.splits.train!.n, pom.splits.valid!.n, pom.splits.test!.n], [600, 100, 203]);
  assert.ok(pom.splits.train!.labels instanceof Float32Array);
  assert.equal(pom.splits.train!.labels.length, 600 * 17);
  assert.match(String(pom.provenance?.source), /pliang279\/MFN/);

  const yt = await loadMfn(mfnDir, 'youtube');
  assert.deepEqual(Object.keys(yt.modalities).sort(), ['audio', 'video']); // text only in valid and test
  assert.deepEqual(yt.modalities.audio.shape, [20, 74]);
  assert.deepEqual(yt.modalities.video.shape, [20, 36]);
  assert.deepEqual(yt.task, { kind: 'classification', classes: ['0', '1', '2'] });
  assert.deepEqual([yt.splits.train!.n, yt.splits.valid!.n, yt.splits.test!.n], [173, 36, 60]);
  const labels = yt.splits.train!.labels;
  assert.ok(labels instanceof Int32Array);
  const counts = [0, 0, 0];
  for (const c of labels) counts[c]++;
  assert.deepEqual(counts, [72, 43, 58]);

  const mmmo = await loadMfn(path.join(mfnDir, 'mmmo'), 'mmmo'); // the data set's own folder works too
  assert.deepEqual(mmmo.task, { kind: 'regression', targets: ['sentiment'], acc2Threshold: 3.5 });
  assert.deepEqual(Object.keys(mmmo.modalities).sort(), ['audio', 'video']);
  assert.deepEqual([mmmo.splits.train!.n, mmmo.splits.valid!.n, mmmo.splits.test!.n], [220, 40, 80]);
  assert.equal(mmmo.splits.test!.labels.length, 80);
  assert.deepEqual(mmmo.provenance?.nonFiniteFeatureValues, {
    audio: { train: 0, valid: 0, test: 0 },
    video: { train: 0, valid: 0, test: 0 },
  });

  const validOnly = await loadMfn(mfnDir, 'youtube', { splits: ['valid'] });
  assert.deepEqual(Object.keys(validOnly.splits), ['valid']);
  await rejectsMf(() => loadMfn(path.join(tmpDir(), 'nothing'), 'pom'), 'not found', 'pom');
});

test('mfn: NaN/Inf is reported, or replaced with nanToZero and recorded', async () => {
  const h5 = await hdf5Ready();
  const root = tmpDir();
  const dir = path.join(root, 'mmmo');
  fs.mkdirSync(dir);
  const write = (name: string, data: Float64Array, shape: number[]) => {
    const f = new h5.File(path.join(dir, name), 'w');
    f.create_dataset({ name: 'd1', data, shape, dtype: '<d' });
    f.close();
  };
  for (const s of ['train', 'valid', 'test']) {
    const audio = new Float64Array(2 * 20 * 3).map((_, i) => i / 100);
    if (s === 'valid') {
      audio[65] = NaN; // sample 1, element 5
      audio[70] = Infinity;
    }
    write(`audio_${s}.h5`, audio, [2, 20, 3]);
    write(`video_${s}.h5`, new Float64Array(2 * 20 * 2), [2, 20, 2]);
    write(`y_${s}.h5`, new Float64Array([1, 4.5]), [2]);
  }
  const audioValid = path.join(dir, 'audio_valid.h5');
  await rejectsMf(
    () => loadMfn(root, 'mmmo'),
    'modality "audio" in split "valid"',
    '2 non-finite value(s)',
    'first at sample 1, element 5',
    `file: ${audioValid}`,
  );
  const ds = await loadMfn(root, 'mmmo', { nanToZero: true });
  const a = ds.splits.valid!.features.audio;
  assert.equal(a[65], 0);
  assert.equal(a[70], 0);
  assert.deepEqual(ds.provenance?.nanToZero, { applied: true, replaced: { audio: { valid: 2 } } });
  assert.deepEqual((ds.provenance?.nonFiniteFeatureValues as Record<string, unknown>).audio, { train: 0, valid: 2, test: 0 });

  // Labels that are not what the data set needs.
  write('y_test.h5', new Float64Array([1, 2, 3]), [3]);
  await rejectsMf(() => loadMfn(root, 'mmmo'), 'different number of samples', 'y_test.h5', 'expected: 2', 'found: 3');
});
