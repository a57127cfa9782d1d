/**
 * `Conv2DBackpropInput` for the wasm backend, replacing the stock kernel (a direct loop
 * that runs far below the forward convolution's speed).
 *
 * Two formulations, both on the wasm (XNNPACK) primitives:
 *  - `conv`: the transposed convolution as one forward convolution. dy is convolved with
 *    the spatially flipped filter, in/out channels swapped. For stride s > 1 the filter is
 *    split into its s*s phases (sub-filters of ceil-size taps), stacked along the output
 *    channels, so a single stride-1 convolution computes every phase; the phases are then
 *    interleaved (depth-to-space) and cropped into dx in one pass on the heap.
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

/** Geometry of the phase-split convolution, or null where it does not apply. */
interface PhasePlan {
  mh: number;
  mw: number;
  q0h: number;
  q0w: number;
  qh: number;
  qw: number;
  padT: number;
  padB: number;
  padL: number;
  padR: number;
  /** Multiply-adds of the phase convolution over those of the true transposed conv. */
  waste: number;
}

function phasePlan(g: ConvGeometry): PhasePlan | null {
  const { fh, fw, sh, sw, dh, dw, pt, pl, inH, inW, outH, outW } = g;
  const mh = Math.floor(((fh - 1) * dh) / sh) + 1;
  const mw = Math.floor(((fw - 1) * dw) / sw) + 1;
  const q0h = Math.floor(pt / sh);
  const q0w = Math.floor(pl / sw);
  const qh = Math.floor((pt + inH - 1) / sh) - q0h + 1;
  const qw = Math.floor((pl + inW - 1) / sw) - q0w + 1;
  const padT = mh - 1 - q0h;
  const padL = mw - 1 - q0w;
  const padB = qh + mh - 1 - padT - outH;
  const padR = qw + mw - 1 - padL - outW;
  if (padT < 0 || padL < 0 || padB < 0 || padR < 0) return null;
  const useful = inH * inW * fh * fw;
  const done = qh * sh * qw * sw * mh * mw;
  return { mh, mw, q0h, q0w, qh, qw, padT, padB, padL, padR, waste: done / Math.max(1, useful) };
}

/** The phase-stacked, flipped filter F[mh, mw, outC, sh*sw*inC]. */
function phaseFilter(backend: BackendWasm, filter: TensorInfo, g: ConvGeometry, p: PhasePlan): TensorInfo {
  const { fh, fw, sh, sw, dh, dw, inC: Ci, outC: Co } = g;
  const S2Ci = sh * sw * Ci;
  const F = alloc(backend, [p.mh, p.mw, Co, S2Ci], 'float32', true);
  const wv = f32(backend, filter);
  const fv = f32(backend, F);
  for (let kh = 0; kh < fh; kh++) {
    const r = (kh * dh) % sh;
    const t = p.mh - 1 - (kh * dh - r) / sh;
    for (let kw = 0; kw < fw; kw++) {
      const c = (kw * dw) % sw;
      const u = p.mw - 1 - (kw * dw - c) / sw;
      const phase = (r * sw + c) * Ci;
      const dstBase = (t * p.mw + u) * Co * S2Ci + phase;
      const srcBase = (kh * fw + kw) * Ci * Co;
      for (let ci = 0; ci < Ci; ci++) {
        for (let co = 0; co < Co; co++) fv[dstBase + co * S2Ci + ci] = wv[srcBase + ci * Co + co];
      }
    }
  }
  return F;
}

function viaConv(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry, p: PhasePlan): TensorInfo {
  const { sh, sw, inC: Ci, batch: N, inH: H, inW: W, pt, pl } = g;
  const F = phaseFilter(backend, filter, g, p);
  const conv = runWasmKernel(backend, 'Conv2D', { x: dy, filter: F }, {
    strides: [1, 1], dilations: [1, 1], dataFormat: 'NHWC', dimRoundingMode: undefined,
    pad: [[0, 0], [p.padT, p.padB], [p.padL, p.padR], [0, 0]],
  });
  free(backend, F);
  if (sh === 1 && sw === 1) return conv; // one phase, no offset: conv is dx itself
  // Interleave the phases and crop: dx[n, ih, iw, :] = conv[n, j, jw, phase(r, c), :].
  const dx = alloc(backend, [N, H, W, Ci], 'float32');
  const cv = f32(backend, conv);
  const xv = f32(backend, dx);
  const S2Ci = sh * sw * Ci;
  let o = 0;
  for (let n = 0; n < N; n++) {
    for (let ih = 0; ih < H; ih++) {
      const a = ih + pt;
      const j = Math.floor(a / sh) - p.q0h;
      const r = a - Math.floor(a / sh) * sh;
      const rowBase = (n * p.qh + j) * p.qw;
      for (let iw = 0; iw < W; iw++) {
        const b = iw + pl;
        const jw = Math.floor(b / sw) - p.q0w;
        const c = b - Math.floor(b / sw) * sw;
        let src = (rowBase + jw) * S2Ci + (r * sw + c) * Ci;
        for (let ci = 0; ci < Ci; ci++) xv[o++] = cv[src++];
      }
    }
  }
  free(backend, conv);
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
  // with 1-3 input channels the skinny matmul + scatter is faster.
  if (g.inC < 4) return 'col2im';
  return p.waste <= 2.5 ? 'conv' : 'col2im';
}

export function conv2DBackpropInputNHWC(
  backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry,
): TensorInfo {
  const p = phasePlan(g);
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
