/**
 * The one place where a model is composed: inputs -> encoders -> fusion -> head, from a
 * registry entry and resolved options. Only the modalities a method reads become inputs
 * of the model (so `image-only` needs only images).
 */
import { tfl } from '../backend/index.js';
import { cnnOptionsFrom, dense, dropout, encode, type EncoderOptions } from '../encoders/index.js';
import { taskWidth } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import { getMethod, incompatibility, resolveOptions, type BuildContext, type BuildOutput, type DataSpec, type MethodEntry, type Options, type Sym } from '../registry/index.js';
import { Rng } from '../util/rng.js';
import './simple_methods.js';
import './tensor_methods.js';

export interface Composed {
  entry: MethodEntry;
  options: Options;
  model: tfl.LayersModel;
  /** Modalities the model takes, in the order of its inputs (sorted). */
  inputModalities: string[];
  auxNames: string[];
  trainMain: boolean;
  auxWeight: number;
}

export function compose(method: string, spec: DataSpec, given: Record<string, unknown> = {}, seed = 1): Composed {
  const entry = getMethod(method, spec);
  const options = resolveOptions(entry, given);
  const why = incompatibility(entry, spec, options);
  if (why) throw new ModalfuseError(`method "${entry.name}" cannot be used on this data: ${why}`, { expected: entry.modalityKinds, found: spec.modalities });
  const rng = new Rng(seed);
  const modalities = Object.keys(spec.modalities).sort();
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
  const encOpts: EncoderOptions = {
    hidden: options.hidden as number,
    encoderLayers: options.encoderLayers as number,
    dropout: options.dropout as number,
    activation: options.activation as string,
    cnn: cnnOptionsFrom(options),
  };
  const encoded: Record<string, Sym> = {};
  const outWidth = taskWidth(spec.task);
  const ctx: BuildContext = {
    spec,
    options,
    modalities,
    inputs: lazyInputs,
    encode(m) {
      if (!(m in spec.modalities)) throw new ModalfuseError('unknown modality', { expected: modalities, found: m });
      encoded[m] ??= encode(lazyInputs[m], spec.modalities[m], encOpts, rng, `enc_${m}`);
      return encoded[m];
    },
    head(x, prefix) {
      let h = x;
      if (options.head === 'mlp') {
        h = dense(h, options.headHidden as number, rng, `${prefix}_dense`, 'relu');
        h = dropout(h, options.dropout as number, rng, `${prefix}_drop`);
      }
      return dense(h, outWidth, rng, `${prefix}_out`);
    },
    outWidth,
    task: spec.task.kind,
    rng,
  };
  const out: BuildOutput = entry.build(ctx);
  const inputModalities = modalities.filter((m) => used.has(m));
  const outputs = [out.main, ...(out.aux ?? [])];
  const model = tfl.model({ inputs: inputModalities.map((m) => inputs[m]), outputs, name: `modalfuse_${entry.name.replace(/[^a-zA-Z0-9_]/g, '_')}` });
  return {
    entry,
    options,
    model,
    inputModalities,
    auxNames: out.auxNames ?? (out.aux ?? []).map((_, i) => `aux${i + 1}`),
    trainMain: out.trainMain ?? true,
    auxWeight: out.auxWeight ?? 1,
  };
}
