/**
 * WAV decoding with the maintained `wavefile` package: any format it reads, mixed to mono.
 * No `node:` imports, so the browser bundle can use it too.
 */
import * as wavefileNs from 'wavefile';
import { ModalfuseError } from '../errors.js';

type WaveFileCtor = new (b: Uint8Array) => { fmt: unknown; getSamples(interleaved: boolean, ctor: Float64ArrayConstructor): unknown };
// Node loads the package's CJS build (the class sits on `default`), bundlers its ESM build
// (a named export): accept both.
const ns = wavefileNs as unknown as { WaveFile?: WaveFileCtor; default?: { WaveFile: WaveFileCtor } };
const WaveFile: WaveFileCtor = ns.WaveFile ?? ns.default!.WaveFile;

/** Decodes a WAV file (any format `wavefile` reads) to mono float samples and its rate. */
export function decodeWav(bytes: Uint8Array, file = '<buffer>'): { samples: Float32Array; sampleRate: number } {
  let wav: InstanceType<WaveFileCtor>;
  try {
    wav = new WaveFile(bytes);
  } catch (e) {
    throw new ModalfuseError(`cannot decode WAV: ${(e as Error).message}`, { file, modality: 'audio', expected: 'a WAV file' });
  }
  const fmt = wav.fmt as { sampleRate: number; numChannels: number };
  const raw = wav.getSamples(false, Float64Array) as Float64Array | Float64Array[];
  let samples: Float32Array;
  if (Array.isArray(raw)) {
    const n = raw[0].length;
    samples = new Float32Array(n);
    for (const ch of raw) for (let i = 0; i < n; i++) samples[i] += ch[i] / raw.length;
  } else {
    samples = Float32Array.from(raw);
  }
  if (samples.length === 0) throw new ModalfuseError('empty WAV file', { file, modality: 'audio', expected: 'at least one sample', found: 0 });
  return { samples, sampleRate: fmt.sampleRate };
}
