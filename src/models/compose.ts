/**
 * The one place where a model is composed: inputs -> encoders -> fusion -> head, from a
 * registry entry and resolved options. Only the modalities a method reads become inputs
 * of the model (so `image-only` needs only images); a method that handles missing
 * modalities also gets the presence mask as its last input.
 */
import { tfl } from '../backend/index.js';
import { buildSteps, cnnOptionsFrom, describeHead, encode, type EncoderOptions } from '../encoders/index.js';
import { ModalfuseError } from '../errors.js';
import {
  getMethod,
  incompatibility,
  optionFor,
  optionsForModality,
  resolveOptions,
  type BuildContext,
  type BuildOutput,
  type DataSpec,
  type MethodEntry,
  type Options,
  type Sym,
} from '../registry/index.js';
import { getTask, type LossTerm } from '../tasks/index.js';
import { Rng } from '../util/rng.js';
import '../methods/index.js';

export interface Composed {
  entry: MethodEntry;
  options: Options;
  model: tfl.LayersModel;
  /** Modalities the model takes, in the order of its inputs (sorted). */
  inputModalities: string[];
  /** Output names, in the order of the model's outputs. */
  outputs: string[];
  objective: LossTerm[];
  /** The model's last input is the presence mask [batch, modalities] (sorted data modalities). */
  presence: boolean;
  /** Modalities whose lengths the model takes (inputs after the modalities', before the presence mask). */
  lengthInputs: string[];
}

/** Input name of the presence mask of methods that handle missing modalities. */
export const PRESENCE_INPUT = 'input__present';

/** The encoder options of a modality (per-modality option values resolved). */
export function encoderOptions(entry: MethodEntry, options: Options, modality: string): EncoderOptions {
  const o = optionsForModality(entry, options, modality);
  return {
    hidden: o.hidden as number,
    encoderLayers: o.encoderLayers as number,
    dropout: o.dropout as number,
    activation: o.activation as string,
    cnn: cnnOptionsFrom(o),
  };
}

function checkObjective(entry: MethodEntry, objective: LossTerm[], outputs: string[], modalities: string[]): void {
  for (const t of objective) {
    const refs = [t.output, ...(typeof t.target === 'object' && 'output' in t.target ? [t.target.output] : [])];
    for (const r of refs) {
      if (!outputs.includes(r)) throw new Error(`method ${entry.name}: loss term reads output "${r}", which the model does not have (outputs: ${outputs.join(', ')})`);
    }
    if (typeof t.target === 'object' && 'input' in t.target && !modalities.includes(t.target.input)) {
      throw new Error(`method ${entry.name}: loss term targets input "${t.target.input}", which the model does not read`);
    }
  }
}

export function compose(method: string, spec: DataSpec, given: Record<string, unknown> = {}, seed = 1): Composed {
  const entry = getMethod(method, spec);
  const modalities = Object.keys(spec.modalities).sort();
  const options = resolveOptions(entry, given, modalities);
  const why = incompatibility(entry, spec, options);
  if (why) throw new ModalfuseError(`method "${entry.name}" cannot be used on this data: ${why}`, { expected: entry.modalityKinds, found: spec.modalities });
  const task = getTask(spec.task);
  const rng = new Rng(seed);
  const inputs: Record<string, Sym> = {};
  const used = new Set<string>();
  const lazyInputs = {} as Record<string, Sym>;
  for (const m of modalities) {
    Object.defineProperty(lazyInputs, m, {
      enumerable: true,
      get() {
        if (!inputs[m]) {
          inputs[m] = tfl.input({ shape: spec.modalities[m].shape, name: `input_${m}` });
          used.add(m);
        }
        return inputs[m];
      },
    });
  }
  const lengthInputs: Record<string, Sym> = {};
  const presence = entry.handlesMissing ? tfl.input({ shape: [modalities.length], name: PRESENCE_INPUT }) : undefined;
  const encoded: Record<string, Sym> = {};
  const outWidth = task.outWidth;
  const ctx: BuildContext = {
    spec,
    options,
    optionFor: (key, m) => optionFor(entry, options, key, m),
    modalities,
    inputs: lazyInputs,
    presence,
    lengths(m) {
      const spec_ = spec.modalities[m];
      if (!spec_ || spec_.shape.length !== 2) throw new ModalfuseError('lengths exist only for sequence modalities [steps, features]', { modality: m, expected: '[steps, features]', found: spec_?.shape ?? 'no such modality' });
      void lazyInputs[m];
      lengthInputs[m] ??= tfl.input({ shape: [1], name: `input_${m}__lengths` });
      return lengthInputs[m];
    },
    encode(m) {
      if (!(m in spec.modalities)) throw new ModalfuseError('unknown modality', { expected: modalities, found: m });
      encoded[m] ??= encode(lazyInputs[m], spec.modalities[m], encoderOptions(entry, options, m), rng, `enc_${m}`);
      return encoded[m];
    },
    head(x, prefix) {
      const inW = x.shape[x.shape.length - 1] as number;
      return buildSteps(x, describeHead(inW, options.head as string, options.headHidden as number, options.dropout as number, outWidth, prefix).steps, rng);
    },
    outWidth,
    task: spec.task.kind,
    taskObject: task,
    rng,
  };
  const out: BuildOutput = entry.build(ctx);
  const outputs = Object.keys(out.outputs);
  for (const r of task.reads) {
    if (!outputs.includes(r)) throw new Error(`method ${entry.name}: the ${task.kind} task reads output "${r}", which the model does not have`);
  }
  const objective = (out.objective ?? task.defaultObjective()).filter((t) => t.weight > 0);
  const inputModalities = modalities.filter((m) => used.has(m));
  checkObjective(entry, objective, outputs, inputModalities);
  const lengthNames = inputModalities.filter((m) => m in lengthInputs);
  const modelInputs = [...inputModalities.map((m) => inputs[m]), ...lengthNames.map((m) => lengthInputs[m]), ...(presence ? [presence] : [])];
  const model = tfl.model({ inputs: modelInputs, outputs: outputs.map((k) => out.outputs[k]), name: `modalfuse_${entry.name.replace(/[^a-zA-Z0-9_]/g, '_')}` });
  return { entry, options, model, inputModalities, outputs, objective, presence: presence !== undefined, lengthInputs: lengthNames };
}
