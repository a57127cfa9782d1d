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
import { sizeOf, type SplitData } from '../data/types.js';
import { validateTask } from '../data/validate.js';
import { ModalfuseError } from '../errors.js';
import { getMethod, incompatibility, resolveOptions, type DataSpec, type MethodEntry, type Options } from '../registry/index.js';
import { classNames, getTask, sigmoidValues, softmaxRows, type OutputArrays, type Task } from '../tasks/index.js';
import { LIBRARY } from '../version.js';
import { compose } from './compose.js';
import { checkFeatures, checkSampleCount } from './input_check.js';
import { networkFromUrl } from './folder_url.js';
import { MODEL_META, upgradeMeta, type ModelMeta, type SaveOptions } from './model_meta.js';
import { validateModelMeta } from './meta_check.js';
import { checkModelSize } from './size_limit.js';

export { MODEL_META, upgradeMeta, type ModelMeta, type SaveOptions };
import '../fusion/index.js';
import '../encoders/index.js';



export interface CreateOptions {
  seed?: number;
  dataset?: string;
}

/** Options of prediction and evaluation. */
export interface PredictOptions {
  batchSize?: number;
  /**
   * Modalities that are missing in these samples. A method that handles missing
   * modalities gets them as its presence mask; for every method the missing modality's
   * input is its training mean.
   */
  missing?: string[];
}


/** Key of a modality's lengths in a preprocessed feature record. */
export function lengthKey(modality: string): string {
  return `${modality}#lengths`;
}

export class FusionModel {
  readonly model: tfl.LayersModel;
  readonly meta: ModelMeta;

  private constructor(model: tfl.LayersModel, meta: ModelMeta) {
    this.model = model;
    this.meta = upgradeMeta(meta);
  }

  /** Wrap a network and its metadata (a loaded or rebuilt model). */
  static fromParts(model: tfl.LayersModel, meta: ModelMeta): FusionModel {
    return new FusionModel(model, meta);
  }

  /** Build a new, untrained model of `method` for data of shape `spec`. */
  static create(method: string, spec: DataSpec, options: Record<string, unknown> = {}, opts: CreateOptions = {}): FusionModel {
    const seed = opts.seed ?? 1;
    validateTask(spec.task);
    const entry = getMethod(method, spec);
    const resolved = resolveOptions(entry, options, Object.keys(spec.modalities).sort());
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
      outputs: c.outputs,
      objective: c.objective,
      ...(c.presence ? { presence: true } : {}),
      ...(c.lengthInputs.length ? { lengthInputs: c.lengthInputs } : {}),
      preprocessing,
      classes: classNames(spec.task),
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
    return this.task.outWidth;
  }
  get task(): Task {
    return getTask(this.meta.task);
  }
  get outputNames(): string[] {
    return this.meta.outputs;
  }
  /** Width of an output (its last dimension). */
  outputWidth(name: string): number {
    const i = this.meta.outputs.indexOf(name);
    if (i < 0) throw new ModalfuseError(`the model has no output "${name}"`, { expected: this.meta.outputs, found: name });
    const shape = this.model.outputs[i].shape;
    return shape.slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
  }

  /** Fit the standardisation of every modality on a (training) split. */
  fitPreprocessing(train: SplitData): void {
    const entry = getMethod(this.meta.method, this.spec);
    this.meta.preprocessing = fitPreprocessing(train, this.meta.modalities, entry.scaling?.bind(entry));
  }

  /** Raw features of `n` samples: every present modality the model reads, of the right length, finite (src/models/input_check.ts). */
  private checkInput(features: Record<string, Float32Array>, n: number, missing: string[] = []): void {
    checkSampleCount(n);
    checkFeatures(features, n, this.inputModalities.filter((m) => !missing.includes(m)), this.meta.modalities);
  }

  /** The modalities named missing, checked against those the model reads. */
  checkMissing(missing: string[] = []): string[] {
    for (const m of missing) {
      if (!this.inputModalities.includes(m)) {
        throw new ModalfuseError(`cannot treat modality "${m}" as missing: the model does not read it`, { modality: m, expected: this.inputModalities, found: m });
      }
    }
    return missing;
  }

  /**
   * Preprocessed copies of the features this model reads. A modality named in `missing`
   * needs no features: its input is its training mean, passed through the same preprocessing.
   */
  preprocess(features: Record<string, Float32Array>, missing: string[] = [], lengths?: Record<string, Int32Array>): Record<string, Float32Array> {
    this.checkMissing(missing);
    const out: Record<string, Float32Array> = {};
    let rows = -1;
    for (const m of this.inputModalities) {
      if (missing.includes(m) || !features[m]) continue;
      rows = features[m].length / sizeOf(this.meta.modalities[m].shape);
    }
    for (const m of this.inputModalities) {
      let x = features[m];
      if (missing.includes(m)) {
        // the training mean input, as eval --missing has always given it
        const st = this.meta.preprocessing[m];
        const d = st.mean.length;
        const n = x ? x.length / sizeOf(this.meta.modalities[m].shape) : rows;
        if (n < 0) throw new ModalfuseError('every modality the model reads is missing', { expected: 'at least one present modality', found: missing });
        x = new Float32Array(n * sizeOf(this.meta.modalities[m].shape));
        for (let i = 0; i < x.length; i += d) for (let j = 0; j < d; j++) x[i + j] = st.mean[j];
      }
      if (!x) throw new ModalfuseError('input lacks a modality the model needs', { modality: m, expected: this.inputModalities, found: Object.keys(features) });
      out[m] = applyStandardizer(x, this.meta.preprocessing[m]);
    }
    for (const m of this.meta.lengthInputs ?? []) if (lengths?.[m]) out[lengthKey(m)] = Float32Array.from(lengths[m]);
    return out;
  }

  /** Presence mask rows [n, modalities] (1 present, 0 missing) in data modality order. */
  presenceMask(n: number, missing: string[] = []): Float32Array {
    const names = Object.keys(this.meta.modalities).sort();
    const out = new Float32Array(n * names.length).fill(1);
    names.forEach((m, j) => {
      if (missing.includes(m)) for (let i = 0; i < n; i++) out[i * names.length + j] = 0;
    });
    return out;
  }

  /**
   * Tensors of rows `idx` (or all rows) of already preprocessed features, in input order;
   * for a method that handles missing modalities, the presence mask last (all present, or
   * `presence` rows [idx.length, modalities]).
   */
  batchTensors(pre: Record<string, Float32Array>, idx: ArrayLike<number>, presence?: Float32Array): tf.Tensor[] {
    const xs = this.inputModalities.map((m) => {
      const shape = this.meta.modalities[m].shape;
      const size = sizeOf(shape);
      const src = pre[m];
      const buf = new Float32Array(idx.length * size);
      for (let i = 0; i < idx.length; i++) buf.set(src.subarray(idx[i] * size, (idx[i] + 1) * size), i * size);
      return tf.tensor(buf, [idx.length, ...shape], 'float32');
    });
    for (const m of this.meta.lengthInputs ?? []) {
      // valid steps per sample; every step where the data gives no lengths
      const src = pre[lengthKey(m)];
      const buf = new Float32Array(idx.length).fill(this.meta.modalities[m].shape[0]);
      if (src) for (let i = 0; i < idx.length; i++) buf[i] = src[idx[i]];
      xs.push(tf.tensor2d(buf, [idx.length, 1]));
    }
    if (this.meta.presence) {
      const k = Object.keys(this.meta.modalities).length;
      xs.push(tf.tensor2d(presence ?? this.presenceMask(idx.length), [idx.length, k]));
    }
    return xs;
  }

  /** All outputs, in `outputNames` order, for input tensors. */
  forward(xs: tf.Tensor[], training = false): tf.Tensor[] {
    const out = this.model.apply(xs.length === 1 ? xs[0] : xs, { training }) as tf.Tensor | tf.Tensor[];
    return Array.isArray(out) ? out : [out];
  }

  /** All outputs by name for input tensors. */
  forwardNamed(xs: tf.Tensor[], training = false): Record<string, tf.Tensor> {
    const outs = this.forward(xs, training);
    return Object.fromEntries(this.meta.outputs.map((k, i) => [k, outs[i]]));
  }

  /**
   * Outputs `names` (default: all) for `n` samples of preprocessed features, row-major
   * [n, width] each; `missing` modalities get a presence mask of 0 (their features must
   * already be the mean input, as `preprocess(features, missing)` makes them).
   */
  outputsPreprocessed(pre: Record<string, Float32Array>, n: number, opts: { batchSize?: number; names?: string[]; missing?: string[] } = {}): OutputArrays {
    const batchSize = opts.batchSize ?? 256;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new ModalfuseError('bad batch size for prediction', { expected: 'an integer >= 1', found: String(batchSize) });
    checkFeatures(pre, n, this.inputModalities, this.meta.modalities, false);
    const names = opts.names ?? this.meta.outputs;
    const idxOf = names.map((k) => {
      const i = this.meta.outputs.indexOf(k);
      if (i < 0) throw new ModalfuseError(`the model has no output "${k}"`, { expected: this.meta.outputs, found: k });
      return i;
    });
    const widths = Object.fromEntries(names.map((k) => [k, this.outputWidth(k)]));
    const values = Object.fromEntries(names.map((k) => [k, new Float32Array(n * widths[k])]));
    for (let s = 0; s < n; s += batchSize) {
      const e = Math.min(n, s + batchSize);
      const idx = Array.from({ length: e - s }, (_, i) => s + i);
      const ys = tf.tidy(() => {
        const presence = this.meta.presence && opts.missing?.length ? this.presenceMask(idx.length, opts.missing) : undefined;
        const outs = this.forward(this.batchTensors(pre, idx, presence), false);
        return idxOf.map((i) => outs[i]);
      });
      ys.forEach((y, j) => {
        values[names[j]].set(y.dataSync() as Float32Array, s * widths[names[j]]);
        y.dispose();
      });
    }
    return { values, widths };
  }

  /**
   * Raw main output (logits for classification/multi-label, values for regression) for
   * `n` samples of raw (not yet preprocessed) features; row-major [n, outWidth].
   */
  predictRaw(features: Record<string, Float32Array>, n: number, batchSize = 256, opts: PredictOptions = {}): Float32Array {
    this.checkInput(features, n, opts.missing);
    const pre = this.preprocess(features, opts.missing);
    return this.predictPreprocessed(pre, n, batchSize, opts.missing);
  }

  /** The raw `main` output of preprocessed features. */
  predictPreprocessed(pre: Record<string, Float32Array>, n: number, batchSize = 256, missing?: string[]): Float32Array {
    if (!this.meta.outputs.includes('main')) {
      throw new ModalfuseError(`a ${this.meta.task.kind} model has no prediction output; use predictOutputs`, { expected: 'an output "main"', found: this.meta.outputs });
    }
    return this.outputsPreprocessed(pre, n, { batchSize, names: ['main'], missing }).values.main;
  }

  /** Probabilities (classification: softmax; multi-label: sigmoid); values for regression. */
  predict(features: Record<string, Float32Array>, n: number, batchSize = 256, opts: PredictOptions = {}): Float32Array {
    checkSampleCount(n);
    const raw = this.predictRaw(features, n, batchSize, opts);
    return this.task.transform(raw);
  }

  /**
   * Every output of the model (or `names`) by name, on raw features: the prediction, and
   * whatever else the method returns (per-modality heads, attention weights, embeddings).
   */
  predictOutputs(features: Record<string, Float32Array>, n: number, opts: PredictOptions & { names?: string[]; lengths?: Record<string, Int32Array> } = {}): OutputArrays {
    this.checkInput(features, n, opts.missing);
    const pre = this.preprocess(features, opts.missing, opts.lengths);
    return this.outputsPreprocessed(pre, n, { batchSize: opts.batchSize, names: opts.names, missing: opts.missing });
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
      return new FusionModel(await networkFromUrl(meta, entry, options, base, metaUrl, doFetch), meta);
    } catch (e) {
      if (e instanceof ModalfuseError) throw new ModalfuseError(`cannot load the network: ${e.message}`);
      throw e;
    }
  }

  /** Parameters (trainable and not). */
  countParams(): number {
    return this.model.countParams();
  }

  dispose(): void {
    this.model.dispose();
    // tfjs counts one reference per symbolic call, so a layer applied twice (shared weights)
    // survives the model's dispose: release what is left of it
    for (const layer of this.model.layers) {
      const l = layer as unknown as { _refCount: number | null; dispose(): unknown };
      while (l._refCount !== null && l._refCount > 0) l.dispose();
    }
  }
}


/** Checks every part of `modalfuse.json` a loader relies on (src/models/meta_check.ts). */
export function checkMeta(meta: ModelMeta, file: string): void {
  validateModelMeta(meta, file);
}

/** Raw outputs -> probabilities (classification: softmax; multi-label: sigmoid) or values (regression, retrieval embeddings). */
export function rawToOutput(raw: Float32Array, task: DataSpec['task']['kind'], k: number): Float32Array {
  if (task === 'classification') return softmaxRows(raw, k);
  if (task === 'multilabel') return sigmoidValues(raw);
  return Float32Array.from(raw);
}
