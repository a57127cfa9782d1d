/**
 * Turning what a page user gives (a drawn digit, an uploaded WAV) into a model's raw input,
 * with the model's fitted `transforms` (modalfuse.json) applied exactly as in Node.
 *
 * The preparation itself belongs to the data set that defines it (AV-MNIST:
 * `prepareImage` / `prepareAudio` in src/datasets/avmnist/transforms.ts, adapted to fetched
 * model files in ./avmnist.ts). This module only holds the contract and the
 * registration point (src/web/browser.ts registers AV-MNIST's), so other data sets with
 * their own transforms can register theirs the same way.
 *
 * No `node:` import here: this is part of the browser bundle.
 */
import type { ModelMeta } from '../models/fusion_model.js';
import { ModalfuseError } from '../errors.js';
import type { RecordingNoise } from '../datasets/avmnist/transforms.js';

/** What a preparation function gets besides the user's input. */
export interface PrepareContext {
  /** The model's modalfuse.json (its `transforms`, `preprocessing`, `modalities`). */
  meta: ModelMeta;
  /** Modality name the result is for (e.g. `image`, `audio`). */
  modality: string;
  /**
   * Bytes of a file of the model folder (a file named in `meta.transforms`, e.g. a PCA
   * basis in .npy), by its path relative to the folder. Fetched over HTTP in the browser.
   */
  asset(relPath: string): Promise<ArrayBuffer>;
}

/**
 * A drawn image: `pixels` is [height * width] grayscale in 0..255, row-major, white digit
 * on black (the MNIST convention), at the canvas's `width` x `height` (28 x 28 by default).
 * Returns the model's raw (not yet standardised) input for the modality: shape
 * `meta.modalities[modality].shape`, flattened.
 */
export type PrepareImage = (pixels: Float32Array, size: { width: number; height: number }, ctx: PrepareContext) => Float32Array | Promise<Float32Array>;

/**
 * An uploaded recording: the WAV file's bytes, and the noise to add (default: the training
 * condition, see RecordingNoise). Returns the modality's raw input, flattened.
 */
export type PrepareAudio = (wav: Uint8Array, ctx: PrepareContext, noise?: RecordingNoise) => Float32Array | Promise<Float32Array>;

const preparers: { image?: PrepareImage; audio?: PrepareAudio } = {};

/** Registers the preparation of drawn images / uploaded recordings (the AV-MNIST hook). */
export function registerPreparers(p: { image?: PrepareImage; audio?: PrepareAudio }): void {
  if (p.image) preparers.image = p.image;
  if (p.audio) preparers.audio = p.audio;
}

/** Which kinds of user input this build can prepare. */
export function preparerKinds(): { image: boolean; audio: boolean } {
  return { image: !!preparers.image, audio: !!preparers.audio };
}

/** Files the model folder's `transforms` names (every string under a `file`/`files` key). */
export function transformFiles(meta: ModelMeta): string[] {
  const out = new Set<string>();
  const walk = (v: unknown, key: string) => {
    if (typeof v === 'string' && (key === 'file' || key === 'files')) out.add(v);
    else if (Array.isArray(v)) v.forEach((x) => walk(x, key));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
  };
  walk(meta.transforms, '');
  return [...out];
}

/** A context whose assets are fetched (and cached) relative to the model folder's URL. */
export function urlContext(meta: ModelMeta, modality: string, modelUrl: string): PrepareContext {
  const loc = (globalThis as { location?: { href: string } }).location?.href;
  const base = new URL(modelUrl.endsWith('/') ? modelUrl : `${modelUrl}/`, loc).href;
  return {
    meta,
    modality,
    async asset(relPath: string) {
      const url = new URL(relPath, base).href;
      if (!url.startsWith(base)) throw new ModalfuseError('a transform file must lie inside the model folder', { file: relPath });
      const res = await fetch(url);
      if (!res.ok) throw new ModalfuseError(`cannot fetch a transform file of the model (HTTP ${res.status})`, { file: url });
      return res.arrayBuffer();
    },
  };
}

function needs(kind: 'image' | 'audio'): never {
  const fn = kind === 'image' ? 'prepareImage' : 'prepareAudio';
  throw new ModalfuseError(
    `this build cannot prepare ${kind === 'image' ? 'a drawn image' : 'an uploaded recording'} for the model: no ${fn} is registered; pick a test sample instead`,
    { expected: fn, found: 'not registered' },
  );
}

export async function prepareImageInput(pixels: Float32Array, size: { width: number; height: number }, ctx: PrepareContext): Promise<Float32Array> {
  if (!preparers.image) needs('image');
  return preparers.image(pixels, size, ctx);
}

export async function prepareAudioInput(wav: Uint8Array, ctx: PrepareContext, noise?: RecordingNoise): Promise<Float32Array> {
  if (!preparers.audio) needs('audio');
  return preparers.audio(wav, ctx, noise);
}
