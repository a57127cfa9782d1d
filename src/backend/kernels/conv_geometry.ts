/** Geometry of a 2-D convolution in NHWC terms, shared by the conv gradient kernels. */
import { backend_util } from '@tensorflow/tfjs-core';
import { pair } from './wasm_util.js';

export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  fh: number;
  fw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  /** Padding before the first row / column (may exceed the filter for explicit pads). */
  pt: number;
  pl: number;
  channelsLast: boolean;
  /** Input shape in NHWC order. */
  inShapeNHWC: [number, number, number, number];
  /** Output (dy) shape in NHWC order. */
  outShapeNHWC: [number, number, number, number];
}

export interface ConvAttrsLike {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  /** Not part of the tfjs gradient kernels' attributes; honoured when present. */
  dilations?: number | [number, number];
}

export function convGeometry(
  inShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  attrs: ConvAttrsLike,
): ConvGeometry {
  const fmt = backend_util.convertConv2DDataFormat(attrs.dataFormat ?? 'NHWC');
  const [dh, dw] = pair(attrs.dilations as number | number[] | undefined, 1);
  const info = backend_util.computeConv2DInfo(
    inShape, filterShape, attrs.strides, [dh, dw], attrs.pad, attrs.dimRoundingMode, false, fmt);
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    fh: info.filterHeight,
    fw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    dh: info.dilationHeight,
    dw: info.dilationWidth,
    pt: info.padInfo.top,
    pl: info.padInfo.left,
    channelsLast: info.dataFormat === 'channelsLast',
    inShapeNHWC: [info.batchSize, info.inHeight, info.inWidth, info.inChannels],
    outShapeNHWC: [info.batchSize, info.outHeight, info.outWidth, info.outChannels],
  };
}

/** Range [lo, hi) of output positions o with 0 <= o*s + k*d - p < size. */
export function validRange(size: number, outSize: number, s: number, kd: number, p: number): [number, number] {
  const lo = Math.max(0, Math.ceil((p - kd) / s));
  const hi = Math.min(outSize, Math.floor((size - 1 + p - kd) / s) + 1);
  return [lo, Math.max(lo, hi)];
}

export function shapeEq(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
