/**
 * Registry entries of the coordinated family: DSSM two-tower retrieval (Huang et al., CIKM
 * 2013). One tower per modality (the modality's encoder, optionally recurrent residual
 * fusion, then a linear map into the shared space of width `dim`); the towers are trained
 * with a softmax over cosine similarities scaled by a smoothing factor gamma (fixed, or
 * learned as a positive scalar), either against every other item of the batch (`negatives=
 * batch`) or against K negatives sampled from the batch (`negatives=K`). When relevance is
 * by label, same-label items are never negatives (masked in-batch, never drawn by the sampler).
 */
import { dense } from '../encoders/index.js';
import { LearnedScale, RecurrentResidualFusion } from '../fusion/index.js';
import { register, type BuildContext, type Options, type Sym } from '../registry/index.js';
import type { LossTerm } from '../tasks/index.js';

/** `negatives`: 'batch', or the number K of sampled negatives (null when neither). */
export function parseNegatives(v: unknown): 'batch' | number | null {
  const s = String(v).trim();
  if (s === 'batch') return 'batch';
  return /^[1-9][0-9]*$/.test(s) ? Number(s) : null;
}

/** One tower: the modality's encoder, [RRF], then a linear map to the shared width. */
export function tower(ctx: BuildContext, modality: string, prefix = `tower_${modality}`): Sym {
  let h = ctx.encode(modality);
  if (ctx.options.rrf === true) {
    const units = ctx.optionFor('hidden', modality) as number;
    h = new RecurrentResidualFusion({ units, steps: ctx.options.rrfSteps as number, seed: ctx.rng.seed(), name: `${prefix}_rrf` }).apply(h) as Sym;
  }
  return dense(h, ctx.options.dim as number, ctx.rng, `${prefix}_out`);
}

function dssmCheck(options: Options): string | null {
  if (parseNegatives(options.negatives) === null) return `option negatives must be "batch" or an integer K >= 1, found "${String(options.negatives)}"`;
  return null;
}

register({
  name: 'dssm',
  family: 'coordinated',
  level: 'representation',
  description: 'DSSM: one tower per modality into a shared space, softmax over scaled cosines (in-batch or K sampled negatives); optional recurrent residual fusion in the towers',
  citation: 'Huang, He, Gao, Deng, Acero, Heck. Learning deep structured semantic models for web search using clickthrough data. CIKM 2013',
  tasks: ['retrieval'],
  modalityKinds: 'any',
  minModalities: 2,
  options: {
    dim: { type: 'integer', default: 32, min: 1, description: 'width of the shared embedding space' },
    gamma: { type: 'number', default: 10, min: 1e-6, description: 'smoothing factor: cosines are multiplied by it before the softmax (the initial value when learned)' },
    learnGamma: { type: 'boolean', default: false, description: 'learn gamma (kept positive, clipped to [1, 100]) instead of fixing it' },
    negatives: { type: 'string', default: 'batch', description: '"batch": every other item of the batch is a negative; K: softmax over the positive and K sampled negatives' },
    symmetric: { type: 'boolean', default: true, description: 'also train the gallery -> query direction (averaged with query -> gallery)' },
    rrf: { type: 'boolean', default: false, description: 'recurrent residual fusion in each tower: one residual block applied rrfSteps times with shared weights, outputs concatenated with its input and fused by a dense layer' },
    rrfSteps: { type: 'integer', default: 3, min: 1, max: 8, description: 'recurrent applications of the RRF block' },
  },
  check: (_spec, options) => dssmCheck(options),
  build(ctx) {
    const spec = ctx.spec.task as { query: string; gallery: string };
    const query = tower(ctx, spec.query);
    const gallery = tower(ctx, spec.gallery);
    const outputs: Record<string, Sym> = { query, gallery };
    const neg = parseNegatives(ctx.options.negatives);
    const params: NonNullable<LossTerm['params']> = { symmetric: ctx.options.symmetric as boolean };
    if (typeof neg === 'number') Object.assign(params, { negatives: neg, seed: ctx.rng.seed() % 1000003 });
    if (ctx.options.learnGamma === true) {
      outputs.gamma = new LearnedScale({ initial: ctx.options.gamma as number, name: 'dssm_gamma' }).apply(query) as Sym;
      params.gammaOutput = 'gamma';
    } else {
      params.gamma = ctx.options.gamma as number;
    }
    return { outputs, objective: [{ output: 'query', target: { output: 'gallery' }, loss: 'pair-softmax', weight: 1, params }] };
  },
});

export const COORDINATED_METHODS = ['dssm'];
