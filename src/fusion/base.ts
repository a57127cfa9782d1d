/**
 * Shared base of every fusion layer: a tfjs layer over the list of per-modality inputs
 * (in sorted modality order, names kept in `modalities`), with a cost model.
 */
import { tf, tfl } from '../backend/index.js';

export interface FusionArgs {
  name?: string;
  /** Modality names in the order of the layer's inputs. */
  modalities: string[];
  /** Seed of the layer's initialisers. */
  seed?: number;
  trainable?: boolean;
}

export interface LayerCost {
  /** Floating-point operations per sample (multiply and add counted separately). */
  flops: number;
  /** Float elements this layer keeps per sample for the backward pass (intermediates). */
  activations: number;
}

export type Shape = tfl.Shape;

/** Per-sample element count of a shape with leading batch dimension. */
export function perSample(shape: Shape): number {
  return shape.slice(1).reduce((a: number, b) => a * (b ?? 1), 1);
}

export function asShapes(s: Shape | Shape[]): Shape[] {
  return Array.isArray(s[0]) || (Array.isArray(s) && s.length > 0 && Array.isArray(s[0]))
    ? (s as Shape[])
    : [s as Shape];
}

export function asTensors(t: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
  return Array.isArray(t) ? t : [t];
}

export abstract class FusionLayer extends tfl.layers.Layer {
  readonly modalities: string[];
  readonly seed: number;

  constructor(args: FusionArgs) {
    super({ name: args.name, trainable: args.trainable } as never);
    this.modalities = [...args.modalities];
    this.seed = args.seed ?? 0;
  }

  protected glorot(offset = 0) {
    return tfl.initializers.glorotUniform({ seed: (this.seed + offset * 7919) % 2147483647 });
  }

  /** FLOPs and intermediate activations per sample, from input shapes. */
  abstract costPerSample(inputShapes: Shape[]): LayerCost;

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), modalities: this.modalities, seed: this.seed };
  }
}
