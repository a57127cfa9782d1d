/**
 * `Conv2DBackpropFilter` for the wasm backend (the stock backend has none).
 *
 * im2col + matMul: for each batch chunk, the patches of x are written transposed,
 * colsT[KK, P] (KK = fh*fw*inC, P = batch*outH*outW), straight onto the wasm heap, and
 * dW[KK, outC] += colsT x dy[P, outC] runs on the wasm (XNNPACK) matmul with no
 * transposes (its fast path; dyT x cols measured no faster, even where KK < outC).
 * Batches whose im2col buffer would exceed 2^24 floats are split and their products summed. Strides, 'same'/'valid'/explicit padding, dilations
 * (when given) and both data formats are supported.
 */
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { convGeometry, shapeEq, validRange, type ConvAttrsLike, type ConvGeometry } from './conv_geometry.js';
import { alloc, batchChunk, f32, free, matMul, reshape, transpose, type BackendWasm } from './wasm_util.js';

interface Attrs extends ConvAttrsLike {
  filterShape: [number, number, number, number];
}

/** Writes colsT[(kh,kw,ci), p] for batch items [n0, n0+nb) of x (NHWC) into `out`. */
function im2colT(xv: Float32Array, out: Float32Array, g: ConvGeometry, n0: number, nb: number): void {
  const { inH: H, inW: W, inC: C, outH: OH, outW: OW, fh, fw, sh, sw, dh, dw, pt, pl } = g;
  const P = nb * OH * OW;
  for (let kh = 0; kh < fh; kh++) {
    const [ohLo, ohHi] = validRange(H, OH, sh, kh * dh, pt);
    for (let kw = 0; kw < fw; kw++) {
      const [owLo, owHi] = validRange(W, OW, sw, kw * dw, pl);
      const step = sw * C;
      for (let ci = 0; ci < C; ci++) {
        let o = ((kh * fw + kw) * C + ci) * P;
        if (ohLo >= ohHi || owLo >= owHi) {
          out.fill(0, o, o + P);
          continue;
        }
        for (let n = n0; n < n0 + nb; n++) {
          for (let oh = 0; oh < OH; oh++, o += OW) {
            if (oh < ohLo || oh >= ohHi) {
              out.fill(0, o, o + OW);
              continue;
            }
            const ih = oh * sh + kh * dh - pt;
            for (let ow = 0; ow < owLo; ow++) out[o + ow] = 0;
            let src = ((n * H + ih) * W + owLo * sw + kw * dw - pl) * C + ci;
            for (let ow = owLo; ow < owHi; ow++, src += step) out[o + ow] = xv[src];
            for (let ow = owHi; ow < OW; ow++) out[o + ow] = 0;
          }
        }
      }
    }
  }
}

export function conv2DBackpropFilterNHWC(
  backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: ConvGeometry,
  filterShape: [number, number, number, number],
): TensorInfo {
  const { batch: N, outH: OH, outW: OW, outC: Co, fh, fw, inC: Ci } = g;
  const KK = fh * fw * Ci;
  const perItem = OH * OW;
  const result = alloc(backend, filterShape, 'float32', true);
  if (N * perItem === 0 || KK * Co === 0) return result;
  const nb = batchChunk(N, KK * perItem);
  for (let n0 = 0; n0 < N; n0 += nb) {
    const cur = Math.min(nb, N - n0);
    const P = cur * perItem;
    const colsT = alloc(backend, [KK, P], 'float32');
    let dyChunk: TensorInfo;
    if (cur === N) {
      dyChunk = reshape(backend, dy, [P, Co]);
    } else {
      dyChunk = alloc(backend, [P, Co], 'float32');
      f32(backend, dyChunk).set(f32(backend, dy).subarray(n0 * perItem * Co, (n0 + cur) * perItem * Co));
    }
    im2colT(f32(backend, x), f32(backend, colsT), g, n0, cur);
    const part = matMul(backend, colsT, dyChunk); // [KK, Co]
    const acc = f32(backend, result);
    const pv = f32(backend, part);
    for (let i = 0; i < pv.length; i++) acc[i] += pv[i];
    free(backend, colsT, dyChunk, part);
  }
  return result;
}

export const conv2DBackpropFilterWasm: KernelFunc = ({ inputs, backend, attrs }) => {
  const be = backend as BackendWasm;
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as Attrs;
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`Conv2DBackpropFilter (wasm) supports float32 only; found ${x.dtype}, ${dy.dtype}`);
  }
  const filterShape = [...a.filterShape] as [number, number, number, number];
  const g = convGeometry(x.shape as [number, number, number, number], filterShape, a);
  const dyShape = g.channelsLast ? g.outShapeNHWC : [g.batch, g.outC, g.outH, g.outW];
  if (!shapeEq(dy.shape, dyShape)) {
    throw new Error(`Conv2DBackpropFilter: dy shape [${dy.shape}] does not match the expected [${dyShape}]`);
  }
  if (g.channelsLast) return conv2DBackpropFilterNHWC(be, x, dy, g, filterShape);
  const xT = transpose(be, x, [0, 2, 3, 1]);
  const dyT = transpose(be, dy, [0, 2, 3, 1]);
  try {
    return conv2DBackpropFilterNHWC(be, xT, dyT, g, filterShape);
  } finally {
    free(be, xT, dyT);
  }
};

export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: 'wasm',
  kernelFunc: conv2DBackpropFilterWasm,
};
