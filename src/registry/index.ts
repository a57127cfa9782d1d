/**
 * The method registry: name -> factory, options with defaults and types, family, level,
 * accepted tasks and modality kinds, citation. The CLI, the benchmark and the report read
 * it; adding a method is one file and one `register()` call.
 */
import { ModalfuseError } from '../errors.js';
import { MODALITY_KINDS, type ModalityKind, type TaskKind } from '../data/types.js';
import type { DataSpec, MethodEntry, Options, OptionSpec, OptionValue, ScalarSpec, ScalarValue } from './types.js';

export * from './types.js';

/** Options every method has: the encoders and the head around the fusion. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  hidden: { type: 'integer', default: 32, min: 1, perModality: true, description: 'width of each modality encoder output (per modality: hidden.audio=64)' },
  encoderLayers: { type: 'integer', default: 1, min: 0, perModality: true, description: 'dense layers in an MLP encoder' },
  activation: { type: 'string', default: 'relu', values: ['relu', 'tanh', 'elu', 'sigmoid', 'linear'], perModality: true, description: 'encoder activation' },
  dropout: { type: 'number', default: 0, min: 0, max: 0.95, description: 'dropout rate after encoders and head layers' },
  head: { type: 'string', default: 'mlp', values: ['mlp', 'linear'], description: 'mlp: one hidden layer after the fusion; linear: a single linear layer' },
  headHidden: { type: 'integer', default: 64, min: 1, description: 'hidden width of the mlp head' },
  // CNN encoders of image / audio / video inputs (src/encoders/cnn.ts)
  convFilters: { type: 'string', default: '16,32', perModality: true, description: 'CNN encoders (image/audio): filters per conv block, comma-separated, e.g. "16,32"' },
  convKernel: { type: 'integer', default: 3, min: 1, max: 15, perModality: true, description: 'CNN encoders: kernel size of every conv layer' },
  convPool: { type: 'string', default: 'max', values: ['max', 'avg', 'none'], perModality: true, description: 'CNN encoders: 2x2 pooling after each conv block' },
  convBatchNorm: { type: 'boolean', default: false, perModality: true, description: 'CNN encoders: batch normalisation after each conv' },
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

function describeValue(v: unknown): unknown {
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : v;
}

/** Parse one scalar given as text (CLI) or as JSON into its type; errors name the valid range. */
function coerceScalar(bad: (expected: string) => ModalfuseError, spec: ScalarSpec, raw: unknown): ScalarValue {
  switch (spec.type) {
    case 'number':
    case 'integer': {
      const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
      if (!Number.isFinite(n)) throw bad(spec.type);
      if (spec.type === 'integer' && !Number.isInteger(n)) throw bad('integer');
      if (spec.min !== undefined && n < spec.min) throw bad(`${spec.type} >= ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw bad(`${spec.type} <= ${spec.max}`);
      return n;
    }
    case 'boolean':
      if (typeof raw === 'boolean') return raw;
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw bad('true or false');
    case 'string': {
      if (typeof raw !== 'string' && typeof raw !== 'number') throw bad('string');
      const v = String(raw);
      if (spec.values && !spec.values.includes(v)) throw bad(`one of ${spec.values.join(', ')}`);
      return v;
    }
  }
}

function parseJsonText(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  const t = raw.trim();
  if (!(t.startsWith('[') || t.startsWith('{'))) return raw;
  try {
    return JSON.parse(t);
  } catch {
    return raw;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parse a value given as text (CLI) or as JSON into the option's type; errors name the
 * option, what was expected and what was found. `modalities`, when given, are the keys a
 * per-modality record may have.
 */
export function coerceOption(method: string, key: string, spec: OptionSpec, raw: unknown, modalities?: string[]): OptionValue {
  const bad = (expected: string, found: unknown = raw) =>
    new ModalfuseError(`bad value for option "${key}" of method "${method}"`, { expected, found: describeValue(found) });
  if (spec.type === 'list') {
    let v = parseJsonText(raw);
    if (typeof v === 'string') v = v.split(',').map((x) => x.trim());
    if (!Array.isArray(v)) throw bad(`a list of ${spec.items?.type ?? 'values'}, e.g. [64,32]`);
    if (spec.minItems !== undefined && v.length < spec.minItems) throw bad(`a list of at least ${spec.minItems} items`);
    if (spec.maxItems !== undefined && v.length > spec.maxItems) throw bad(`a list of at most ${spec.maxItems} items`);
    const items = spec.items;
    return items ? v.map((x, i) => coerceScalar((e) => bad(`item ${i} of the list: ${e}`, x), items, x)) : (v as OptionValue[]);
  }
  if (spec.type === 'json') {
    const v = parseJsonText(raw);
    if (typeof v !== 'object' || v === null) throw bad('a JSON object or array (inline, or @FILE on the command line)');
    return v as OptionValue;
  }
  const scalarSpec = spec as ScalarSpec;
  const v = spec.perModality ? parseJsonText(raw) : raw;
  if (spec.perModality && isRecord(v)) {
    const out: Record<string, ScalarValue> = {};
    for (const [m, x] of Object.entries(v)) {
      if (modalities && !modalities.includes(m)) {
        throw new ModalfuseError(`option "${key}" of method "${method}" names an unknown modality "${m}"`, { modality: m, expected: modalities, found: m });
      }
      out[m] = coerceScalar((e) => bad(`${e} for modality "${m}"`, x), scalarSpec, x);
    }
    return out;
  }
  return coerceScalar((e) => bad(spec.perModality ? `${e}, or a record per modality` : e), scalarSpec, v);
}

/** Defaults overlaid with `given`; unknown keys and bad values are errors. */
export function resolveOptions(entry: MethodEntry, given: Record<string, unknown> = {}, modalities?: string[]): Options {
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
    out[k] = coerceOption(entry.name, k, spec, raw, modalities);
  }
  return out;
}

/** The value of option `key` for `modality`: a per-modality record's entry, else its default; a scalar for all. */
export function optionFor(entry: MethodEntry, options: Options, key: string, modality: string): ScalarValue {
  const v = options[key];
  if (isRecord(v)) {
    const spec = allOptions(entry)[key];
    return (modality in v ? v[modality] : spec.default) as ScalarValue;
  }
  return v as ScalarValue;
}

/**
 * The options as one modality sees them: every per-modality record replaced by that
 * modality's value (its default when the record leaves it out). Without `entry`, the
 * common options' declarations are used (cost estimates of encoders).
 */
export function optionsForModality(entry: MethodEntry | undefined, options: Options, modality: string): Options {
  const specs = entry ? allOptions(entry) : COMMON_OPTIONS;
  const out: Options = { ...options };
  for (const [k, v] of Object.entries(options)) {
    if (isRecord(v) && specs[k]?.perModality) out[k] = (modality in v ? v[modality] : specs[k].default) as ScalarValue;
  }
  return out;
}

/**
 * `--set` pairs into option values: `hidden.audio=64` (per modality) becomes
 * `{ hidden: { audio: "64" } }`; other values are kept as text (lists and objects as JSON
 * text) for `resolveOptions` to parse against the declaration.
 */
export function nestSetPairs(pairs: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(pairs)) {
    const dot = k.indexOf('.');
    if (dot <= 0) {
      if (isRecord(out[k])) throw new ModalfuseError(`option "${k}" is given both for all modalities and per modality`, { expected: `${k}=VALUE or ${k}.MODALITY=VALUE`, found: k });
      out[k] = v;
      continue;
    }
    const name = k.slice(0, dot);
    const m = k.slice(dot + 1);
    if (m === '') throw new ModalfuseError(`bad option name "${k}"`, { expected: 'KEY.MODALITY=VALUE', found: k });
    if (name in out && !isRecord(out[name])) throw new ModalfuseError(`option "${name}" is given both for all modalities and per modality`, { expected: `${name}=VALUE or ${name}.MODALITY=VALUE`, found: k });
    out[name] = { ...((out[name] as Record<string, unknown>) ?? {}), [m]: v };
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
