/**
 * `Conv2DBackpropInput` for the wasm backend, replacing the stock kernel (a direct loop
 * that runs far below the forward convolution's speed).
 *
 * Two formulations, both on the wasm (XNNPACK) primitives:
 *  - `conv`: the transposed convolution as forward convolutions. dy is convolved with the
 *    spatially flipped filter, in/out channels swapped (stride 1: one convolution, whose
 *    output is dx). For stride s > 1 the filter is split into its s*s phases: the dx
 *    pixels with (i + pad) % s == r only see the taps k with k % s == r, so each phase is
 *    a stride-1 convolution of dy with its own small sub-filter, and no multiply-add is
 *    spent on the zeros a dilated dy would hold; the phase outputs are interleaved and
 *    cropped into dx on the heap.
 *  - `col2im`: cols [P, fh*fw*inC] = dy[P, outC] x W^T[outC, fh*fw*inC] on the wasm matmul,
 *    then the columns are scatter-added into dx.
 * `auto` picks `conv` when it does useful work (enough input channels, little phase
 * padding) and `col2im` otherwise (e.g. a single input channel).
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { convGeometry, shapeEq, validRange, type ConvAttrsLike, type ConvGeometry } from './conv_geometry.js';
import {
  alloc, batchChunk, f32, free, matMul, reshape, runWasmKernel, transpose, type BackendWasm,
} from './wasm_util.js';

interface Attrs extends ConvAttrsLike {
  inputShape: [number, number, number, number];
}

export type BackpropInputStrategy = 'auto' | 'conv' | 'col2im';
let strategy: BackpropInputStrategy = 'auto';

/** Forces one formulation (tests and benchmarks); 'auto' restores the default choice. */
export function setBackpropInputStrategy(s: BackpropInputStrategy): void {
  strategy = s;
}

/** One phase (r, c) of the transposed conv: dx rows with (ih + pt) % sh == r, cols likewise. */
interface Phase {
  r: number;
  c: number;
  /** Sub-filter size (0 when no tap of the filter falls in this phase). */
  mh: number;
  mw: number;
  padT: number;
  padB: number;
  padL: number;
  padR: number;
}

/** Geometry of the phase-split convolution, or null where it does not apply. */
interface PhasePlan {
  q0h: number;
  q0w: number;
  qh: number;
  qw: number;
  phases: Phase[];
  /** Multiply-adds of the phase convolutions over those of the true transposed conv. */
  waste: number;
}

/** Sub-filter extent of phase r: 1 + the largest m with k*d = r + m*s for a tap k < f. */
function phaseExtent(f: number, s: number, d: number, r: number): number {
  let m = -1;
  for (let k = 0; k < f; k++) if ((k * d) % s === r) m = Math.max(m, (k * d - r) / s);
  return m + 1;
}

function phasePlan(g: ConvGeometry): PhasePlan | null {
  const { fh, fw, sh, sw, dh, dw, pt, pl, inH, inW, outH, outW } = g;
  const q0h = Math.floor(pt / sh);
  const q0w = Math.floor(pl / sw);
  const qh = Math.floor((pt + inH - 1) / sh) - q0h + 1;
  const qw = Math.floor((pl + inW - 1) / sw) - q0w + 1;
  const phases: Phase[] = [];
  let done = 0;
  for (let r = 0; r < sh; r++) {
    const mh = phaseExtent(fh, sh, dh, r);
    for (let c = 0; c < sw; c++) {
      const mw = phaseExtent(fw, sw, dw, c);
      if (mh === 0 || mw === 0) {
        phases.push({ r, c, mh: 0, mw: 0, padT: 0, padB: 0, padL: 0, padR: 0 });
        continue;
      }
      // out[j] = sum_m dy[q0 + j - m] * W(m): a stride-1 conv of dy with the flipped sub-filter.
      const padT = mh - 1 - q0h;
      const padL = mw - 1 - q0w;
      const padB = qh + mh - 1 - padT - outH;
      const padR = qw + mw - 1 - padL - outW;
      if (padT < 0 || padL < 0 || padB < 0 || padR < 0) return null; // pads wider than the filter
      phases.push({ r, c, mh, mw, padT, padB, padL, padR });
      done += qh * qw * mh * mw;
    }
  }
  // per (inC, outC) pair: taps of the phase convs vs those of the true transposed conv
  const useful = outH * outW * fh * fw;
  return { q0h, q0w, qh, qw, phases, waste: done / Math.max(1, useful) };
}

/** The flipped sub-filter of one phase, F[mh, mw, outC, inC]. */
function phaseFilter(backend: BackendWasm, filter: TensorInfo, g: ConvGeometry, ph: Phase): TensorInfo {
  const { fh, fw, sh, sw, dh, dw, inC: Ci, outC: Co } = g;
  const F = alloc(backend, [ph.mh, ph.mw, Co, Ci], 'float32', true);
  const wv = f32(backend, filter);
  const fv = f32(backend, F);
  for (let kh = 0; kh < fh; kh++) {
    if ((kh * dh) % sh !== ph.r) continue;
    const t = ph.mh - 1 - (kh * dh - ph.r) / sh;
    for (let kw = 0; kw < fw; kw++) {
      if ((kw * dw) % sw !== ph.c) continue;
      const u = ph.mw - 1 - (kw * dw - ph.c) / sw;
      const dstBase = (t * ph.mw + u) * Co * Ci;
      const srcBase = (kh * fw + kw) * Ci * Co;
      for (let ci = 0; ci < Ci; ci++) {
        for (let co = 0; co < Co; co++) fv[dstBase + co * Ci + ci] = wv[srcBase + ci * Co + co];
      }
    }
  }
  return F;
}

function phaseConv(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry, ph: Phase): TensorInfo {
  const F = phaseFilter(backend, filter, g, ph);
  const out = runWasmKernel(backend, 'Conv2D', { x: dy, filter: F }, {
    strides: [1, 1], dilations: [1, 1], dataFormat: 'NHWC', dimRoundingMode: undefined,
    pad: [[0, 0], [ph.padT, ph.padB], [ph.padL, ph.padR], [0, 0]],
  });
  free(backend, F);
  return out;
}

function viaConv(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry, p: PhasePlan): TensorInfo {
  const { sh, sw, inC: Ci, batch: N, inH: H, inW: W, pt, pl } = g;
  // One phase and no offset (stride 1): the convolution is dx itself.
  if (sh === 1 && sw === 1) return phaseConv(backend, dy, filter, g, p.phases[0]);
  const dx = alloc(backend, [N, H, W, Ci], 'float32', true);
  for (const ph of p.phases) {
    if (ph.mh === 0) continue; // no taps: those dx entries stay zero
    const conv = phaseConv(backend, dy, filter, g, ph); // [N, qh, qw, Ci]
    const cv = f32(backend, conv);
    const xv = f32(backend, dx);
    // rows j with ih = (q0h + j) * sh + r - pt in [0, H); columns likewise
    const j0 = Math.max(0, Math.ceil((pt - ph.r) / sh) - p.q0h);
    const j1 = Math.min(p.qh, Math.floor((H - 1 + pt - ph.r) / sh) - p.q0h + 1);
    const k0 = Math.max(0, Math.ceil((pl - ph.c) / sw) - p.q0w);
    const k1 = Math.min(p.qw, Math.floor((W - 1 + pl - ph.c) / sw) - p.q0w + 1);
    for (let n = 0; n < N; n++) {
      for (let j = j0; j < j1; j++) {
        const ih = (p.q0h + j) * sh + ph.r - pt;
        let src = ((n * p.qh + j) * p.qw + k0) * Ci;
        let dst = ((n * H + ih) * W + (p.q0w + k0) * sw + ph.c - pl) * Ci;
        const dstSkip = (sw - 1) * Ci;
        for (let k = k0; k < k1; k++, dst += dstSkip) {
          for (let ci = 0; ci < Ci; ci++) xv[dst++] = cv[src++];
        }
      }
    }
    free(backend, conv);
  }
  return dx;
}

function viaCol2im(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo {
  const { batch: N, inH: H, inW: W, inC: Ci, outH: OH, outW: OW, outC: Co, fh, fw, sh, sw, dh, dw, pt, pl } = g;
  const KK = fh * fw * Ci;
  const dx = alloc(backend, [N, H, W, Ci], 'float32', true);
  const perItem = OH * OW;
  if (N * perItem === 0 || KK === 0 || Co === 0) return dx;
  const w2 = reshape(backend, filter, [KK, Co]);
  const wT = transpose(backend, w2, [1, 0]); // [Co, KK]
  free(backend, w2);
  const nb = batchChunk(N, KK * perItem);
  for (let n0 = 0; n0 < N; n0 += nb) {
    const cur = Math.min(nb, N - n0);
    const P = cur * perItem;
    let dyChunk: TensorInfo;
    if (cur === N) {
      dyChunk = reshape(backend, dy, [P, Co]);
    } else {
      dyChunk = alloc(backend, [P, Co], 'float32');
      f32(backend, dyChunk).set(f32(backend, dy).subarray(n0 * perItem * Co, (n0 + cur) * perItem * Co));
    }
    const cols = matMul(backend, dyChunk, wT); // [P, KK]
    const cv = f32(backend, cols);
    const xv = f32(backend, dx);
    for (let kh = 0; kh < fh; kh++) {
      const [ohLo, ohHi] = validRange(H, OH, sh, kh * dh, pt);
      for (let kw = 0; kw < fw; kw++) {
        const [owLo, owHi] = validRange(W, OW, sw, kw * dw, pl);
        const colOff = (kh * fw + kw) * Ci;
        for (let n = 0; n < cur; n++) {
          for (let oh = ohLo; oh < ohHi; oh++) {
            const ih = oh * sh + kh * dh - pt;
            let src = ((n * OH + oh) * OW + owLo) * KK + colOff;
            let dst = (((n0 + n) * H + ih) * W + owLo * sw + kw * dw - pl) * Ci;
            const dstStep = sw * Ci;
            for (let ow = owLo; ow < owHi; ow++, src += KK, dst += dstStep) {
              for (let ci = 0; ci < Ci; ci++) xv[dst + ci] += cv[src + ci];
            }
          }
        }
      }
    }
    free(backend, dyChunk, cols);
  }
  free(backend, wT);
  return dx;
}

function choose(g: ConvGeometry, p: PhasePlan | null): 'conv' | 'col2im' {
  if (strategy !== 'auto') return strategy === 'conv' && p ? 'conv' : 'col2im';
  if (!p) return 'col2im';
  // XNNPACK convolution does well once each output pixel has a few channels to produce;
  // with 1-2 input channels the skinny matmul + scatter is faster.
  if (g.inC < 3) return 'col2im';
  return p.waste <= 2.5 ? 'conv' : 'col2im';
}

export function conv2DBackpropInputNHWC(
  backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry,
): TensorInfo {
  const empty = g.batch * g.inH * g.inW * g.inC === 0 || g.outH * g.outW * g.outC === 0;
  const p = empty ? null : phasePlan(g); // col2im handles empty tensors
  return choose(g, p) === 'conv' && p ? viaConv(backend, dy, filter, g, p) : viaCol2im(backend, dy, filter, g);
}

export const conv2DBackpropInputWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as BackendWasm;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const a = attrs as unknown as Attrs;
  if (dy.dtype !== 'float32' || filter.dtype !== 'float32') {
    throw new Error(`Conv2DBackpropInput (wasm) supports float32 only; found ${dy.dtype}, ${filter.dtype}`);
  }
  const inputShape = [...a.inputShape] as [number, number, number, number];
  const g = convGeometry(inputShape, filter.shape as [number, number, number, number], a);
  const dyShape = g.channelsLast ? g.outShapeNHWC : [g.batch, g.outC, g.outH, g.outW];
  if (!shapeEq(dy.shape, dyShape)) {
    throw new Error(`Conv2DBackpropInput: dy shape [${dy.shape}] does not match the expected [${dyShape}]`);
  }
  if (g.channelsLast) return conv2DBackpropInputNHWC(be, dy, filter, g);
  const dyT = transpose(be, dy, [0, 2, 3, 1]);
  const dxT = conv2DBackpropInputNHWC(be, dyT, filter, g);
  const dx = transpose(be, dxT, [0, 3, 1, 2]);
  free(be, dyT, dxT);
  return dx;
};

export const conv2DBackpropInputConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropInputWasm,
};
