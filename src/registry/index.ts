/**
 * The method registry: name -> factory, options with defaults and types, family, level,
 * accepted tasks and modality kinds, citation. The CLI, the benchmark and the report read
 * it; adding a method is one file and one `register()` call.
 */
import { ModalfuseError } from '../errors.js';
import { MODALITY_KINDS, type ModalityKind, type TaskKind } from '../data/types.js';
import type { DataSpec, MethodEntry, Options, OptionSpec, OptionValue } from './types.js';

export * from './types.js';

/** Options every method has: the encoders and the head around the fusion. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  hidden: { type: 'integer', default: 32, min: 1, description: 'width of each modality encoder output' },
  encoderLayers: { type: 'integer', default: 1, min: 0, description: 'dense layers in an MLP encoder' },
  activation: { type: 'string', default: 'relu', values: ['relu', 'tanh', 'elu', 'sigmoid', 'linear'], description: 'encoder activation' },
  dropout: { type: 'number', default: 0, min: 0, max: 0.95, description: 'dropout rate after encoders and head layers' },
  head: { type: 'string', default: 'mlp', values: ['mlp', 'linear'], description: 'mlp: one hidden layer after the fusion; linear: a single linear layer' },
  headHidden: { type: 'integer', default: 64, min: 1, description: 'hidden width of the mlp head' },
  // CNN encoders of image / audio / video inputs (src/encoders/cnn.ts)
  convFilters: { type: 'string', default: '16,32', description: 'CNN encoders (image/audio): filters per conv block, comma-separated, e.g. "16,32"' },
  convKernel: { type: 'integer', default: 3, min: 1, max: 15, description: 'CNN encoders: kernel size of every conv layer' },
  convPool: { type: 'string', default: 'max', values: ['max', 'avg', 'none'], description: 'CNN encoders: 2x2 pooling after each conv block' },
  convBatchNorm: { type: 'boolean', default: false, description: 'CNN encoders: batch normalisation after each conv' },
};

const entries = new Map<string, MethodEntry>();

export function register(entry: MethodEntry): void {
  if (entries.has(entry.name)) throw new Error(`method ${entry.name} registered twice`);
  for (const k of Object.keys(entry.options)) {
    if (k in COMMON_OPTIONS) throw new Error(`method ${entry.name} redeclares common option ${k}`);
  }
  entries.set(entry.name, entry);
}

/** `{modality}-only` is generated per data set; this factory makes its entry. */
let unimodalFactory: ((modality: string) => MethodEntry) | null = null;
export function registerUnimodal(factory: (modality: string) => MethodEntry): void {
  unimodalFactory = factory;
}

/** All registered methods (the `{modality}-only` template as `{modality}-only`). */
export function listMethods(): MethodEntry[] {
  const list = [...entries.values()];
  if (unimodalFactory) list.push({ ...unimodalFactory('{modality}'), name: '{modality}-only' });
  return list;
}

/** Method names usable on this data (all registered, plus `{m}-only` per modality). */
export function methodNamesFor(spec?: DataSpec): string[] {
  const names = [...entries.keys()];
  if (spec) for (const m of Object.keys(spec.modalities).sort()) names.push(`${m}-only`);
  return names;
}

export function getMethod(name: string, spec?: DataSpec): MethodEntry {
  const e = entries.get(name);
  if (e) return e;
  const m = /^(.+)-only$/.exec(name);
  if (m && unimodalFactory) {
    if (!spec || m[1] in spec.modalities) return unimodalFactory(m[1]);
    throw new ModalfuseError(`unknown method "${name}": the data has no modality "${m[1]}"`, {
      modality: m[1],
      expected: Object.keys(spec.modalities).sort().map((x) => `${x}-only`),
      found: name,
    });
  }
  throw new ModalfuseError(`unknown method "${name}"`, { expected: methodNamesFor(spec), found: name });
}

export function allOptions(entry: MethodEntry): Record<string, OptionSpec> {
  return { ...COMMON_OPTIONS, ...entry.options };
}

export function defaultOptions(entry: MethodEntry): Options {
  const out: Options = {};
  for (const [k, s] of Object.entries(allOptions(entry))) out[k] = s.default;
  return out;
}

/** Parse a value given as text (CLI) or as JSON into the option's type; errors name the valid range. */
export function coerceOption(method: string, key: string, spec: OptionSpec, raw: unknown): OptionValue {
  const bad = (expected: string) =>
    new ModalfuseError(`bad value for option "${key}" of method "${method}"`, { expected, found: raw });
  let v: OptionValue;
  switch (spec.type) {
    case 'number':
    case 'integer': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) throw bad(spec.type);
      if (spec.type === 'integer' && !Number.isInteger(n)) throw bad('integer');
      if (spec.min !== undefined && n < spec.min) throw bad(`${spec.type} >= ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw bad(`${spec.type} <= ${spec.max}`);
      v = n;
      break;
    }
    case 'boolean':
      if (typeof raw === 'boolean') v = raw;
      else if (raw === 'true' || raw === '1') v = true;
      else if (raw === 'false' || raw === '0') v = false;
      else throw bad('true or false');
      break;
    case 'string':
      if (typeof raw !== 'string' && typeof raw !== 'number') throw bad('string');
      v = String(raw);
      if (spec.values && !spec.values.includes(v)) throw bad(`one of ${spec.values.join(', ')}`);
      break;
  }
  return v;
}

/** Defaults overlaid with `given`; unknown keys and bad values are errors. */
export function resolveOptions(entry: MethodEntry, given: Record<string, unknown> = {}): Options {
  const specs = allOptions(entry);
  const out = defaultOptions(entry);
  for (const [k, raw] of Object.entries(given)) {
    const spec = specs[k];
    if (!spec) {
      throw new ModalfuseError(`unknown option "${k}" for method "${entry.name}"`, {
        expected: Object.keys(specs).sort(),
        found: k,
      });
    }
    out[k] = coerceOption(entry.name, k, spec, raw);
  }
  return out;
}

/** Why `entry` cannot run on `spec`, or null when it can. */
export function incompatibility(entry: MethodEntry, spec: DataSpec, options?: Options): string | null {
  const task: TaskKind = spec.task.kind;
  if (!entry.tasks.includes(task)) return `${entry.name} does not support ${task} tasks (supports ${entry.tasks.join(', ')})`;
  const mods = Object.keys(spec.modalities);
  if (mods.length < entry.minModalities) return `${entry.name} needs at least ${entry.minModalities} modalities, the data has ${mods.length}`;
  if (entry.modalityKinds !== 'any') {
    for (const m of mods) {
      const k: ModalityKind = spec.modalities[m].kind;
      if (!entry.modalityKinds.includes(k)) return `${entry.name} does not accept ${k} modality "${m}"`;
    }
  }
  return entry.check ? entry.check(spec, options ?? defaultOptions(entry)) : null;
}

export { MODALITY_KINDS };
