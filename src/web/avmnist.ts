/**
 * AV-MNIST in the browser: the model folder's `transforms` (written by `attachTransforms`
 * in src/datasets/avmnist/build.ts: `transforms/transforms.json` + the PCA arrays as .npy) fetched
 * over HTTP, and a drawn digit / an uploaded WAV prepared with the very functions Node uses
 * (`prepareImage` / `prepareAudio` of src/datasets/avmnist/transforms.ts). Browser bundle only:
 * no `node:` import.
 *
 * Reading a float .npy is done here rather than imported, because src/data/npy.ts imports
 * `node:fs` at the top (the build refuses that). WAV decoding is shared with Node
 * (src/data/wav.ts).
 */
import { ModalfuseError } from '../errors.js';
import {
  prepareAudio,
  prepareImage,
  recordingNoiseOptions,
  transformsFromParts,
  IMAGE_SIDE,
  type AvmnistTransforms,
  type AvmnistTransformsInfo,
} from '../datasets/avmnist/transforms.js';
import type { PrepareAudio, PrepareContext, PrepareImage } from './prepare.js';

/** The model's `transforms` entry as attachTransforms writes it. */
interface TransformsRef {
  dir?: string;
  file?: string;
  dataset?: string;
}

const cache = new WeakMap<object, Promise<AvmnistTransforms>>();

/** A float32/float64 little-endian C-order .npy -> Float32Array (what the builder writes). */
export function parseFloatNpy(buf: ArrayBuffer, file: string): Float32Array {
  const bytes = new Uint8Array(buf);
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new ModalfuseError('not a NumPy .npy file (bad magic string)', { file });
  const dv = new DataView(buf);
  const major = bytes[6];
  const [len, start] = major === 1 ? [dv.getUint16(8, true), 10] : [dv.getUint32(8, true), 12];
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + len));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if ((descr !== '<f4' && descr !== '<f8') || fortran !== 'False' || shapeText === undefined) {
    throw new ModalfuseError('unsupported .npy array for a transform', { file, expected: "descr '<f4' or '<f8', C order", found: header.trim() });
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const n = shape.reduce((a, b) => a * b, 1);
  const size = descr === '<f4' ? 4 : 8;
  const off = start + len;
  if (bytes.length - off < n * size) throw new ModalfuseError('truncated .npy file', { file, expected: n * size, found: bytes.length - off });
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = size === 4 ? dv.getFloat32(off + 4 * i, true) : dv.getFloat64(off + 8 * i, true);
  return out;
}

/** The model folder's AV-MNIST transforms, fetched once per model. */
export function avmnistTransforms(ctx: PrepareContext): Promise<AvmnistTransforms> {
  let p = cache.get(ctx.meta);
  if (!p) {
    p = (async () => {
      const ref = ctx.meta.transforms as TransformsRef | undefined;
      if (!ref || typeof ref.file !== 'string') {
        throw new ModalfuseError('the model folder has no transforms (modalfuse.json "transforms"): it cannot prepare a drawn image or a recording', {
          expected: 'a model trained on avmnist (transforms attached by attachTransforms)',
          found: ctx.meta.dataset || 'no transforms',
        });
      }
      const info = JSON.parse(new TextDecoder().decode(await ctx.asset(ref.file))) as AvmnistTransformsInfo;
      if (info?.schemaVersion !== 1 || info.dataset !== 'avmnist' || !info.modalities?.image || !info.modalities?.audio) {
        throw new ModalfuseError('not an AV-MNIST transforms file', { file: ref.file, expected: 'schemaVersion 1, dataset avmnist, image and audio' });
      }
      const dir = ref.file.includes('/') ? ref.file.slice(0, ref.file.lastIndexOf('/') + 1) : '';
      const files = info.modalities.image.files;
      const [mean, comps] = await Promise.all([
        ctx.asset(dir + files.mean).then((b) => parseFloatNpy(b, dir + files.mean)),
        ctx.asset(dir + files.components).then((b) => parseFloatNpy(b, dir + files.components)),
      ]);
      return transformsFromParts(info, mean, comps);
    })();
    cache.set(ctx.meta, p);
    p.catch(() => cache.delete(ctx.meta));
  }
  return p;
}

/**
 * Mono float samples and the rate of a WAV file (the same decoder Node uses). The decoder
 * (the `wavefile` package) is loaded on first use: the browser build puts it in a chunk of
 * its own, so pages that never decode a recording do not download it.
 */
export async function decodeWavBytes(bytes: Uint8Array, file = '<upload>'): Promise<{ samples: Float32Array; sampleRate: number }> {
  const { decodeWav } = await import('../data/wav.js');
  return decodeWav(bytes, file);
}

/** Drawn digit (0..255, 28 x 28) -> the image input, exactly as prepareImage in Node. */
export const avmnistImage: PrepareImage = async (pixels, size, ctx) => {
  if (size.width !== IMAGE_SIDE || size.height !== IMAGE_SIDE) {
    throw new ModalfuseError('an AV-MNIST drawing must be 28 x 28', { modality: ctx.modality, expected: [IMAGE_SIDE, IMAGE_SIDE], found: [size.height, size.width] });
  }
  return prepareImage(pixels, await avmnistTransforms(ctx));
};

/**
 * Uploaded WAV -> the audio input: decoded and mixed to mono, then prepareAudio with the
 * model's spectrogram parameters and `noise` (default: the training SNR, seed 0; `{ snrDb:
 * 'none' }` = clean), exactly as `predict --wav` with the same options.
 */
export const avmnistAudio: PrepareAudio = async (wav, ctx, noise) => {
  const { samples, sampleRate } = await decodeWavBytes(wav);
  const t = await avmnistTransforms(ctx);
  return prepareAudio(samples, sampleRate, t, recordingNoiseOptions(t, noise));
};
