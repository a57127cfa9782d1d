/**
 * Cost accounting of a built model: parameters, FLOPs per sample (a multiply and an add
 * count as two) and activation bytes per sample (float32 outputs of every layer, plus the
 * intermediates that fusion layers and LSTMs keep for the backward pass). The rules of
 * each layer kind are the encoders' (src/encoders/cost_rules.ts), so a cost stated before
 * building (encoder descriptions) and the cost of the built model agree.
 */
import type { tfl } from '../backend/index.js';
import { FusionLayer, type Shape } from '../fusion/base.js';
import type { FusionModel } from '../models/fusion_model.js';
import { convCost, denseCost, elementwiseCost, poolCost, recurrentCost } from '../encoders/cost_rules.js';

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
  const act = (cfg.activation as string | undefined) ?? 'linear';
  switch (cls) {
    case 'InputLayer':
    case 'Flatten':
    case 'Reshape':
    case 'Concatenate':
      return { flops: 0, activations: 0 };
    case 'Dense': {
      const inW = inS[inS.length - 1] as number;
      const c = denseCost(inW, cfg.units as number, act, per(inS) / inW);
      return { flops: c.flops, activations: out };
    }
    case 'Conv2D': {
      const o = outShapes[0];
      const c = convCost((o[1] as number) * (o[2] as number), inS[inS.length - 1] as number, cfg.filters as number, cfg.kernelSize as [number, number], act, cfg.useBias !== false);
      return { flops: c.flops, activations: out };
    }
    case 'MaxPooling2D':
    case 'AveragePooling2D': {
      const ps = cfg.poolSize as number[];
      return poolCost(out, ps[0] * ps[1]);
    }
    case 'LSTM':
    case FAST_LSTM: // same function as LSTM (src/encoders/lstm.ts)
    case 'GRU': {
      const c = recurrentCost(inS[1] as number, inS[2] as number, cfg.units as number, !!cfg.returnSequences, cls === 'GRU' ? 3 : 4);
      return { flops: c.flops, activations: c.activations };
    }
    default:
      return elementwiseCost(out);
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
