/** Types of the method registry: what a method declares about itself. */
import type { tf, tfl } from '../backend/index.js';
import type { ModalityKind, ModalitySpec } from '../data/types.js';
import type { LossTerm, Task, TaskKind, TaskSpec } from '../tasks/index.js';
import type { Rng } from '../util/rng.js';

/**
 * Option types: scalars (`number`, `integer`, `boolean`, `string`), `list` (a JSON array of
 * `items`), `json` (any JSON object, e.g. an architecture). A scalar option marked
 * `perModality` also takes a record modality -> value; modalities it leaves out take the
 * default.
 */
export type OptionType = 'number' | 'integer' | 'boolean' | 'string' | 'list' | 'json';
export type ScalarValue = number | boolean | string;
export type OptionValue = ScalarValue | OptionValue[] | { [key: string]: OptionValue };
export type Options = Record<string, OptionValue>;

/** The scalar part of an option declaration (also the items of a list). */
export interface ScalarSpec {
  type: 'number' | 'integer' | 'boolean' | 'string';
  /** Allowed values of a string option. */
  values?: readonly string[];
  min?: number;
  max?: number;
}

export interface OptionSpec {
  type: OptionType;
  default: OptionValue;
  description: string;
  /** Allowed values of a string option. */
  values?: readonly string[];
  min?: number;
  max?: number;
  /** A scalar option that may differ per modality: `--set hidden.audio=64`. */
  perModality?: boolean;
  /** Items of a `list` option. */
  items?: ScalarSpec;
  /** Length bounds of a `list` option. */
  minItems?: number;
  maxItems?: number;
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
  /** The value of an option for one modality (a per-modality record, or the scalar for all). */
  optionFor(key: string, modality: string): ScalarValue;
  /** Modality names, sorted. */
  modalities: string[];
  /** One symbolic input per modality (normalised raw data). */
  inputs: Record<string, Sym>;
  /**
   * Methods with `handlesMissing`: an input [batch, modalities] of 1 (present) / 0 (missing)
   * per modality in `modalities` order. Missing inputs are their training mean (zeros).
   */
  presence?: Sym;
  /**
   * The valid length [batch, 1] of a sequence modality's samples (padding at the end; the
   * full length where the data has none). Asking for it makes it an input of the model.
   */
  lengths(modality: string): Sym;
  /** The default encoder of a modality applied to its input (built once per call). */
  encode(modality: string): Sym;
  /** The configured head (`head=mlp|linear`) from features to the task's raw output. */
  head(x: Sym, prefix: string): Sym;
  /** Task output width (classes, targets or labels; 0 for retrieval). */
  outWidth: number;
  task: TaskKind;
  /** The task's behaviour (losses, default objective). */
  taskObject: Task;
  /** Seeds for initialisers. */
  rng: Rng;
}

export interface BuildOutput {
  /**
   * The model's outputs by name, in order. A predicting task reads `main` (logits or
   * values); retrieval reads `query` and `gallery` (embeddings). Any other output (auxiliary
   * heads, attention weights, reconstructions) is returned by `predict` as well.
   */
  outputs: Record<string, Sym>;
  /** Loss terms; default: the task's (`main` against the label). Outputs no term reads are not trained. */
  objective?: LossTerm[];
}

/** Training settings a method may choose for itself (the command line and --config override them). */
export interface TrainingDefaults {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  patience?: number;
  /** A loss variant of the task (regression: mse | l1). */
  loss?: string;
}

/** One batch, handed to a custom train step. */
export interface StepBatch {
  /** Input tensors in the model's input order (presence last when the method has it). */
  inputs: tf.Tensor[];
  /** The task's label tensor of the batch. */
  labels: tf.Tensor;
  /** Steps taken before this one, over the whole training (resumes continue the count). */
  step: number;
  /** The model's outputs by name. */
  forward(training: boolean): Record<string, tf.Tensor>;
}

/** Named losses of one custom step; `loss` is the one reported as the epoch's loss. */
export type StepLosses = { loss: number } & Record<string, number>;

/** A method's own training step: several optimisers, alternating updates. */
export interface CustomStep {
  /** Optimisers by name, each over the trainable weights `weights` selects (by weight name); `lr` multiplies the learning rate. */
  optimizers: Record<string, { weights: (weightName: string) => boolean; lr?: number }>;
  /**
   * One update on a batch; returns the loss to report for it, or named losses with the
   * reported one under `loss` (all of them go to the epoch record's `losses`).
   */
  step(batch: StepBatch, optimizers: Record<string, tf.Optimizer>, vars: Record<string, tf.Variable[]>): number | StepLosses;
}

export interface CustomStepContext {
  model: tfl.LayersModel;
  options: Options;
  task: Task;
  objective: LossTerm[];
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
  /** Its own training defaults (learning rate, batch size, epochs, patience, loss). */
  training?: TrainingDefaults;
  /** The model takes the missing-modality mask (`BuildContext.presence`) and handles a missing modality itself. */
  handlesMissing?: boolean;
  /** A training step of its own instead of minimising the objective with one optimiser. */
  customStep?(ctx: CustomStepContext): CustomStep;
  /** How the model's preprocessing scales a modality (default: standardise; `maxabs`: divide by the training max |x| per feature). */
  scaling?(modality: string, spec: ModalitySpec): 'standardize' | 'maxabs';
  /** Returns why the method cannot be used on this data, or null. */
  check?(spec: DataSpec, options: Options): string | null;
  /** Parameters, FLOPs per sample and activation bytes per sample, estimated before anything is built. */
  cost?(spec: DataSpec, options: Options): { params: number; flopsPerSample: number; activationBytesPerSample: number };
  build(ctx: BuildContext): BuildOutput;
}
