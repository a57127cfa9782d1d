/**
 * Modality dropout (training only): each sample's (preprocessed) input of each modality is
 * zeroed, i.e. replaced by the modality's mean input, with probability `p`, never all of a
 * sample's modalities at once (a draw that would drop them all is redrawn, so the
 * per-modality rate is slightly below p when there are few modalities). Teaches a fusion
 * model to cope with a missing modality (see the `missing` robustness sweep). The masks come
 * from a seeded Rng, so training stays reproducible. Models with one input are unchanged.
 */
import { tf } from '../backend/index.js';
import { ModalfuseError } from '../errors.js';
import type { Rng } from '../util/rng.js';

export function checkModalityDropout(p: number): void {
  if (!(Number.isFinite(p) && p >= 0 && p < 1)) {
    throw new ModalfuseError('bad modality dropout', { expected: 'a probability in [0, 1)', found: p });
  }
}

/** Keep-masks [batch] per modality (1 keep, 0 drop); at least one modality kept per sample. */
export function modalityDropoutMasks(batch: number, modalities: number, p: number, rng: Rng): Float32Array[] {
  const masks = Array.from({ length: modalities }, () => new Float32Array(batch).fill(1));
  if (modalities < 2 || p <= 0) return masks;
  for (let i = 0; i < batch; i++) {
    for (;;) {
      let kept = 0;
      for (let m = 0; m < modalities; m++) {
        const keep = rng.next() >= p ? 1 : 0;
        masks[m][i] = keep;
        kept += keep;
      }
      if (kept > 0) break;
    }
  }
  return masks;
}

/** Input tensors [batch, ...] with dropped samples zeroed (new tensors; call inside tf.tidy). */
export function applyModalityDropout(xs: tf.Tensor[], p: number, rng: Rng): tf.Tensor[] {
  if (xs.length < 2 || p <= 0) return xs;
  const b = xs[0].shape[0]!;
  const masks = modalityDropoutMasks(b, xs.length, p, rng);
  return xs.map((x, m) => tf.mul(x, tf.tensor(masks[m], [b, ...x.shape.slice(1).map(() => 1)])));
}
