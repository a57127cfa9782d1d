/**
 * `modalfuse.json` is untrusted input: every part a loader relies on is checked here, and a
 * disagreement gets one ModalfuseError naming the file and the key (never a RangeError or a
 * tfjs ValueError later). No `node:` import: the browser loader uses it too.
 */
import { validateModalities, validateTask } from '../data/validate.js';
import { ModalfuseError } from '../errors.js';
import { getMethod, resolveOptions, type MethodEntry, type Options } from '../registry/index.js';
import { LOSS_KINDS } from '../tasks/index.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Runs `f`; any error becomes a ModalfuseError about `key` of the metadata file. */
function about<T>(file: string, key: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    const msg = (e as Error).message;
    throw new ModalfuseError(`bad "${key}" in the model metadata: ${msg}`, { file });
  }
}

/**
 * Checks a parsed `modalfuse.json` (file `file`) and returns its method's registry entry and
 * resolved options.
 */
export function validateModelMeta(meta: unknown, file: string): { entry: MethodEntry; options: Options } {
  if (!isRecord(meta)) throw new ModalfuseError('unreadable model metadata: not a JSON object', { file, expected: 'an object', found: short(meta) });
  if (meta.schemaVersion !== 1) throw new ModalfuseError('unsupported model folder version', { file, expected: 1, found: short(meta.schemaVersion) });
  const bad = (key: string, expected: string, found: unknown): never => {
    throw new ModalfuseError(`bad "${key}" in the model metadata`, { file, expected, found: short(found) });
  };
  const task = about(file, 'task', () => validateTask(meta.task));
  const modalities = about(file, 'modalities', () => validateModalities(meta.modalities));
  const spec = { task, modalities };
  if (typeof meta.method !== 'string') bad('method', 'a method name', meta.method);
  let entry: MethodEntry;
  try {
    entry = getMethod(meta.method as string, spec);
  } catch (e) {
    throw new ModalfuseError(`unknown method "${meta.method as string}" in the model metadata (written by a newer modalfuse, or edited)`, {
      file,
      expected: e instanceof ModalfuseError && e.expected !== undefined ? e.expected : 'a registered method',
      found: meta.method as string,
    });
  }
  if (!isRecord(meta.options)) bad('options', 'an object of method options', meta.options);
  const options = about(file, 'options', () => resolveOptions(entry, meta.options as Record<string, unknown>, Object.keys(modalities).sort()));
  if (!Number.isInteger(meta.seed)) bad('seed', 'an integer', meta.seed);
  const names = Object.keys(modalities);
  const inputs = meta.inputModalities;
  if (!Array.isArray(inputs) || inputs.length === 0 || !inputs.every((m) => typeof m === 'string' && names.includes(m)) || new Set(inputs).size !== inputs.length) {
    bad('inputModalities', `a list of distinct modalities among ${names.join(', ')}`, inputs);
  }
  if (meta.outputs === undefined && meta.objective === undefined) {
    // written by 0.1.0: outputs and objective follow from these (model_meta.ts upgradeMeta)
    if (!Array.isArray(meta.auxNames) || !meta.auxNames.every((a) => typeof a === 'string')) bad('auxNames', 'a list of names', meta.auxNames);
    if (typeof meta.trainMain !== 'boolean') bad('trainMain', 'true or false', meta.trainMain);
    if (typeof meta.auxWeight !== 'number' || !Number.isFinite(meta.auxWeight)) bad('auxWeight', 'a number', meta.auxWeight);
  } else {
    const outs = meta.outputs;
    if (!Array.isArray(outs) || outs.length === 0 || !outs.every((o) => typeof o === 'string') || new Set(outs).size !== outs.length) bad('outputs', 'a list of distinct output names', outs);
    const terms = meta.objective;
    const okTerm = (t: unknown) =>
      isRecord(t) &&
      typeof t.output === 'string' &&
      (outs as string[]).includes(t.output) &&
      typeof t.weight === 'number' &&
      Number.isFinite(t.weight) &&
      (LOSS_KINDS as string[]).includes(t.loss as string) &&
      (t.target === 'label' || t.target === 'none' || (isRecord(t.target) && (typeof t.target.input === 'string' || (typeof t.target.output === 'string' && (outs as string[]).includes(t.target.output)))));
    if (!Array.isArray(terms) || !terms.every(okTerm)) bad('objective', `a list of loss terms on the outputs ${short(outs)}`, terms);
    if (meta.presence !== undefined && typeof meta.presence !== 'boolean') bad('presence', 'true or false', meta.presence);
  }
  if (meta.classes !== undefined) {
    const want = task.kind === 'classification' || task.kind === 'retrieval' ? task.classes : undefined;
    if (!want || !Array.isArray(meta.classes) || meta.classes.length !== want.length || meta.classes.some((c, i) => c !== want[i])) {
      bad('classes', want ? `the task's classes ${short(want)}` : `no class list (the task is ${task.kind})`, meta.classes);
    }
  }
  if (!isRecord(meta.preprocessing)) bad('preprocessing', 'an object with one standardizer per modality', meta.preprocessing);
  const pre = meta.preprocessing as Record<string, unknown>;
  for (const m of inputs as string[]) {
    const d = modalities[m].shape[modalities[m].shape.length - 1];
    const st = pre[m];
    const okVec = (v: unknown, positive: boolean) =>
      Array.isArray(v) && v.length === d && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0));
    if (!isRecord(st) || st.kind !== 'standardize' || !okVec(st.mean, false) || !okVec(st.std, true)) {
      throw new ModalfuseError(`bad "preprocessing.${m}" in the model metadata`, {
        file,
        modality: m,
        expected: `{ "kind": "standardize", "mean": [${d} finite numbers], "std": [${d} positive numbers] } (the modality's last axis is ${d})`,
        found: short(st),
      });
    }
  }
  return { entry, options };
}
