/**
 * Raw inputs for `modalfuse predict` on a model that carries AV-MNIST transforms (a model
 * trained on avmnist: `transforms/` in its folder, see attachTransforms in
 * src/datasets/avmnist/build.ts). A raw image or a WAV recording is prepared with the model's own
 * transforms, with the same functions the browser demo uses (prepareImage / prepareAudio of
 * src/datasets/avmnist/transforms.ts), so Node and the page give the same inputs:
 *
 * - image: 28 x 28 grey pixels 0-255, white digit on black as in MNIST (row-major; a .npy of
 *   [28, 28], [784], [N, 28, 28], [N, 784] or [.., 1], any dtype; or a JSON array of the same
 *   shapes) -> scaled by 1/255 and reconstructed from the model's PCA components;
 * - audio: one WAV file (any rate, any channel count; mixed to mono, resampled) -> DC
 *   removed, unit RMS, centred in the window, white noise added, log-mel. By default the
 *   noise is the training condition (the SNR the data set was built with,
 *   `transforms.modalities.audio.snrDb`, seed 0), as in the browser page; `RecordingNoise`
 *   (`--wav-snr-db X|none`, `--seed S`) picks another SNR, none, or another seed.
 *
 * JSONL lines may give `"image_raw": [...784 pixels]` and `"audio_wav": "file.wav"` (a path
 * relative to the JSONL file) instead of the prepared `image` / `audio` arrays.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { modelTransforms } from '../datasets/avmnist/build.js';
import { IMAGE_SIZE, prepareAudio, prepareImage, recordingNoiseOptions, type AvmnistTransforms, type RecordingNoise } from '../datasets/avmnist/transforms.js';
import { readNpy, toFloat32 } from '../data/npy.js';
import { sizeOf, type SplitName } from '../data/types.js';
import { decodeWav } from '../data/wav.js';
import { ModalfuseError } from '../errors.js';
import type { FusionModel } from '../models/fusion_model.js';
import { readPredictionInput, type JsonlRecordHook, type PredictionInput } from './input.js';
import { withoutBom } from '../util/bom.js';
import { checkRegularFile } from '../util/regular_file.js';

/** JSONL keys of raw inputs, per modality of the transforms. */
export const RAW_KEYS = { image: 'image_raw', audio: 'audio_wav' } as const;

export interface RawImages {
  n: number;
  /** n x 784 pixel values, 0-255. */
  pixels: Float32Array;
  warnings: string[];
}

function checkPixels(pixels: ArrayLike<number>, where: Record<string, unknown>): string[] {
  let max = -Infinity;
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i];
    if (!Number.isFinite(v) || v < 0 || v > 255) {
      throw new ModalfuseError(`image pixel ${i} is ${v}: pixels must be grey values 0-255`, { ...where, modality: 'image', expected: '0..255', found: v });
    }
    if (v > max) max = v;
  }
  return max > 0 && max <= 1 ? ['the image values are all <= 1; pixels are expected as 0-255 (white digit on black), as in MNIST'] : [];
}

/** Reads raw images from a .npy file or a JSON array (see the file comment for shapes). */
export function readImageFile(file: string): RawImages {
  if (!fs.existsSync(file)) throw new ModalfuseError('image file not found', { file, modality: 'image', expected: 'a .npy or .json file of 28x28 pixels' });
  let shape: number[];
  let data: Float32Array;
  if (file.toLowerCase().endsWith('.json')) {
    let json: unknown;
    checkRegularFile(file);
    try {
      json = JSON.parse(withoutBom(fs.readFileSync(file, 'utf8')));
    } catch (e) {
      throw new ModalfuseError(`image file is not valid JSON: ${(e as Error).message}`, { file, modality: 'image' });
    }
    const flat: number[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (typeof v === 'number') flat.push(v);
      else throw new ModalfuseError('image JSON must hold only numbers (nested arrays of pixels)', { file, modality: 'image', found: JSON.stringify(v) });
    };
    walk(json);
    data = Float32Array.from(flat);
    shape = [flat.length];
  } else {
    let a: ReturnType<typeof readNpy>;
    try {
      a = readNpy(file);
    } catch (e) {
      if (!(e instanceof ModalfuseError)) throw e;
      throw new ModalfuseError(`cannot read the image file (a .npy, or .json): ${e.message.split('; ')[0]}`, { file, modality: 'image', expected: e.expected, found: e.found });
    }
    data = toFloat32(a.data);
    shape = a.shape;
  }
  const total = data.length;
  // .npy: [.., 28, 28] or [.., 784], at most one leading N, an optional trailing channel of 1
  const dims = shape.length >= 2 && shape[shape.length - 1] === 1 ? shape.slice(0, -1) : shape;
  const last2 = dims.slice(-2).join('x');
  const okShape = last2 === '28x28' ? dims.length <= 3 : dims[dims.length - 1] === IMAGE_SIZE ? dims.length <= 2 : dims.length === 1 && file.toLowerCase().endsWith('.json');
  if (total === 0 || total % IMAGE_SIZE !== 0 || !okShape) {
    throw new ModalfuseError('an image input must be 28x28 pixels, or N of them', { file, modality: 'image', expected: '[28, 28], [784], [N, 28, 28] or [N, 784]', found: shape });
  }
  const warnings = checkPixels(data, { file });
  return { n: total / IMAGE_SIZE, pixels: data, warnings };
}

/** Prepared image inputs [n * 784] of raw pixels. */
export function prepareImages(raw: RawImages, t: AvmnistTransforms): Float32Array {
  const out = new Float32Array(raw.n * IMAGE_SIZE);
  for (let i = 0; i < raw.n; i++) out.set(prepareImage(raw.pixels.subarray(i * IMAGE_SIZE, (i + 1) * IMAGE_SIZE), t), i * IMAGE_SIZE);
  return out;
}

/** A WAV file -> the prepared audio input (noise: the training SNR by default; see the file comment). */
export function prepareWavFile(file: string, t: AvmnistTransforms, noise: RecordingNoise = {}): Float32Array {
  let bytes: Buffer;
  checkRegularFile(file);
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModalfuseError(code === 'ENOENT' ? 'WAV file not found' : `cannot read WAV file (${code})`, { file, modality: 'audio' });
  }
  const { samples, sampleRate } = decodeWav(bytes, file);
  return prepareAudio(samples, sampleRate, t, recordingNoiseOptions(t, noise));
}

function needTransforms(t: AvmnistTransforms | null, what: string, file?: string): AvmnistTransforms {
  if (!t) {
    throw new ModalfuseError(`${what} needs a model with AV-MNIST transforms (a model trained on avmnist); this model folder has no transforms`, {
      file,
      expected: 'transforms/transforms.json in the model folder',
      found: 'none',
    });
  }
  return t;
}

/**
 * Rewrites `image_raw` / `audio_wav` of JSONL records into prepared `image` / `audio`
 * arrays with the transforms (paths relative to `baseDir`; every recording gets `noise`).
 */
export function rawRecordHook(t: AvmnistTransforms | null, baseDir: string, file: string, noise: RecordingNoise = {}): JsonlRecordHook {
  return (rec, line) => {
    const keys = Object.entries(RAW_KEYS).filter(([, k]) => k in rec);
    if (keys.length === 0) return rec;
    const tr = needTransforms(t, `line ${line}: "${keys[0][1]}"`, file);
    const out: Record<string, unknown> = { ...rec };
    for (const [m, k] of keys) {
      if (m in rec) throw new ModalfuseError(`line ${line} gives both "${m}" and "${k}"; give one`, { file, modality: m });
      delete out[k];
      const v = rec[k];
      if (k === RAW_KEYS.image) {
        const flat: number[] = [];
        const walk = (x: unknown): void => {
          if (Array.isArray(x)) x.forEach(walk);
          else if (typeof x === 'number') flat.push(x);
          else throw new ModalfuseError(`line ${line}, "${k}": not a number`, { file, modality: m, expected: '784 pixels 0-255', found: JSON.stringify(x) });
        };
        walk(v);
        if (flat.length !== IMAGE_SIZE) throw new ModalfuseError(`line ${line}, "${k}" has ${flat.length} values`, { file, modality: m, expected: `${IMAGE_SIZE} pixels (28x28)`, found: flat.length });
        checkPixels(flat, { file });
        out[m] = Array.from(prepareImage(flat, tr));
      } else {
        if (typeof v !== 'string' || v === '') throw new ModalfuseError(`line ${line}, "${k}" must be the path of a WAV file`, { file, modality: m, found: JSON.stringify(v) });
        out[m] = Array.from(prepareWavFile(path.resolve(baseDir, v), tr, noise));
      }
    }
    return out;
  };
}

export interface PredictSources {
  /** A dataset folder or a JSONL file (JSONL lines may hold raw inputs). */
  input?: string;
  /** Raw images (.npy or .json); needs the model's transforms. */
  image?: string;
  /** One WAV file; needs the model's transforms. */
  wav?: string;
  /** Split of a dataset folder. */
  split?: SplitName;
  /** Noise added to `wav` and to JSONL `audio_wav` recordings (default: the training SNR, seed 0). */
  wavNoise?: RecordingNoise;
}

/**
 * The samples to predict, from `input` or from raw `image` / `wav` files prepared with the
 * transforms of `modelDir`. With several images and one recording, the recording goes with
 * every image.
 */
export function readPredictSources(src: PredictSources, fm: FusionModel, modelDir: string): PredictionInput & { warnings: string[] } {
  const raw = src.image !== undefined || src.wav !== undefined;
  if (src.input !== undefined && raw) throw new ModalfuseError('give either --input or raw inputs (--image / --wav), not both', { found: ['--input', src.image ? '--image' : '--wav'] });
  if (src.input === undefined && !raw) throw new ModalfuseError('missing --input (a dataset folder or JSONL), or --image / --wav for a model trained on avmnist');
  const t = modelTransforms(modelDir);
  if (src.input !== undefined) {
    const input = src.input;
    const hook = rawRecordHook(t, path.dirname(path.resolve(input)), input, src.wavNoise);
    return { ...readPredictionInput(input, fm, src.split, hook), warnings: [] };
  }
  const tr = needTransforms(t, src.image !== undefined ? '--image' : '--wav', path.join(modelDir, 'modalfuse.json'));
  const reads = fm.inputModalities;
  const flags: Record<string, string> = { image: '--image', audio: '--wav' };
  for (const m of reads) {
    if (!(m in flags)) throw new ModalfuseError(`the model reads modality "${m}", which --image / --wav cannot give; use --input`, { modality: m, expected: Object.keys(flags), found: reads });
    if ((m === 'image' ? src.image : src.wav) === undefined) throw new ModalfuseError(`the model reads modality "${m}": give ${flags[m]} FILE too`, { modality: m, expected: reads.map((x) => flags[x] ?? x) });
  }
  for (const [m, v] of [['image', src.image], ['audio', src.wav]] as const) {
    if (v !== undefined && !reads.includes(m)) throw new ModalfuseError(`the model does not read modality "${m}" (drop ${flags[m]})`, { modality: m, expected: reads, found: m });
  }
  const features: Record<string, Float32Array> = {};
  const warnings: string[] = [];
  let n = 1;
  if (src.image !== undefined) {
    const imgs = readImageFile(src.image);
    warnings.push(...imgs.warnings.map((w) => `${src.image}: ${w}`));
    features.image = prepareImages(imgs, tr);
    n = imgs.n;
  }
  if (src.wav !== undefined) {
    const a = prepareWavFile(src.wav, tr, src.wavNoise);
    const x = new Float32Array(n * a.length);
    for (let i = 0; i < n; i++) x.set(a, i * a.length);
    features.audio = x;
  }
  for (const m of reads) {
    const want = sizeOf(fm.meta.modalities[m].shape) * n;
    if (features[m].length !== want) {
      throw new ModalfuseError(`the prepared ${m} input does not fit the model`, { modality: m, expected: fm.meta.modalities[m].shape, found: `${features[m].length / n} values per sample` });
    }
  }
  const source = [src.image, src.wav].filter(Boolean).join(' + ');
  return { n, features, source, warnings };
}
