/** Types of the method registry: what a method declares about itself. */
import type { tfl } from '../backend/index.js';
import type { ModalityKind, ModalitySpec, TaskKind, TaskSpec } from '../data/types.js';
import type { Rng } from '../util/rng.js';

export type OptionType = 'number' | 'integer' | 'boolean' | 'string';
export type OptionValue = number | boolean | string;
export type Options = Record<string, OptionValue>;

export interface OptionSpec {
  type: OptionType;
  default: OptionValue;
  description: string;
  /** Allowed values of a string option. */
  values?: readonly string[];
  min?: number;
  max?: number;
}

export type FusionLevel = 'pixel' | 'feature' | 'decision' | 'hybrid' | 'representation' | 'intermediate' | 'architecture';

/** What a method needs to know about the data: the task and the modalities' shapes. */
export interface DataSpec {
  task: TaskSpec;
  modalities: Record<string, ModalitySpec>;
}

export type Sym = tfl.SymbolicTensor;

/** Handed to a method's `build`: inputs and the shared building blocks. */
export interface BuildContext {
  spec: DataSpec;
  options: Options;
  /** Modality names, sorted. */
  modalities: string[];
  /** One symbolic input per modality (normalised raw data). */
  inputs: Record<string, Sym>;
  /** The default encoder of a modality applied to its input (built once per call). */
  encode(modality: string): Sym;
  /** The configured head (`head=mlp|linear`) from features to the task's raw output. */
  head(x: Sym, prefix: string): Sym;
  /** Task output width (classes, targets or labels). */
  outWidth: number;
  task: TaskKind;
  /** Seeds for initialisers. */
  rng: Rng;
}

export interface BuildOutput {
  /** The prediction in the task's raw space (logits or values). */
  main: Sym;
  /** Auxiliary outputs trained with the same task loss (e.g. per-modality heads). */
  aux?: Sym[];
  /** Names of the aux outputs (modality names for late fusion). */
  auxNames?: string[];
  /** Whether the main output is trained (false where it is not differentiable). */
  trainMain?: boolean;
  /** Weight of the mean aux loss. */
  auxWeight?: number;
}

export interface MethodEntry {
  name: string;
  family: string;
  level: FusionLevel;
  description: string;
  citation: string;
  tasks: TaskKind[];
  /** Modality kinds accepted; 'any' for all. */
  modalityKinds: ModalityKind[] | 'any';
  minModalities: number;
  /** Too slow for the default benchmark set (still runs when named in `--methods`). */
  slow?: boolean;
  /** Method-specific options (the common encoder/head options are added to every method). */
  options: Record<string, OptionSpec>;
  /** Returns why the method cannot be used on this data, or null. */
  check?(spec: DataSpec, options: Options): string | null;
  /** Parameters, FLOPs per sample and activation bytes per sample, estimated before anything is built. */
  cost?(spec: DataSpec, options: Options): { params: number; flopsPerSample: number; activationBytesPerSample: number };
  build(ctx: BuildContext): BuildOutput;
}
