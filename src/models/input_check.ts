/**
 * Inputs of prediction are checked before any tensor is made: the sample count, the length
 * of every modality's buffer, and that every value is finite. A wrong length or a NaN would
 * otherwise give plausible probabilities (tfjs reads what is there, NaN spreads silently).
 */
import { sizeOf, type ModalitySpec } from '../data/types.js';
import { ModalfuseError } from '../errors.js';

/** `n` must be a whole number of samples. */
export function checkSampleCount(n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) {
    throw new ModalfuseError('bad number of samples for prediction', { expected: 'an integer >= 0', found: String(n) });
  }
  return n;
}

/**
 * Every modality in `names` is present, holds exactly `n` samples of its shape, and (unless
 * `finite` is false) only finite values; errors name the modality and the sample.
 */
export function checkFeatures(features: Record<string, ArrayLike<number> | undefined>, n: number, names: string[], modalities: Record<string, ModalitySpec>, finite = true): void {
  checkSampleCount(n);
  for (const m of names) {
    const x = features[m];
    const size = sizeOf(modalities[m].shape);
    if (!x) throw new ModalfuseError('input lacks a modality the model needs', { modality: m, expected: names, found: Object.keys(features) });
    if (x.length !== n * size) {
      throw new ModalfuseError(`input of modality "${m}" has the wrong length for ${n} samples of shape [${modalities[m].shape.join(', ')}]`, {
        modality: m,
        expected: `${n} x ${size} = ${n * size} values`,
        found: `${x.length} values${x.length % size === 0 ? ` (${x.length / size} samples)` : ''}`,
      });
    }
    if (!finite) continue;
    for (let i = 0; i < x.length; i++) {
      const v = x[i];
      if (!Number.isFinite(v)) {
        const sample = Math.floor(i / size);
        throw new ModalfuseError(`input of modality "${m}" has ${Number.isNaN(v) ? 'NaN' : String(v)} at sample ${sample} (feature ${i - sample * size})`, {
          modality: m,
          expected: 'finite numbers',
          found: String(v),
        });
      }
    }
  }
}
