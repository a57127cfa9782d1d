/**
 * Cost accounting of a built model: parameters, FLOPs per sample (a multiply and an add
 * count as two) and activation bytes per sample (float32 outputs of every layer, plus the
 * intermediates that fusion layers and LSTMs keep for the backward pass).
 */
import type { tfl } from '../backend/index.js';
import { FusionLayer, type Shape } from '../fusion/base.js';
import type { FusionModel } from '../models/fusion_model.js';

/** className of src/encoders/lstm.ts's FastLSTM (not imported: this module stays free of layer code). */
const FAST_LSTM = 'ModalfuseFastLSTM';

export interface Cost {
  params: number;
  flopsPerSample: number;
  activationBytesPerSample: number;
}

type AnyLayer = tfl.layers.Layer & { getConfig(): Record<string, unknown> };

function per(shape: Shape): number {
  return shape.slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
}

function shapesOf(s: Shape | Shape[]): Shape[] {
  return Array.isArray(s[0]) ? (s as Shape[]) : [s as Shape];
}

/** FLOPs and internal activations of one call of a layer, per sample. */
export function layerCost(layer: AnyLayer, inShapes: Shape[], outShapes: Shape[]): { flops: number; activations: number } {
  const out = outShapes.reduce((a, s) => a + per(s), 0);
  if (layer instanceof FusionLayer) {
    const c = layer.costPerSample(inShapes);
    return { flops: c.flops, activations: Math.max(c.activations, out) };
  }
  const cfg = layer.getConfig();
  const inS = inShapes[0];
  const cls = layer.getClassName();
  switch (cls) {
    case 'InputLayer':
      return { flops: 0, activations: 0 };
    case 'Dense': {
      const units = cfg.units as number;
      const inW = inS[inS.length - 1] as number;
      const rows = per(inS) / inW;
      const act = cfg.activation && cfg.activation !== 'linear' ? units * rows : 0;
      return { flops: rows * (2 * inW * units + units) + act, activations: out };
    }
    case 'Conv2D': {
      const ks = cfg.kernelSize as number[];
      const cin = inS[inS.length - 1] as number;
      const o = outShapes[0];
      const positions = (o[1] as number) * (o[2] as number);
      const filters = cfg.filters as number;
      return { flops: positions * filters * (2 * ks[0] * ks[1] * cin + 1) + (cfg.activation !== 'linear' ? out : 0), activations: out };
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const ps = cfg.poolSize as number[];
      return { flops: out * ps[0] * ps[1], activations: out };
    }
    case 'LSTM':
    case FAST_LSTM: // same function as LSTM (src/encoders/lstm.ts)
    case 'GRU': {
      const units = cfg.units as number;
      const steps = inS[1] as number;
      const inW = inS[2] as number;
      const gates = cls === 'GRU' ? 3 : 4;
      const perStep = gates * (2 * (inW + units) * units + units) + 10 * units;
      // gate activations and states kept for backprop through time
      return { flops: steps * perStep, activations: steps * (gates + 2) * units + out };
    }
    case 'Flatten':
    case 'Reshape':
    case 'Concatenate':
      return { flops: 0, activations: 0 };
    default:
      return { flops: out, activations: out };
  }
}

export function modelCost(model: tfl.LayersModel): Cost {
  let flops = 0;
  let acts = 0;
  for (const layer of model.layers as AnyLayer[]) {
    for (const node of layer.inboundNodes) {
      const inShapes = shapesOf(node.inputShapes as Shape | Shape[]);
      const outShapes = shapesOf(node.outputShapes as Shape | Shape[]);
      const c = layerCost(layer, inShapes, outShapes);
      flops += c.flops;
      acts += c.activations;
    }
  }
  return { params: model.countParams(), flopsPerSample: Math.round(flops), activationBytesPerSample: Math.round(acts * 4) };
}

export function fusionModelCost(fm: FusionModel): Cost {
  return modelCost(fm.model);
}
