/**
 * Audio DSP for AV-MNIST and for preparing raw recordings at prediction time: fixed-length
 * framing, white noise at a given SNR, a real FFT, a mel filterbank and the log-mel
 * spectrogram. Pure functions on typed arrays (no Node modules), so the browser uses them too.
 *
 * Written here rather than taken from npm: what is needed is ~200 lines of standard DSP
 * (a radix-2 real FFT of 256-point frames, a Hann window, HTK mel triangles), and the npm
 * candidates either pull in far more than that (meyda: feature extraction with its own
 * buffering and window conventions; essentia.js: a 2 MB wasm build), or are unmaintained
 * FFT-only packages (fft.js, fft-js) that still leave framing, windowing and the
 * filterbank to us. Owning the code also pins the exact numbers that a model folder
 * records, so Node, the browser and `predict` compute identical spectrograms.
 * (Decoding WAV files is done by the maintained `wavefile` package, in ./avmnist.ts.)
 */
import { Rng } from '../util/rng.js';

/** Parameters of the log-mel spectrogram (stored with the data set and in model folders). */
export interface LogMelParams {
  kind: 'log-mel';
  /** Sample rate the recordings are (re)sampled to. */
  sampleRate: number;
  /** Fixed number of samples every recording is centred in (cut or zero-padded). */
  length: number;
  /** Frame length in samples (= FFT size; a power of two). */
  frameLength: number;
  /** Hop between frames in samples. */
  hop: number;
  /** Number of frames (time steps); frames = 1 + (length - frameLength) / hop. */
  frames: number;
  /** Number of mel bands. */
  nMels: number;
  fMin: number;
  fMax: number;
  /** 'htk': mel = 2595 log10(1 + f / 700); triangles of peak 1 between neighbouring centres. */
  melScale: 'htk';
  /** Periodic Hann window. */
  window: 'hann';
  /** Spectrogram value = ln(melPower + logOffset). */
  logOffset: number;
  /**
   * Level normalisation before framing: the DC offset is removed and the recording is
   * scaled to unit RMS (over the whole original recording), so an SNR of s dB means white
   * noise of standard deviation 10^(-s/20).
   */
  normalize: 'unit-rms';
  /** Layout of the output: [frames, nMels, 1], time-major. */
  layout: 'time-mel';
}

/** The AV-MNIST spectrogram: 8 kHz, 0.776 s windows, 32 frames of 32 ms every 24 ms, 32 mel bands. */
export const AVMNIST_LOGMEL: LogMelParams = {
  kind: 'log-mel',
  sampleRate: 8000,
  length: 6208,
  frameLength: 256,
  hop: 192,
  frames: 32,
  nMels: 32,
  fMin: 0,
  fMax: 4000,
  melScale: 'htk',
  window: 'hann',
  logOffset: 1e-6,
  normalize: 'unit-rms',
  layout: 'time-mel',
};

export function hzToMel(f: number): number {
  return 2595 * Math.log10(1 + f / 700);
}

export function melToHz(m: number): number {
  return 700 * (10 ** (m / 2595) - 1);
}

/** Centre frequencies (Hz) of the mel bands. */
export function melBandCenters(p: LogMelParams): number[] {
  const lo = hzToMel(p.fMin);
  const hi = hzToMel(p.fMax);
  const step = (hi - lo) / (p.nMels + 1);
  return Array.from({ length: p.nMels }, (_, i) => melToHz(lo + step * (i + 1)));
}

export interface MelFilterbank {
  nMels: number;
  nBins: number;
  /** Per band: first bin, and weights for bins first..first+weights.length-1. */
  first: Int32Array;
  weights: Float32Array[];
}

/** Triangular HTK mel filters on the bins of a `frameLength`-point FFT. Throws if a band covers no bin. */
export function melFilterbank(p: LogMelParams): MelFilterbank {
  const nBins = p.frameLength / 2 + 1;
  const lo = hzToMel(p.fMin);
  const hi = hzToMel(p.fMax);
  const step = (hi - lo) / (p.nMels + 1);
  const edges = Array.from({ length: p.nMels + 2 }, (_, i) => melToHz(lo + step * i));
  const binHz = p.sampleRate / p.frameLength;
  const first = new Int32Array(p.nMels);
  const weights: Float32Array[] = [];
  for (let m = 0; m < p.nMels; m++) {
    const [l, c, r] = [edges[m], edges[m + 1], edges[m + 2]];
    const w: number[] = [];
    let start = -1;
    for (let k = 0; k < nBins; k++) {
      const f = k * binHz;
      const v = f <= l || f >= r ? 0 : f <= c ? (f - l) / (c - l) : (r - f) / (r - c);
      if (v > 0) {
        if (start < 0) start = k;
        w[k - start] = v;
      } else if (start >= 0) break;
    }
    if (start < 0) {
      // A band narrower than one bin: give it the nearest bin (keeps every band informative).
      start = Math.min(nBins - 1, Math.round(c / binHz));
      w[0] = 1;
    }
    first[m] = start;
    weights.push(Float32Array.from(w, (x) => x ?? 0));
  }
  return { nMels: p.nMels, nBins, first, weights };
}

/** Periodic Hann window of length n. */
export function hannWindow(n: number): Float32Array {
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n);
  return w;
}

/**
 * Real FFT of a fixed power-of-two size n, computed as one complex FFT of size n/2 on the
 * even/odd samples packed as real/imaginary parts, then split. `power(x, out)` writes
 * |X[k]|^2 for k = 0..n/2.
 */
export class RealFFT {
  readonly n: number;
  private readonly m: number;
  private readonly rev: Int32Array;
  private readonly cosT: Float64Array;
  private readonly sinT: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;

  constructor(n: number) {
    if (!(n >= 4 && (n & (n - 1)) === 0)) throw new Error(`RealFFT size must be a power of two >= 4, got ${n}`);
    this.n = n;
    const m = n / 2;
    this.m = m;
    const bits = Math.log2(m);
    this.rev = new Int32Array(m);
    for (let i = 0; i < m; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) if (i & (1 << b)) r |= 1 << (bits - 1 - b);
      this.rev[i] = r;
    }
    // twiddles e^{-2 pi i k / n}, k = 0..n/2 (the size-m FFT uses every other one)
    this.cosT = new Float64Array(m + 1);
    this.sinT = new Float64Array(m + 1);
    for (let k = 0; k <= m; k++) {
      this.cosT[k] = Math.cos((2 * Math.PI * k) / n);
      this.sinT[k] = -Math.sin((2 * Math.PI * k) / n);
    }
    this.re = new Float64Array(m);
    this.im = new Float64Array(m);
  }

  /** Complex spectrum X[k], k = 0..n/2, of the real frame `x` (length n). */
  transform(x: ArrayLike<number>, outRe: Float64Array, outIm: Float64Array): void {
    const { m, re, im, cosT, sinT } = this;
    this.transformInPlace(x);
    // split: X[k] = E[k] + W^k O[k], E = (Z[k] + conj Z[m-k]) / 2, O = (Z[k] - conj Z[m-k]) / 2i
    for (let k = 0; k <= m; k++) {
      const k1 = k % m;
      const k2 = (m - k) % m;
      const zr = re[k1];
      const zi = im[k1];
      const cr = re[k2];
      const ci = -im[k2];
      const er = (zr + cr) / 2;
      const ei = (zi + ci) / 2;
      // (z - c) / 2i = (di - i dr) / 2 where d = z - c
      const or = (zi - ci) / 2;
      const oi = -(zr - cr) / 2;
      const wr = cosT[k];
      const wi = sinT[k];
      outRe[k] = er + or * wr - oi * wi;
      outIm[k] = ei + or * wi + oi * wr;
    }
  }

  /** Power spectrum |X[k]|^2, k = 0..n/2, into `out` (length n/2 + 1). */
  power(x: ArrayLike<number>, out: Float64Array): void {
    const m = this.m;
    const { re, im, cosT, sinT } = this;
    this.transformInPlace(x);
    for (let k = 0; k <= m; k++) {
      const k1 = k % m;
      const k2 = (m - k) % m;
      const er = (re[k1] + re[k2]) / 2;
      const ei = (im[k1] - im[k2]) / 2;
      const or = (im[k1] + im[k2]) / 2;
      const oi = -(re[k1] - re[k2]) / 2;
      const xr = er + or * cosT[k] - oi * sinT[k];
      const xi = ei + or * sinT[k] + oi * cosT[k];
      out[k] = xr * xr + xi * xi;
    }
  }

  private transformInPlace(x: ArrayLike<number>): void {
    const { m, rev, re, im, cosT, sinT } = this;
    for (let i = 0; i < m; i++) {
      const j = rev[i];
      re[j] = x[2 * i];
      im[j] = x[2 * i + 1];
    }
    for (let size = 2; size <= m; size <<= 1) {
      const half = size >> 1;
      const stride = this.n / size;
      for (let s = 0; s < m; s += size) {
        for (let t = 0; t < half; t++) {
          const wr = cosT[t * stride];
          const wi = sinT[t * stride];
          const a = s + t;
          const b = a + half;
          const xr = re[b] * wr - im[b] * wi;
          const xi = re[b] * wi + im[b] * wr;
          re[b] = re[a] - xr;
          im[b] = im[a] - xi;
          re[a] += xr;
          im[a] += xi;
        }
      }
    }
  }
}

/** Removes the DC offset and scales to unit RMS (a silent recording stays zero). */
export function normalizeLevel(x: ArrayLike<number>): Float32Array {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i];
  mean = n > 0 ? mean / n : 0;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (x[i] - mean) ** 2;
  const rms = n > 0 ? Math.sqrt(ss / n) : 0;
  const g = rms > 0 ? 1 / rms : 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (x[i] - mean) * g;
  return out;
}

/** Centres `x` in `length` samples: a longer recording keeps its middle, a shorter one is zero-padded on both sides. */
export function centreToLength(x: ArrayLike<number>, length: number): Float32Array {
  const out = new Float32Array(length);
  const n = x.length;
  if (n >= length) {
    const start = Math.floor((n - length) / 2);
    for (let i = 0; i < length; i++) out[i] = x[start + i];
  } else {
    const off = Math.floor((length - n) / 2);
    for (let i = 0; i < n; i++) out[off + i] = x[i];
  }
  return out;
}

/**
 * Resamples with a windowed-sinc (Hann-windowed, 16 zero crossings) low-pass interpolator;
 * used only when a recording's rate differs from the spectrogram's.
 */
export function resample(x: ArrayLike<number>, fromRate: number, toRate: number): Float32Array {
  if (fromRate === toRate) return Float32Array.from(x);
  const ratio = toRate / fromRate;
  const n = Math.max(1, Math.round(x.length * ratio));
  const out = new Float32Array(n);
  const cutoff = Math.min(1, ratio); // normalised to the input rate's Nyquist
  const zc = 16;
  const half = zc / cutoff;
  for (let i = 0; i < n; i++) {
    const t = i / ratio;
    const lo = Math.ceil(t - half);
    const hi = Math.floor(t + half);
    let acc = 0;
    for (let j = Math.max(0, lo); j <= Math.min(x.length - 1, hi); j++) {
      const d = t - j;
      const u = d * cutoff;
      const sinc = u === 0 ? 1 : Math.sin(Math.PI * u) / (Math.PI * u);
      const w = 0.5 + 0.5 * Math.cos((Math.PI * d) / half);
      acc += x[j] * sinc * w * cutoff;
    }
    out[i] = acc;
  }
  return out;
}

/** Fills `out` with `std` * N(0, 1) (Box-Muller, both outputs used), drawn from `rng`. */
export function fillNormal(out: Float32Array, rng: Rng, std = 1): Float32Array {
  const n = out.length;
  let i = 0;
  while (i < n) {
    let u = rng.next();
    while (u === 0) u = rng.next();
    const v = rng.next();
    const r = std * Math.sqrt(-2 * Math.log(u));
    out[i++] = r * Math.cos(2 * Math.PI * v);
    if (i < n) out[i++] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** Noise standard deviation for an SNR in dB relative to a unit-RMS signal. */
export function noiseStdForSnr(snrDb: number): number {
  return 10 ** (-snrDb / 20);
}

/** Adds white Gaussian noise at `snrDb` (relative to unit signal power) to `x` in place. */
export function addWhiteNoise(x: Float32Array, snrDb: number, rng: Rng, scratch?: Float32Array): Float32Array {
  const noise = fillNormal(scratch && scratch.length === x.length ? scratch : new Float32Array(x.length), rng, noiseStdForSnr(snrDb));
  for (let i = 0; i < x.length; i++) x[i] += noise[i];
  return x;
}

/** Reusable log-mel computation for one parameter set (FFT tables, window, filterbank, buffers). */
export class LogMel {
  readonly params: LogMelParams;
  private readonly fft: RealFFT;
  private readonly win: Float32Array;
  private readonly bank: MelFilterbank;
  private readonly frame: Float64Array;
  private readonly spec: Float64Array;

  constructor(p: LogMelParams) {
    const expectFrames = 1 + Math.floor((p.length - p.frameLength) / p.hop);
    if (expectFrames !== p.frames) throw new Error(`log-mel parameters disagree: ${p.frames} frames, but 1 + (length - frameLength) / hop = ${expectFrames}`);
    this.params = p;
    this.fft = new RealFFT(p.frameLength);
    this.win = hannWindow(p.frameLength);
    this.bank = melFilterbank(p);
    this.frame = new Float64Array(p.frameLength);
    this.spec = new Float64Array(p.frameLength / 2 + 1);
  }

  /** Log-mel of a fixed-length signal (length `params.length`) into out[offset + t * nMels + m]. */
  compute(x: ArrayLike<number>, out: Float32Array = new Float32Array(this.params.frames * this.params.nMels), offset = 0): Float32Array {
    const p = this.params;
    const { frame, spec, win, bank } = this;
    if (x.length !== p.length) throw new Error(`log-mel input must have ${p.length} samples, got ${x.length}`);
    for (let t = 0; t < p.frames; t++) {
      const s = t * p.hop;
      for (let i = 0; i < p.frameLength; i++) frame[i] = x[s + i] * win[i];
      this.fft.power(frame, spec);
      const o = offset + t * p.nMels;
      for (let m = 0; m < p.nMels; m++) {
        const w = bank.weights[m];
        const f = bank.first[m];
        let acc = 0;
        for (let j = 0; j < w.length; j++) acc += w[j] * spec[f + j];
        out[o + m] = Math.log(acc + p.logOffset);
      }
    }
    return out;
  }
}

/** One-shot log-mel spectrogram of a fixed-length signal ([frames * nMels], time-major). */
export function logMelSpectrogram(x: ArrayLike<number>, p: LogMelParams = AVMNIST_LOGMEL): Float32Array {
  return new LogMel(p).compute(x);
}

/**
 * Raw recording -> the model's audio input: resample to `p.sampleRate`, remove DC and scale
 * to unit RMS, centre in `p.length` samples, optionally add white noise at `snrDb`, log-mel.
 */
export function recordingToLogMel(
  samples: ArrayLike<number>,
  sampleRate: number,
  p: LogMelParams = AVMNIST_LOGMEL,
  noise?: { snrDb: number; rng: Rng },
): Float32Array {
  const x = sampleRate === p.sampleRate ? samples : resample(samples, sampleRate, p.sampleRate);
  const fixed = centreToLength(normalizeLevel(x), p.length);
  if (noise) addWhiteNoise(fixed, noise.snrDb, noise.rng);
  return new LogMel(p).compute(fixed);
}
