/**
 * Option values are checked against the cost estimate before anything is built: a model
 * whose estimated memory for one training batch (weights, their gradients and the two Adam
 * moments, plus activations and their gradients) exceeds the limit is refused with the size
 * and the limit, instead of running out of memory inside tfjs minutes later.
 *
 * The limit is the method's own `maxMemoryMB` option where it has one (TFN checks itself),
 * else MODALFUSE_MAX_MEMORY_MB, else 2048 MiB. Methods without a cost estimate of their own
 * are bounded from below by the cheapest of their modalities' encoder + head.
 */
import { ModalfuseError } from '../errors.js';
import type { DataSpec, MethodEntry, Options } from '../registry/index.js';
import { encoderAndHeadCost } from '../methods/cost.js';

const MiB = 1024 * 1024;
export const DEFAULT_MAX_MEMORY_MB = 2048;
/** Batch size the estimate assumes (the trainer's default). */
const BATCH = 64;

function limitMB(): number {
  const env = typeof process === 'undefined' ? undefined : process.env.MODALFUSE_MAX_MEMORY_MB;
  if (env === undefined || env === '') return DEFAULT_MAX_MEMORY_MB;
  const v = Number(env);
  if (!Number.isFinite(v) || v <= 0) throw new ModalfuseError('bad MODALFUSE_MAX_MEMORY_MB', { expected: 'a number of MiB > 0', found: env });
  return v;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Refuses a model of `entry` with `options` on `spec` whose estimated training memory is over the limit. */
export function checkModelSize(entry: MethodEntry, spec: DataSpec, options: Options): void {
  if ('maxMemoryMB' in entry.options) return; // the method checks its own limit (TFN)
  const names = Object.keys(spec.modalities).sort();
  const cost = entry.cost
    ? entry.cost(spec, options)
    : names.map((m) => encoderAndHeadCost(spec, m, options)).reduce((a, b) => (b.params < a.params ? b : a));
  const bytes = 16 * cost.params + 2 * BATCH * cost.activationBytesPerSample;
  const limit = limitMB();
  if (bytes / MiB <= limit) return;
  const given = ['hidden', 'headHidden', 'encoderLayers'].map((k) => `${k}=${String(options[k])}`).join(', ');
  throw new ModalfuseError(
    `method "${entry.name}" with these options (${given}) would need about ${fmt(bytes / MiB)} MiB for one training batch of ${BATCH} ` +
      `(${fmt(cost.params)} weights with gradients and Adam state), over the limit maxMemoryMB=${limit} (set MODALFUSE_MAX_MEMORY_MB to change it)`,
    { expected: `at most ${limit} MiB`, found: `${fmt(bytes / MiB)} MiB` },
  );
}
