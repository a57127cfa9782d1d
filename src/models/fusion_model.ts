/**
 * FusionModel: a composed tfjs model with everything needed to use it on raw data —
 * the method and its options, the data spec, the fitted preprocessing — and the model
 * folder format (DESIGN.md): `model.json` + `weights.bin` + `modalfuse.json`.
 *
 * This module has no `node:` import, so the browser bundle can use it: reading and writing
 * a folder on disk lives in `./folder_node.ts` and is imported lazily by `save` / `load`;
 * `loadUrl` reads a model folder over HTTP (browser, or Node 18+ with its global fetch).
 */
import { tf, tfl } from '../backend/index.js';
import { applyStandardizer, fitPreprocessing, type Standardizer } from '../data/preprocess.js';
import { sizeOf, taskWidth, type SplitData } from '../data/types.js';
import { validateTask } from '../data/validate.js';
import { ModalfuseError } from '../errors.js';
import { getMethod, incompatibility, resolveOptions, type DataSpec, type MethodEntry, type Options } from '../registry/index.js';
import { LIBRARY } from '../version.js';
import { compose } from './compose.js';
import { checkFeatures, checkSampleCount } from './input_check.js';
import { checkGroupSize, checkIntegrity, checkIntegrityList, checkManifest, composeFromMeta, integrityRecord, matchManifest, setManifestWeights } from './folder_check.js';
import { withoutBom } from '../util/bom.js';
import { MODEL_META, type ModelMeta, type SaveOptions } from './model_meta.js';
import { validateModelMeta } from './meta_check.js';
import { checkModelSize } from './size_limit.js';
import '../fusion/index.js';
import '../encoders/index.js';

export { MODEL_META, type ModelMeta, type SaveOptions } from './model_meta.js';

export interface CreateOptions {
  seed?: number;
  dataset?: string;
}


export class FusionModel {
  readonly model: tfl.LayersModel;
  readonly meta: ModelMeta;

  private constructor(model: tfl.LayersModel, meta: ModelMeta) {
    this.model = model;
    this.meta = meta;
  }

  /** Build a new, untrained model of `method` for data of shape `spec`. */
  static create(method: string, spec: DataSpec, options: Record<string, unknown> = {}, opts: CreateOptions = {}): FusionModel {
    const seed = opts.seed ?? 1;
    validateTask(spec.task);
    const entry = getMethod(method, spec);
    const resolved = resolveOptions(entry, options);
    if (!incompatibility(entry, spec, resolved)) checkModelSize(entry, spec, resolved); // before anything is built
    const c = compose(method, spec, options, seed);
    const preprocessing: Record<string, Standardizer> = {};
    for (const m of Object.keys(spec.modalities).sort()) {
      const d = spec.modalities[m].shape[spec.modalities[m].shape.length - 1];
      preprocessing[m] = { kind: 'standardize', mean: new Array(d).fill(0), std: new Array(d).fill(1) };
    }
    return new FusionModel(c.model, {
      schemaVersion: 1,
      library: LIBRARY,
      method: c.entry.name,
      options: c.options,
      seed,
      dataset: opts.dataset ?? '',
      task: spec.task,
      modalities: spec.modalities,
      inputModalities: c.inputModalities,
      auxNames: c.auxNames,
      trainMain: c.trainMain,
      auxWeight: c.auxWeight,
      preprocessing,
      classes: spec.task.kind === 'classification' ? spec.task.classes : undefined,
    });
  }

  get method(): string {
    return this.meta.method;
  }
  get spec(): DataSpec {
    return { task: this.meta.task, modalities: this.meta.modalities };
  }
  get inputModalities(): string[] {
    return this.meta.inputModalities;
  }
  get outWidth(): number {
    return taskWidth(this.meta.task);
  }

  /** Fit the standardisation of every modality on a (training) split. */
  fitPreprocessing(train: SplitData): void {
    this.meta.preprocessing = fitPreprocessing(train, this.meta.modalities);
  }

  /** Standardised copies of the features this model reads. */
  preprocess(features: Record<string, Float32Array>): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const m of this.inputModalities) {
      const x = features[m];
      if (!x) throw new ModalfuseError('input lacks a modality the model needs', { modality: m, expected: this.inputModalities, found: Object.keys(features) });
      out[m] = applyStandardizer(x, this.meta.preprocessing[m]);
    }
    return out;
  }

  /** Tensors of rows `idx` (or all rows) of already preprocessed features, in input order. */
  batchTensors(pre: Record<string, Float32Array>, idx: ArrayLike<number>): tf.Tensor[] {
    return this.inputModalities.map((m) => {
      const shape = this.meta.modalities[m].shape;
      const size = sizeOf(shape);
      const src = pre[m];
      const buf = new Float32Array(idx.length * size);
      for (let i = 0; i < idx.length; i++) buf.set(src.subarray(idx[i] * size, (idx[i] + 1) * size), i * size);
      return tf.tensor(buf, [idx.length, ...shape], 'float32');
    });
  }

  /** All outputs (main first, then aux) for input tensors. */
  forward(xs: tf.Tensor[], training = false): tf.Tensor[] {
    const out = this.model.apply(xs.length === 1 ? xs[0] : xs, { training }) as tf.Tensor | tf.Tensor[];
    return Array.isArray(out) ? out : [out];
  }

  /**
   * Raw main output (logits for classification/multi-label, values for regression) for
   * `n` samples of raw (not yet preprocessed) features; row-major [n, outWidth].
   */
  predictRaw(features: Record<string, Float32Array>, n: number, batchSize = 256): Float32Array {
    checkFeatures(features, n, this.inputModalities, this.meta.modalities);
    const pre = this.preprocess(features);
    return this.predictPreprocessed(pre, n, batchSize);
  }

  predictPreprocessed(pre: Record<string, Float32Array>, n: number, batchSize = 256): Float32Array {
    checkFeatures(pre, n, this.inputModalities, this.meta.modalities, false);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new ModalfuseError('bad batch size for prediction', { expected: 'an integer >= 1', found: String(batchSize) });
    const k = this.outWidth;
    const out = new Float32Array(n * k);
    for (let s = 0; s < n; s += batchSize) {
      const e = Math.min(n, s + batchSize);
      const idx = Array.from({ length: e - s }, (_, i) => s + i);
      const y = tf.tidy(() => {
        const xs = this.batchTensors(pre, idx);
        return this.forward(xs, false)[0];
      });
      out.set(y.dataSync() as Float32Array, s * k);
      y.dispose();
    }
    return out;
  }

  /** Probabilities (classification: softmax; multi-label: sigmoid); values for regression. */
  predict(features: Record<string, Float32Array>, n: number, batchSize = 256): Float32Array {
    checkSampleCount(n);
    const raw = this.predictRaw(features, n, batchSize);
    return rawToOutput(raw, this.meta.task.kind, this.outWidth);
  }

  /**
   * Save the model folder (Node only), atomically: a process killed at any moment leaves the
   * old folder or the new one. `modalfuse.json` records the size and SHA-256 of the network files.
   */
  async save(dir: string, extra: Partial<ModelMeta> = {}, opts: SaveOptions = {}): Promise<void> {
    const { writeModelFolder } = await import('./folder_node.js');
    await writeModelFolder(dir, this.model, () => Object.assign(this.meta, extra), opts);
  }

  /** Load a model folder written by `save` (or `modalfuse train --save`) (Node only). */
  static async load(dir: string): Promise<FusionModel> {
    const { readModelFolder } = await import('./folder_node.js');
    const { model, meta } = await readModelFolder(dir);
    return new FusionModel(model, meta);
  }

  /**
   * Load a model folder from a URL (the folder's URL, e.g. `/model/` in a page, or
   * `http://host/model/`): `modalfuse.json`, `model.json` and the weights by fetch, checked as `load` checks a folder.
   * Works in the browser, in a Web Worker and in Node (global fetch).
   */
  static async loadUrl(url: string, init?: { fetch?: typeof fetch }): Promise<FusionModel> {
    const doFetch = init?.fetch ?? globalThis.fetch.bind(globalThis);
    const loc = (globalThis as { location?: { href: string } }).location?.href;
    let base: string;
    try {
      base = new URL(url.endsWith('/') ? url : `${url}/`, loc).href;
    } catch {
      throw new ModalfuseError('not a valid model URL', { file: url, expected: 'an absolute URL, or a path inside a page' });
    }
    const metaUrl = new URL(MODEL_META, base).href;
    let res: Response;
    try {
      res = await doFetch(metaUrl);
    } catch (e) {
      throw new ModalfuseError(`cannot fetch the model metadata: ${(e as Error).message}`, { file: metaUrl });
    }
    if (!res.ok) throw new ModalfuseError(`not a model folder (${MODEL_META}: HTTP ${res.status} ${res.statusText})`, { file: metaUrl });
    let meta: ModelMeta;
    try {
      meta = JSON.parse(await res.text()) as ModelMeta;
    } catch (e) {
      throw new ModalfuseError(`unreadable model metadata: ${(e as Error).message}`, { file: metaUrl });
    }
    const { entry, options } = validateModelMeta(meta, metaUrl);
    try {
      return new FusionModel(await FusionModel.networkFromUrl(meta, entry, options, base, metaUrl, doFetch), meta);
    } catch (e) {
      if (e instanceof ModalfuseError) throw new ModalfuseError(`cannot load the network: ${e.message}`);
      throw e;
    }
  }

  /** The network of a model folder at `base` (URL), checked as `load` checks a folder on disk. */
  private static async networkFromUrl(meta: ModelMeta, entry: MethodEntry, options: Options, base: string, metaUrl: string, doFetch: typeof fetch): Promise<tfl.LayersModel> {
    // As FusionModel.load: sizes and checksums checked, the network rebuilt from the checked metadata.
    const integrity = integrityRecord(meta, metaUrl);
    const modelUrl = new URL('model.json', base).href;
    const jsonBytes = await fetchBytes(doFetch, modelUrl, 'the network file model.json');
    if (integrity) checkIntegrity(integrity.model, 'model.json', jsonBytes.length, await sha256Hex(jsonBytes), modelUrl, metaUrl);
    let json: unknown;
    try {
      json = JSON.parse(withoutBom(new TextDecoder().decode(jsonBytes)));
    } catch (e) {
      throw new ModalfuseError(`the network file model.json is not valid JSON: ${(e as Error).message}`, { file: modelUrl });
    }
    const { groups, bytes } = checkManifest(json, modelUrl);
    const model = composeFromMeta(meta, entry, options, metaUrl);
    try {
      const specs = matchManifest(model, groups, modelUrl);
      const parts: Uint8Array[] = [];
      const rels: string[] = [];
      for (let gi = 0; gi < groups.length; gi++) {
        let size = 0;
        for (const p of groups[gi].paths) {
          const u = new URL(p, modelUrl).href;
          if (!u.startsWith(base)) throw new ModalfuseError(`weights file ${JSON.stringify(p)} lies outside the model folder`, { file: u, expected: `a file under ${base}` });
          const b = await fetchBytes(doFetch, u, `weights file ${JSON.stringify(p)}`);
          const rel = u.slice(base.length);
          if (integrity) checkIntegrity(integrity.weights.find((r) => r?.path === rel), rel, b.length, await sha256Hex(b), u, metaUrl);
          size += b.length;
          parts.push(b);
          rels.push(rel);
        }
        checkGroupSize(groups[gi], size, bytes[gi], modelUrl);
      }
      if (integrity) checkIntegrityList(integrity.weights, rels, modelUrl);
      const joined = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
      let off = 0;
      for (const b of parts) {
        joined.set(b, off);
        off += b.length;
      }
      setManifestWeights(model, specs, joined, modelUrl);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  }

  /** Parameters (trainable and not). */
  countParams(): number {
    return this.model.countParams();
  }

  dispose(): void {
    this.model.dispose();
  }
}

async function fetchBytes(doFetch: typeof fetch, url: string, what: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await doFetch(url);
  } catch (e) {
    throw new ModalfuseError(`cannot fetch ${what}: ${(e as Error).message}`, { file: url });
  }
  if (!res.ok) throw new ModalfuseError(`cannot fetch ${what} (HTTP ${res.status} ${res.statusText})`, { file: url });
  return new Uint8Array(await res.arrayBuffer());
}

/** SHA-256 in hex; null where Web Crypto is missing (a page served over plain HTTP from another host is not a secure context). */
async function sha256Hex(bytes: Uint8Array): Promise<string | null> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return null;
  const d = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Checks every part of `modalfuse.json` a loader relies on (src/models/meta_check.ts). */
export function checkMeta(meta: ModelMeta, file: string): void {
  validateModelMeta(meta, file);
}

/** Raw outputs -> probabilities (classification, multi-label) or values (regression). */
export function rawToOutput(raw: Float32Array, task: DataSpec['task']['kind'], k: number): Float32Array {
  const out = new Float32Array(raw.length);
  if (task === 'regression') {
    out.set(raw);
    return out;
  }
  if (task === 'multilabel') {
    for (let i = 0; i < raw.length; i++) out[i] = 1 / (1 + Math.exp(-raw[i]));
    return out;
  }
  for (let r = 0; r < raw.length; r += k) {
    let mx = -Infinity;
    for (let j = 0; j < k; j++) mx = Math.max(mx, raw[r + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += out[r + j] = Math.exp(raw[r + j] - mx);
    for (let j = 0; j < k; j++) out[r + j] /= s;
  }
  return out;
}
