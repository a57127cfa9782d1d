/**
 * The fitted transforms of AV-MNIST (the PCA basis of the image energy removal and the
 * log-mel spectrogram parameters) and the functions that prepare a raw image or recording
 * exactly as the data set builder did. No Node modules: the browser demo and `predict`
 * use the same code. Reading them from a data or model folder is in ./avmnist.ts.
 */
import { ModalfuseError } from '../../errors.js';
import { Rng } from '../../util/rng.js';
import { AVMNIST_LOGMEL, LogMel, addWhiteNoise, centreToLength, normalizeLevel, resample, type LogMelParams } from '../../data/audio.js';
import { pcaReconstruct } from '../../data/pca.js';

export const IMAGE_SIDE = 28;
export const IMAGE_SIZE = IMAGE_SIDE * IMAGE_SIDE;

/** Description of the image transform as stored in JSON (arrays live in .npy files beside it). */
export interface ImageTransformInfo {
  kind: 'pca-reconstruct';
  /** Model input shape. */
  shape: number[];
  /** Raw pixels (0-255) are multiplied by this before the PCA (1/255). */
  inputScale: number;
  /** Number of components kept. */
  k: number;
  /** Target fraction of the variance kept (0.25: 75% of the energy removed). */
  targetFraction: number;
  /** Fraction the k components actually keep, and the first k - 1 of them. */
  keptFraction: number;
  previousFraction: number;
  /** Files (relative to the folder of the description): mean [784] and components [k, 784], float32. */
  files: { mean: string; components: string };
}

export interface AudioTransformInfo extends LogMelParams {
  /** Model input shape. */
  shape: number[];
  /** SNR (dB) of the white noise added to every training, validation and test recording. */
  snrDb: number;
}

/** transforms.json: what a data folder's `preprocessing/` and a model folder's `transforms/` hold. */
export interface AvmnistTransformsInfo {
  schemaVersion: 1;
  dataset: 'avmnist';
  modalities: { image: ImageTransformInfo; audio: AudioTransformInfo };
}

export interface AvmnistTransforms extends AvmnistTransformsInfo {
  /** PCA mean [784] and components [k * 784] (float32, exactly as the builder used them). */
  pcaMean: Float32Array;
  pcaComponents: Float32Array;
}

/**
 * A raw 28x28 image (row-major, 0-255; Uint8Array or Float32Array) -> the model's image
 * input: scaled to [0, 1], projected on the kept components and reconstructed ([784]).
 */
export function prepareImage(pixels: Uint8Array | Float32Array | ArrayLike<number>, t: AvmnistTransforms): Float32Array {
  const info = t.modalities.image;
  if (pixels.length !== IMAGE_SIZE) {
    throw new ModalfuseError('an AV-MNIST image must have 28x28 pixels', { modality: 'image', expected: IMAGE_SIZE, found: pixels.length });
  }
  return pcaReconstruct(pixels, 1, t.pcaMean, t.pcaComponents, info.k, info.inputScale);
}

export interface PrepareAudioOptions {
  /** Add white noise at this SNR (dB, relative to the unit-RMS recording); none when left out. */
  snrDb?: number;
  /** Seed of that noise (default 0). */
  seed?: number;
}

/**
 * A raw mono recording (any scale, any sample rate) -> the model's audio input
 * ([frames * nMels], time-major): resampled to the spectrogram's rate, DC removed and
 * scaled to unit RMS, centred in the fixed window, optionally noised, log-mel.
 * With `snrDb` = the data set's SNR and the seed from `avmnistNoiseSeed`, it reproduces a
 * data set sample exactly.
 */
export function prepareAudio(samples: Float32Array | ArrayLike<number>, sampleRate: number, t: AvmnistTransforms | LogMelParams, opts: PrepareAudioOptions = {}): Float32Array {
  const p: LogMelParams = 'modalities' in t ? t.modalities.audio : t;
  if (!(sampleRate > 0)) throw new ModalfuseError('bad sample rate', { modality: 'audio', expected: 'a positive number of samples per second', found: sampleRate });
  if (samples.length === 0) throw new ModalfuseError('empty recording', { modality: 'audio', expected: 'at least one sample', found: 0 });
  const x = sampleRate === p.sampleRate ? samples : resample(samples, sampleRate, p.sampleRate);
  const fixed = centreToLength(normalizeLevel(x), p.length);
  if (opts.snrDb !== undefined) addWhiteNoise(fixed, opts.snrDb, new Rng(opts.seed ?? 0));
  return new LogMel(p).compute(fixed);
}

/**
 * The noise added to a user's recording (`predict --wav`, JSONL `audio_wav`, the demo
 * page's WAV upload). `snrDb`: `'training'` (the default) = white noise at the SNR the data
 * set was built with (`modalities.audio.snrDb`), so the recording is prepared as the
 * training recordings were; `'none'` = the recording as it is (clean); a number = that SNR
 * in dB. `seed` (default 0) seeds the noise, so the same recording and options give the
 * same input in Node and in the browser.
 */
export interface RecordingNoise {
  snrDb?: number | 'training' | 'none';
  seed?: number;
}

/** prepareAudio's options for a user's recording under `noise` (see RecordingNoise). */
export function recordingNoiseOptions(t: AvmnistTransforms | AvmnistTransformsInfo, noise: RecordingNoise = {}): PrepareAudioOptions {
  const s = noise.snrDb ?? 'training';
  if (s === 'none') return {};
  const snrDb = s === 'training' ? t.modalities.audio.snrDb : s;
  if (typeof snrDb !== 'number' || !Number.isFinite(snrDb)) {
    throw new ModalfuseError('bad SNR for the noise added to a recording', { modality: 'audio', expected: "a number of dB, 'training' or 'none'", found: String(s === 'training' ? snrDb : s) });
  }
  const seed = noise.seed ?? 0;
  if (!Number.isInteger(seed)) throw new ModalfuseError('bad seed for the noise added to a recording', { modality: 'audio', expected: 'an integer', found: seed });
  return { snrDb, seed };
}

/** Splits are numbered in seeds as train 0, valid 1, test 2. */
export const SPLIT_CODES = { train: 0, valid: 1, test: 2 } as const;

/** 32-bit hash of integers (seed derivation). */
export function mixSeed(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x2c1b3c6d);
    h ^= h >>> 12;
  }
  return h >>> 0;
}

/** Seed of the noise added to sample `i` of `split` in a build with `seed`. */
export function avmnistNoiseSeed(seed: number, split: keyof typeof SPLIT_CODES, i: number): number {
  return mixSeed(seed, 0x6e6f, SPLIT_CODES[split], i);
}

/** Seed of the recording draw of `split` in a build with `seed`. */
export function avmnistPairingSeed(seed: number, split: keyof typeof SPLIT_CODES): number {
  return mixSeed(seed, 0x7061, SPLIT_CODES[split]);
}

/** Assembles transforms from their JSON description and the two PCA arrays (e.g. fetched in a browser). */
export function transformsFromParts(info: AvmnistTransformsInfo, pcaMean: Float32Array, pcaComponents: Float32Array): AvmnistTransforms {
  const k = info.modalities.image.k;
  if (pcaMean.length !== IMAGE_SIZE || pcaComponents.length !== k * IMAGE_SIZE) {
    throw new ModalfuseError('PCA arrays do not match the transform description', {
      file: info.modalities.image.files.components,
      expected: `mean [${IMAGE_SIZE}], components [${k}, ${IMAGE_SIZE}]`,
      found: `mean [${pcaMean.length}], components of ${pcaComponents.length} values`,
    });
  }
  return { ...info, pcaMean, pcaComponents };
}

export { AVMNIST_LOGMEL };
