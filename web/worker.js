// modalfuse demo: the inference worker. Loads the library bundle and the model off the main
// thread, then answers prediction requests. Messages (all carry the request's `id`):
//   in:  { type: 'load', modelUrl }
//        { type: 'explain', features: { m: Float32Array }, inputs: { m: UserInput }, disabled: [m] }
//        { type: 'predict', features, n }                 (n samples of raw features)
//        { type: 'bench', features, n, repeats }          (times `repeats` predictions of n samples)
//   out: { type: 'loaded', backend, meta, weights, preparers }
//        { type: 'result', probs, predicted, contributions, weights, disabled, ms, prepared }
//        { type: 'predicted', probs }
//        { type: 'bench', n, repeats, meanMs, medianMs, p95Ms, perSampleMs, backend }
//        { type: 'error', message }
// UserInput: { kind: 'image', pixels: Float32Array, width, height }
//          | { kind: 'audio', wav: Uint8Array, noise?: { snrDb?: 'training' | 'none' | number, seed? } }
//            (noise left out: the training SNR, seed 0, as `modalfuse predict --wav`)

let mf = null;
let fm = null;
let modelUrl = null;

async function library() {
  if (mf) return mf;
  try {
    mf = await import('./lib/modalfuse.js');
  } catch (e) {
    throw new Error(`the library bundle /lib/modalfuse.js did not load (${e && e.message ? e.message : e}); run \`npm run build\``);
  }
  return mf;
}

/** Raw features of one sample, with drawn / uploaded inputs prepared as Node would. */
async function rawFeatures(msg) {
  const features = { ...(msg.features || {}) };
  const prepared = [];
  for (const [m, input] of Object.entries(msg.inputs || {})) {
    const ctx = mf.urlContext(fm.meta, m, modelUrl);
    if (input.kind === 'image') {
      features[m] = await mf.prepareImageInput(input.pixels, { width: input.width, height: input.height }, ctx);
    } else if (input.kind === 'audio') {
      features[m] = await mf.prepareAudioInput(input.wav, ctx, input.noise);
    } else {
      throw new Error(`unknown input kind "${input.kind}" for modality "${m}"`);
    }
    prepared.push(m);
  }
  for (const m of fm.inputModalities) {
    if (!features[m]) throw new Error(`no input for modality "${m}": pick a test sample or give one`);
    if (!(features[m] instanceof Float32Array)) features[m] = Float32Array.from(features[m]);
  }
  return { features, prepared };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

async function handle(msg) {
  if (msg.type === 'load') {
    await library();
    modelUrl = msg.modelUrl;
    const backend = await mf.initBackend();
    try {
      fm = await mf.FusionModel.loadUrl(modelUrl);
    } catch (e) {
      throw new Error(`Could not load the model from ${modelUrl}: ${e && e.message ? e.message : e}`);
    }
    // Drawn / uploaded inputs need the model's fitted transforms (AV-MNIST: modalfuse.json "transforms").
    const kinds = mf.preparerKinds();
    const hasTransforms = !!fm.meta.transforms;
    const preparers = { image: kinds.image && hasTransforms, audio: kinds.audio && hasTransforms };
    return { type: 'loaded', backend, meta: fm.meta, weights: mf.fusionWeights(fm), preparers, library: mf.LIBRARY };
  }
  if (!fm) throw new Error('the model is not loaded');
  if (msg.type === 'explain') {
    const { features, prepared } = await rawFeatures(msg);
    const t0 = performance.now();
    const ex = mf.explainSample(fm, features, msg.disabled || []);
    const ms = performance.now() - t0;
    return { type: 'result', ...ex, ms, prepared };
  }
  if (msg.type === 'predict') {
    // Plain prediction of `n` samples (default 1): probabilities, no explanation.
    const n = msg.n || 1;
    const features = {};
    for (const [m, v] of Object.entries(msg.features)) features[m] = v instanceof Float32Array ? v : Float32Array.from(v);
    return { type: 'predicted', probs: fm.predict(features, n) };
  }
  if (msg.type === 'bench') {
    // `features` holds `n` samples (default 1); each timed call predicts all of them.
    const n = msg.n || 1;
    const features = {};
    for (const [m, v] of Object.entries(msg.features)) features[m] = v instanceof Float32Array ? v : Float32Array.from(v);
    const repeats = msg.repeats || 100;
    for (let i = 0; i < Math.min(10, repeats); i++) fm.predict(features, n); // warm-up
    const times = [];
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      fm.predict(features, n);
      times.push(performance.now() - t0);
    }
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    const sorted = [...times].sort((a, b) => a - b);
    const p95 = sorted[Math.min(sorted.length - 1, Math.floor(0.95 * sorted.length))];
    return { type: 'bench', n, repeats, meanMs: mean, medianMs: median(times), p95Ms: p95, perSampleMs: mean / n, backend: mf.backendName() };
  }
  throw new Error(`unknown request "${msg.type}"`);
}

self.onmessage = async (ev) => {
  const msg = ev.data;
  try {
    const out = await handle(msg);
    self.postMessage({ ...out, id: msg.id });
  } catch (e) {
    self.postMessage({ type: 'error', id: msg.id, message: e && e.message ? e.message : String(e) });
  }
};
