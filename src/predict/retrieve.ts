/**
 * Embeddings and retrieval with a two-tower model (a model whose task is retrieval, e.g.
 * `dssm`): `modalfuse embed` writes one embedding per sample of a data set split, in split
 * order (.npy [n, dim]), so they can go into a vector index; `modalfuse retrieve` ranks the
 * gallery split of a data set for each query by cosine similarity and returns the top k
 * with their gallery labels. Queries: a data set (name or folder; its query modality), a
 * .npy of raw query inputs ([N, ...shape] or one sample's shape), or, for a model trained on
 * AV-MNIST with an audio query, a WAV recording (prepared as `predict --wav` prepares it).
 * A tower reads only its own modality, so the other inputs are left missing (training mean).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tf } from '../backend/index.js';
import { modelTransforms } from '../datasets/avmnist/build.js';
import type { RecordingNoise } from '../datasets/avmnist/transforms.js';
import { loadDataset } from '../datasets/resolve.js';
import { readNpy, toFloat32, writeNpy } from '../data/npy.js';
import { sizeOf, type Dataset, type SplitName } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import type { FusionModel } from '../models/fusion_model.js';
import { prepareWavFile } from './avmnist_raw.js';

export interface Embeddings {
  n: number;
  dim: number;
  /** Row-major [n, dim]. */
  values: Float32Array;
}

export interface RetrievalResult {
  index: number;
  score: number;
  label?: string;
}

export interface RetrievalRecord {
  query: number;
  results: RetrievalResult[];
}

/** The model's retrieval task; an error for any other model. */
export function retrievalTask(fm: FusionModel): { query: string; gallery: string } {
  const t = fm.meta.task;
  if (t.kind !== 'retrieval') {
    throw new ModalfuseError(`the model (${fm.method}) is a ${t.kind} model: embeddings need a retrieval model (e.g. dssm trained with --task retrieval:QUERY->GALLERY)`, { expected: 'a retrieval model', found: t.kind });
  }
  return t;
}

/** The output holding `modality`'s embedding: `query` or `gallery` of a retrieval model. */
export function embeddingOutput(fm: FusionModel, modality: string): 'query' | 'gallery' {
  const t = retrievalTask(fm);
  if (modality === t.query) return 'query';
  if (modality === t.gallery) return 'gallery';
  throw new ModalfuseError(`the model embeds modalities "${t.query}" (query) and "${t.gallery}" (gallery), not "${modality}"`, { modality, expected: [t.query, t.gallery], found: modality });
}

/** Embeddings of `n` raw samples of one modality (the other inputs left missing). */
export function embedModality(fm: FusionModel, modality: string, features: Float32Array, n: number, batchSize = 256): Embeddings {
  const output = embeddingOutput(fm, modality);
  const missing = fm.inputModalities.filter((m) => m !== modality);
  const o = fm.predictOutputs({ [modality]: features }, n, { names: [output], missing, batchSize });
  return { n, dim: o.widths[output], values: o.values[output] };
}

function splitOf(data: Dataset, wanted: SplitName | undefined, what: string): SplitName {
  const s = wanted ?? (data.splits.test && data.splits.test.n > 0 ? 'test' : (Object.keys(data.splits)[0] as SplitName));
  if (!data.splits[s] || data.splits[s]!.n === 0) throw new ModalfuseError(`the ${what} data set "${data.name}" has no split "${s}"`, { expected: Object.keys(data.splits), found: s });
  return s;
}

function modalityFeatures(data: Dataset, split: SplitName, modality: string, fm: FusionModel, what: string): Float32Array {
  const f = data.splits[split]!.features[modality];
  if (!f) throw new ModalfuseError(`the ${what} data set "${data.name}" has no modality "${modality}"`, { modality, expected: modality, found: Object.keys(data.modalities) });
  const want = fm.meta.modalities[modality].shape;
  const got = data.modalities[modality].shape;
  if (want.join(',') !== got.join(',')) throw new ModalfuseError(`modality "${modality}" of the ${what} data set "${data.name}" has shape [${got}], the model expects [${want}]`, { modality, expected: want, found: got });
  return f;
}

/** Embeddings of one modality of a data set split (default test), in split order. */
export async function embedDataset(fm: FusionModel, dataset: string, modality: string, split?: SplitName): Promise<Embeddings & { split: SplitName; dataset: string }> {
  embeddingOutput(fm, modality);
  const data = await loadDataset(dataset);
  const s = splitOf(data, split, 'embedded');
  const e = embedModality(fm, modality, modalityFeatures(data, s, modality, fm, 'embedded'), data.splits[s]!.n);
  return { ...e, split: s, dataset: data.name };
}

/** Writes embeddings as a float32 .npy [n, dim]. */
export function writeEmbeddings(file: string, e: Embeddings): void {
  try {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  } catch (err) {
    throw new ModalfuseError(`cannot create the folder of the embeddings file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { file });
  }
  writeNpy(file, e.values, [e.n, e.dim]);
}

/** For each query row, the k gallery rows of highest cosine similarity. */
export function topK(query: Embeddings, gallery: Embeddings, k: number, batch = 256): { index: number; score: number }[][] {
  if (query.dim !== gallery.dim) throw new ModalfuseError('query and gallery embeddings differ in width', { expected: gallery.dim, found: query.dim });
  const kk = Math.min(k, gallery.n);
  const out: { index: number; score: number }[][] = [];
  const norm = (x: tf.Tensor) => tf.div(x, tf.maximum(tf.norm(x, 'euclidean', -1, true), 1e-12));
  const g = tf.tidy(() => norm(tf.tensor2d(gallery.values, [gallery.n, gallery.dim])));
  for (let s = 0; s < query.n; s += batch) {
    const e = Math.min(query.n, s + batch);
    const [vals, idx] = tf.tidy(() => {
      const q = norm(tf.tensor2d(query.values.subarray(s * query.dim, e * query.dim), [e - s, query.dim]));
      const r = tf.topk(tf.matMul(q, g, false, true), kk, true);
      return [r.values.dataSync(), r.indices.dataSync()];
    });
    for (let i = 0; i < e - s; i++) {
      out.push(Array.from({ length: kk }, (_, j) => ({ index: idx[i * kk + j], score: vals[i * kk + j] })));
    }
  }
  g.dispose();
  return out;
}

export interface QueryInput {
  n: number;
  features: Float32Array;
  source: string;
}

/** Raw queries of `modality`: a data set (name or folder), a .npy of raw inputs, or (AV-MNIST audio) a WAV file. */
export async function readQueries(q: string, fm: FusionModel, modelDir: string, modality: string, opts: { split?: SplitName; wavNoise?: RecordingNoise } = {}): Promise<QueryInput> {
  const shape = fm.meta.modalities[modality].shape;
  const size = sizeOf(shape);
  const lower = q.toLowerCase();
  if (lower.endsWith('.wav')) {
    if (modality !== 'audio') throw new ModalfuseError(`a WAV query needs a model whose query modality is "audio", this one's is "${modality}"`, { file: q, modality, expected: 'audio', found: modality });
    const t = modelTransforms(modelDir);
    if (!t) throw new ModalfuseError('a WAV query needs a model with AV-MNIST transforms (a model trained on avmnist)', { file: q, expected: 'transforms/transforms.json in the model folder', found: 'none' });
    return { n: 1, features: prepareWavFile(q, t, opts.wavNoise ?? {}), source: q };
  }
  if (lower.endsWith('.npy')) {
    const a = readNpy(q);
    const data = toFloat32(a.data);
    const one = a.shape.join(',') === shape.join(',') || (shape.length === 1 && a.shape.length === 1 && a.shape[0] === size);
    const many = a.shape.length === shape.length + 1 && a.shape.slice(1).join(',') === shape.join(',');
    if (!(one || many) || data.length % size !== 0) {
      throw new ModalfuseError(`a .npy of queries must hold raw "${modality}" inputs of shape [${shape}] or [N, ${shape}]`, { file: q, modality, expected: [shape, ['N', ...shape]], found: a.shape });
    }
    return { n: data.length / size, features: data, source: q };
  }
  const data = await loadDataset(q);
  const s = splitOf(data, opts.split, 'query');
  return { n: data.splits[s]!.n, features: modalityFeatures(data, s, modality, fm, 'query'), source: `${data.name} (${s})` };
}

export interface RetrieveOptions {
  /** Gallery data set (name or folder) and split (default test). */
  gallery: string;
  gallerySplit?: SplitName;
  /** Queries (see readQueries) and, for a data set, its split (default test). */
  query: string;
  querySplit?: SplitName;
  k?: number;
  wavNoise?: RecordingNoise;
}

/** Top-k gallery items per query, with the gallery labels (class names) when the gallery data has labels by class. */
export async function retrieve(fm: FusionModel, modelDir: string, opts: RetrieveOptions): Promise<RetrievalRecord[]> {
  const t = retrievalTask(fm);
  const k = opts.k ?? 10;
  if (!Number.isInteger(k) || k < 1) throw new ModalfuseError('bad k', { expected: 'an integer >= 1', found: k });
  const gdata = await loadDataset(opts.gallery);
  const gs = splitOf(gdata, opts.gallerySplit, 'gallery');
  const gsplit = gdata.splits[gs]!;
  const gallery = embedModality(fm, t.gallery, modalityFeatures(gdata, gs, t.gallery, fm, 'gallery'), gsplit.n);
  const queries = await readQueries(opts.query, fm, modelDir, t.query, { split: opts.querySplit, wavNoise: opts.wavNoise });
  const qe = embedModality(fm, t.query, queries.features, queries.n);
  const classes = gdata.task.kind === 'classification' ? gdata.task.classes : gdata.task.kind === 'retrieval' ? gdata.task.classes : undefined;
  const labelOf = (j: number): string | undefined => {
    if (!classes || !(gsplit.labels instanceof Int32Array) || gsplit.labels.length !== gsplit.n) return undefined;
    const l = gsplit.labels[j];
    return classes[l] ?? String(l);
  };
  return topK(qe, gallery, k).map((rs, i) => ({
    query: i,
    results: rs.map((r) => {
      const label = labelOf(r.index);
      return { index: r.index, score: Number(r.score.toFixed(6)), ...(label !== undefined ? { label } : {}) };
    }),
  }));
}
