/**
 * Registry entries of the generative family, after Sahu and Vechtomova, "Dynamic Fusion for
 * Multimodal Data" (2019; arXiv 1911.03821, "Adaptive Fusion Techniques for Multimodal Data"):
 *
 * `ae-fusion` (their AutoFusion): the modalities' encoded features are concatenated and
 * compressed into one fused code (dense D/2 tanh, dense `latent` relu, as in the authors'
 * code); one decoder per modality (dense relu, dense linear) reconstructs that modality's
 * ENCODED features from the code. The reconstruction targets are the encoder outputs behind
 * a stop-gradient, so the encoders cannot shrink their features to make reconstruction
 * trivial; they learn from the task loss through the code. Loss: task + `reconWeight` x
 * (sum of the per-modality MSEs, one group). Missing modalities (`handlesMissing`): the
 * presence mask zeroes a missing modality's encoded features before the code is formed, so
 * the code comes from the others; its decoder's reconstruction (from that code) then takes
 * the missing features' place and the code is formed again from the filled features (same
 * weights), which the head reads. In training each present modality of a sample is hidden
 * with probability `maskRate` (never all), so the decoders learn to predict a modality from
 * the others and the head sees filled features.
 *
 * `gan-fusion` (their GAN-Fusion): the code fused from the modalities other than `target`
 * (generator side: their encoders and the fusion layers) is pushed, through a discriminator,
 * to be indistinguishable from the target modality's encoding (projected to `latent`); the
 * head reads both codes. The discriminator's real samples are the target encodings. The
 * authors' code uses the opposite roles (the target passes through the generator); we follow
 * the paper's description of pushing the complementary code toward the target.
 * Training schedule (customStep), chosen for stability:
 *   every batch, first one discriminator update (real labels smoothed to 0.9, learning rate
 *   x `discLr`, default 0.5), then one generator update on task + w x adversarial loss, with
 *   w ramped linearly from 0 to `advWeight` over the first `warmup` steps.
 * Why: during warm-up the task loss shapes the encodings before the adversary can pull the
 * fused code toward an uninformative point; the slower, label-smoothed discriminator cannot
 * saturate (its gradients to the generator stay useful), and one-for-one alternation keeps
 * both players on the same batch. The generator's adversarial loss is the non-saturating
 * -log D(fake). The epoch record carries `losses`: task, generator, discriminator.
 */
import { tf, tfl } from '../backend/index.js';
import { dense } from '../encoders/index.js';
import { ConcatFusion, ModalityDropMask, PresenceFill, StopGradient } from '../fusion/index.js';
import { register, type BuildContext, type CustomStep, type MethodEntry, type StepBatch, type Sym } from '../registry/index.js';
import type { LossTerm, Task } from '../tasks/index.js';

const TASKS: MethodEntry['tasks'] = ['classification', 'regression', 'multilabel'];
const CITATION = 'Sahu, Vechtomova. Dynamic Fusion for Multimodal Data. arXiv:1911.03821, 2019';

function widthOf(x: Sym): number {
  return x.shape[x.shape.length - 1] as number;
}

/** The fusion MLP (D -> D/2 tanh -> latent relu) as layer objects, so it can be applied twice with shared weights. */
function fuseLayers(ctx: BuildContext, inWidth: number, latent: number, prefix: string): (x: Sym) => Sym {
  const glorot = () => tfl.initializers.glorotUniform({ seed: ctx.rng.seed() });
  const l1 = tfl.layers.dense({ units: Math.max(1, Math.floor(inWidth / 2)), activation: 'tanh', kernelInitializer: glorot(), name: `${prefix}_in1` });
  const l2 = tfl.layers.dense({ units: latent, activation: 'relu', kernelInitializer: glorot(), name: `${prefix}_in2` });
  return (x) => l2.apply(l1.apply(x)) as Sym;
}

register({
  name: 'ae-fusion',
  family: 'generative',
  level: 'representation',
  description: 'autoencoder fusion: encoded modalities compressed into one code that must reconstruct each modality\'s features (one decoder each); a missing modality is filled with its reconstruction from the others',
  citation: CITATION,
  tasks: TASKS,
  modalityKinds: 'any',
  minModalities: 2,
  // about 4x the training time of concat on the synthetic suite (two passes through the fusion, decoders, the mask): with it, `npm start` would pass 8 minutes
  slow: true,
  handlesMissing: true,
  options: {
    latent: { type: 'integer', default: 32, min: 1, description: 'width of the fused code' },
    reconWeight: { type: 'number', default: 1, min: 0, description: 'weight of the reconstruction losses (summed over modalities)' },
    maskRate: { type: 'number', default: 0.25, min: 0, max: 0.95, description: 'training: probability of hiding each present modality of a sample (never all)' },
    fill: { type: 'boolean', default: true, description: 'fill a missing modality with its reconstruction and fuse again (false: the code of the others alone)' },
  },
  build(ctx) {
    const ms = ctx.modalities;
    const enc = ms.map((m) => ctx.encode(m));
    const mask = new ModalityDropMask({ rate: ctx.options.maskRate as number, seed: ctx.rng.seed(), name: 'ae_mask' }).apply(ctx.presence!) as Sym;
    const zeroed = new PresenceFill({ modalities: ms, fill: false, name: 'ae_zero_missing' }).apply([...enc, mask]) as Sym;
    const fuse = fuseLayers(ctx, widthOf(zeroed), ctx.options.latent as number, 'ae_fuse');
    const code0 = fuse(zeroed);
    const recon = ms.map((m, i) => {
      const h = dense(code0, Math.max(1, Math.floor(widthOf(zeroed) / 2)), ctx.rng, `ae_dec_${m}_1`, 'relu');
      return dense(h, widthOf(enc[i]), ctx.rng, `ae_dec_${m}_out`);
    });
    let code = code0;
    if (ctx.options.fill === true) {
      const filled = new PresenceFill({ modalities: ms, fill: true, name: 'ae_fill_missing' }).apply([...enc, ...recon, mask]) as Sym;
      code = fuse(filled);
    }
    const outputs: Record<string, Sym> = { main: ctx.head(code, 'head') };
    const objective: LossTerm[] = [{ output: 'main', target: 'label', loss: 'task', weight: 1 }];
    ms.forEach((m, i) => {
      outputs[`recon_${m}`] = recon[i];
      outputs[`features_${m}`] = new StopGradient({ name: `ae_target_${m}` }).apply(enc[i]) as Sym;
      objective.push({ output: `recon_${m}`, target: { output: `features_${m}` }, loss: 'mse', weight: ctx.options.reconWeight as number, group: 'recon' });
    });
    outputs.code = code;
    return { outputs, objective };
  },
});

/** Which modality gan-fusion takes as the target (option `target`, default: the last in sorted order). */
export function ganTarget(modalities: string[], option: unknown): string {
  return typeof option === 'string' && option !== '' ? option : modalities[modalities.length - 1];
}

function bce(logits: tf.Tensor, target: number): tf.Scalar {
  // sigmoid cross-entropy against a constant target
  return tf.mean(tf.add(tf.sub(tf.relu(logits), tf.mul(logits, target)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))))) as tf.Scalar;
}

/** The discriminator's loss (real = target encodings, labels smoothed to `realLabel`) and the generator's adversarial loss. */
export function ganLosses(outs: Record<string, tf.Tensor>, realLabel = 0.9): { discriminator: tf.Scalar; generator: tf.Scalar } {
  return {
    discriminator: tf.add(bce(outs.d_real, realLabel), bce(outs.d_fake, 0)) as tf.Scalar,
    generator: bce(outs.d_fake, 1),
  };
}

export const DISC_PREFIX = 'gan_disc_';

/** One phase of gan-fusion's step: `d` (discriminator update) or `g` (generator update: task + w x adversarial). Returns the losses before the update. */
export function ganUpdate(phase: 'd' | 'g', b: StepBatch, task: Task, optimizers: Record<string, tf.Optimizer>, vars: Record<string, tf.Variable[]>, advWeight: number): { task: number; generator: number; discriminator: number } {
  const seen = { task: 0, generator: 0, discriminator: 0 };
  const cost = () => {
    const outs = b.forward(true);
    const l = ganLosses(outs);
    const t = task.loss(outs.main, b.labels);
    seen.task = t.dataSync()[0];
    seen.generator = l.generator.dataSync()[0];
    seen.discriminator = l.discriminator.dataSync()[0];
    return phase === 'd' ? l.discriminator : (tf.add(t, tf.mul(advWeight, l.generator)) as tf.Scalar);
  };
  optimizers[phase].minimize(cost, false, vars[phase]);
  return seen;
}

register({
  name: 'gan-fusion',
  family: 'generative',
  level: 'representation',
  description: 'GAN fusion: a discriminator pushes the code fused from the other modalities toward the target modality\'s encoding; generator and discriminator updates alternate',
  citation: CITATION,
  tasks: TASKS,
  modalityKinds: 'any',
  minModalities: 2,
  options: {
    target: { type: 'string', default: '', description: 'the target modality whose encoding the others\' fused code must imitate (default: the last modality in sorted order)' },
    latent: { type: 'integer', default: 32, min: 1, description: 'width of the codes' },
    discHidden: { type: 'integer', default: 32, min: 1, description: 'discriminator hidden width' },
    advWeight: { type: 'number', default: 0.1, min: 0, description: 'weight of the generator\'s adversarial loss beside the task loss (after warm-up)' },
    warmup: { type: 'integer', default: 100, min: 0, description: 'steps over which the adversarial weight ramps from 0 to advWeight' },
    discLr: { type: 'number', default: 0.5, min: 0, description: 'discriminator learning rate, as a multiple of the training learning rate' },
  },
  check(spec, options) {
    const ms = Object.keys(spec.modalities).sort();
    const t = ganTarget(ms, options.target);
    return ms.includes(t) ? null : `option target must be one of the modalities (${ms.join(', ')}), found "${t}"`;
  },
  build(ctx) {
    const target = ganTarget(ctx.modalities, ctx.options.target);
    const others = ctx.modalities.filter((m) => m !== target);
    const latent = ctx.options.latent as number;
    const enc = others.map((m) => ctx.encode(m));
    const joined = enc.length === 1 ? enc[0] : (new ConcatFusion({ modalities: others, name: 'gan_concat' }).apply(enc) as Sym);
    const fake = fuseLayers(ctx, widthOf(joined), latent, 'gan_fuse')(joined);
    const real = dense(ctx.encode(target), latent, ctx.rng, 'gan_target_code', 'relu');
    const d1 = tfl.layers.dense({ units: ctx.options.discHidden as number, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: ctx.rng.seed() }), name: `${DISC_PREFIX}1` });
    const d2 = tfl.layers.dense({ units: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: ctx.rng.seed() }), name: `${DISC_PREFIX}out` });
    const disc = (x: Sym) => d2.apply(d1.apply(x)) as Sym;
    const code = tfl.layers.concatenate({ name: 'gan_code' }).apply([fake, real]) as Sym;
    return {
      outputs: { main: ctx.head(code, 'head'), d_real: disc(real), d_fake: disc(fake) },
      objective: [{ output: 'main', target: 'label', loss: 'task', weight: 1 }],
    };
  },
  customStep({ options, task }): CustomStep {
    const advWeight = options.advWeight as number;
    const warmup = options.warmup as number;
    return {
      optimizers: {
        d: { weights: (n) => n.startsWith(DISC_PREFIX), lr: options.discLr as number },
        g: { weights: (n) => !n.startsWith(DISC_PREFIX) },
      },
      step(b, opt, vars) {
        const w = warmup > 0 ? advWeight * Math.min(1, b.step / warmup) : advWeight;
        const d = ganUpdate('d', b, task, opt, vars, w);
        const g = ganUpdate('g', b, task, opt, vars, w);
        return { loss: g.task, task: g.task, generator: g.generator, discriminator: d.discriminator };
      },
    };
  },
});

export const GENERATIVE_METHODS = ['ae-fusion', 'gan-fusion'];
