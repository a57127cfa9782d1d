// modalfuse demo page: picks a test sample (or a drawn digit / an uploaded WAV for an
// AV-MNIST model), asks the inference worker (worker.js) for the prediction, and shows the
// class probabilities, each modality's contribution and the model's fusion weights.
// For tests and benchmarks the page exposes `window.modalfuseDemo`.

const MODEL_URL = '/model/';
const $ = (id) => document.getElementById(id);

const state = {
  meta: null,
  samples: [],
  sample: null, // the selected sample
  inputs: {}, // modality -> drawn / uploaded input replacing the sample's
  disabled: new Set(),
  seq: 0,
};

const demo = {
  state: 'loading',
  /** The latest rendered result (probabilities as numbers, full precision). */
  last: null,
  /** Number of results rendered so far. */
  updates: 0,
  error: null,
  meta: null,
  ready: null,
  /** Explanation for raw features of one sample ({ m: number[] }) with `disabled` modalities off. */
  explain: (features, disabled = [], inputs = {}) => request({ type: 'explain', features: toF32(features), inputs, disabled }),
  /** Probabilities for `n` samples of raw features (row-major per modality), through the worker. */
  predict: (features, n = 1) => request({ type: 'predict', features: toF32(features), n }).then((r) => Array.from(r.probs)),
  /** Times `repeats` predictions of `n` samples inside the worker: { meanMs, medianMs, perSampleMs }. */
  bench: (features, n = 1, repeats = 100) => request({ type: 'bench', features: toF32(features), n, repeats }),
  /** Resolves when every request sent so far has been answered and rendered. */
  whenIdle: () => idle(),
};
window.modalfuseDemo = demo;

// ---------------------------------------------------------------- errors

function showError(text) {
  demo.error = text;
  if (demo.state !== 'ready') demo.state = 'error';
  const box = $('error');
  box.textContent = text;
  box.hidden = false;
  if (demo.state === 'error') {
    $('status').dataset.state = 'error';
    $('status').textContent = '';
    $('model-info').textContent = 'No model loaded.';
  }
}
function clearError() {
  demo.error = null;
  $('error').hidden = true;
  $('error').textContent = '';
}
window.addEventListener('error', (e) => showError(`Unexpected error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) => showError(`Unexpected error: ${e.reason && e.reason.message ? e.reason.message : e.reason}`));

// ---------------------------------------------------------------- worker

let worker;
let nextId = 1;
const waiting = new Map();
let idleWaiters = [];

function idle() {
  if (waiting.size === 0) return Promise.resolve();
  return new Promise((resolve) => idleWaiters.push(resolve));
}

function request(msg) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    worker.postMessage({ ...msg, id });
  });
}

function startWorker() {
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = (ev) => {
    const msg = ev.data;
    const w = waiting.get(msg.id);
    if (!w) return;
    waiting.delete(msg.id);
    if (msg.type === 'error') w.reject(new Error(msg.message));
    else w.resolve(msg);
    if (waiting.size === 0) {
      const ws = idleWaiters;
      idleWaiters = [];
      setTimeout(() => ws.forEach((r) => r()), 0); // after the caller has rendered
    }
  };
  worker.onerror = (e) => {
    e.preventDefault();
    const text = `Could not start the inference worker: ${e.message || 'worker.js failed to load'}`;
    for (const w of waiting.values()) w.reject(new Error(text));
    waiting.clear();
    showError(text);
  };
}

function toF32(features) {
  const out = {};
  for (const [m, v] of Object.entries(features)) out[m] = v instanceof Float32Array ? v : Float32Array.from(v);
  return out;
}

// ---------------------------------------------------------------- rendering

function fmt(x, digits = 3) {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

function outputNames(meta) {
  const t = meta.task;
  if (t.kind === 'classification') return meta.classes || t.classes;
  if (t.kind === 'regression') return t.targets;
  return t.labels;
}

function bar(name, value, width, opts = {}) {
  const row = document.createElement('div');
  row.className = `bar${opts.top ? ' top' : ''}${opts.off ? ' off' : ''}`;
  const n = document.createElement('span');
  n.className = 'name';
  n.textContent = name;
  const track = document.createElement('span');
  track.className = 'track';
  const fill = document.createElement('span');
  fill.className = `fill${opts.signed ? (value >= 0 ? ' pos' : ' neg') : ''}`;
  fill.style.width = `${Math.max(0, Math.min(100, width * 100))}%`;
  track.append(fill);
  const v = document.createElement('span');
  v.className = 'val';
  v.textContent = opts.text ?? fmt(value);
  row.append(n, track, v);
  return row;
}

function trueLabel() {
  const s = state.sample;
  if (!s || Object.keys(state.inputs).length > 0) return '';
  if (s.labelName !== undefined) return ` — true class: ${s.labelName}`;
  return '';
}

function render(res) {
  const meta = state.meta;
  const names = outputNames(meta);
  const kind = meta.task.kind;
  const probs = $('probs');
  probs.replaceChildren();
  if (kind === 'regression') {
    $('prediction').textContent = `Predicted: ${names.map((t, i) => `${t} = ${fmt(res.probs[i])}`).join(', ')}`;
  } else {
    $('prediction').textContent = `Predicted: ${names[res.predicted]} (${fmt(res.probs[res.predicted] * 100, 1)}%)${trueLabel()}`;
  }
  res.probs.forEach((p, i) => {
    const b = kind === 'regression' ? bar(names[i], p, 0, { text: fmt(p) }) : bar(names[i], p, p, { top: i === res.predicted });
    b.dataset.output = names[i];
    b.dataset.prob = String(p);
    probs.append(b);
  });

  const contribs = $('contribs');
  contribs.replaceChildren();
  const vals = Object.values(res.contributions).filter((v) => v !== null).map(Math.abs);
  const scale = Math.max(1e-9, ...vals);
  for (const m of meta.inputModalities) {
    const c = res.contributions[m];
    const b = c === null
      ? bar(m, 0, 0, { off: true, text: 'off' })
      : bar(m, c, Math.abs(c) / scale / 2, { signed: true, text: `${c >= 0 ? '+' : ''}${fmt(c)}` });
    b.dataset.modality = m;
    b.dataset.contribution = c === null ? '' : String(c);
    contribs.append(b);
  }
  renderWeights(res.weights);
  const rows = 1 + Object.values(res.contributions).filter((v) => v !== null).length;
  $('timing').textContent = `Inference in the worker: ${fmt(res.ms, 1)} ms for ${rows} rows (the prediction and one per modality removed).`;
}

function renderWeights(weights) {
  const box = $('weights');
  box.replaceChildren();
  const shown = (weights || []).filter((w) => w.values.length > 1);
  $('weights-block').hidden = shown.length === 0;
  for (const w of shown) {
    const div = document.createElement('div');
    div.className = 'layer bars';
    const h = document.createElement('p');
    h.className = 'muted';
    h.textContent = `${w.layer}${w.mode ? ` (${w.mode === 'learned' ? 'learned softmax weights' : `${w.mode}: fixed weights`})` : ''}`;
    div.append(h);
    w.sources.forEach((s, i) => {
      const b = bar(s, w.values[i], w.values[i]);
      b.dataset.source = s;
      b.dataset.weight = String(w.values[i]);
      div.append(b);
    });
    box.append(div);
  }
}

// ---------------------------------------------------------------- prediction

async function update() {
  if (!state.meta) return;
  const seq = ++state.seq;
  const features = {};
  const inputs = {};
  for (const m of state.meta.inputModalities) {
    if (state.inputs[m]) inputs[m] = state.inputs[m];
    else if (state.sample && state.sample.features[m]) features[m] = Float32Array.from(state.sample.features[m]);
  }
  const missing = state.meta.inputModalities.filter((m) => !features[m] && !inputs[m]);
  if (missing.length) {
    $('prediction').textContent = `Give an input for: ${missing.join(', ')}`;
    return;
  }
  try {
    const res = await request({ type: 'explain', features, inputs, disabled: [...state.disabled].sort() });
    if (seq !== state.seq) return; // a newer request is on its way
    render(res);
    demo.last = {
      probs: Array.from(res.probs),
      predicted: res.predicted,
      contributions: res.contributions,
      weights: res.weights,
      disabled: res.disabled,
      sample: state.sample ? state.sample.index : null,
      ms: res.ms,
    };
    demo.updates++;
    document.body.dataset.updates = String(demo.updates);
    if (demo.state === 'ready' && demo.error && demo.error.startsWith('Prediction failed')) clearError();
  } catch (e) {
    if (seq !== state.seq) return;
    $('prediction').textContent = '';
    showError(`Prediction failed: ${e.message}`);
  }
}

// ---------------------------------------------------------------- inputs

function buildToggles() {
  const box = $('toggles');
  box.replaceChildren();
  for (const m of state.meta.inputModalities) {
    const label = document.createElement('label');
    const cb = document.createElement('input');
    cb.type = 'checkbox';
    cb.checked = true;
    cb.id = `mod-${m}`;
    cb.dataset.modality = m;
    cb.addEventListener('change', () => {
      if (cb.checked) state.disabled.delete(m);
      else state.disabled.add(m);
      update();
    });
    const spec = state.meta.modalities[m];
    const small = document.createElement('span');
    small.className = 'muted';
    small.textContent = `(${spec.kind} [${spec.shape.join('×')}])`;
    label.append(cb, document.createTextNode(`${m} `), small);
    box.append(label);
  }
}

async function loadSamples() {
  let data;
  try {
    const res = await fetch('/samples?n=20');
    data = await res.json();
    if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
  } catch (e) {
    showError(`Could not load test samples: ${e.message}`);
    return;
  }
  state.samples = data.samples || [];
  const sel = $('sample');
  sel.replaceChildren();
  if (state.samples.length === 0) {
    $('sample-note').textContent = data.note || 'No test samples.';
    $('sample-note').hidden = false;
    sel.disabled = true;
    return;
  }
  const names = outputNames(state.meta);
  for (const s of state.samples) {
    const o = document.createElement('option');
    o.value = String(s.index);
    const label = s.labelName ?? (typeof s.label === 'number' ? names[s.label] : s.label.map((v) => fmt(v, 2)).join(', '));
    o.textContent = `#${s.index} (${data.split}) — label ${label}`;
    sel.append(o);
  }
  sel.addEventListener('change', () => {
    state.sample = state.samples.find((s) => String(s.index) === sel.value) || null;
    state.inputs = {};
    drawSample();
    update();
  });
  state.sample = state.samples[0];
}

// Drawing (an image modality of shape [H, W, 1]) and WAV upload (an audio modality).
let imageModality = null;
let audioModality = null;
const canvas = () => $('draw');

function drawSample() {
  if (!imageModality) return;
  const c = canvas();
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, c.width, c.height);
  const s = state.sample;
  const shape = state.meta.modalities[imageModality].shape;
  if (!s || !s.features[imageModality] || shape.length !== 3 || shape[2] !== 1) return;
  // The test image's raw features, shown scaled to 0..255 by their own range.
  const [h, w] = shape;
  const f = s.features[imageModality];
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of f) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const img = new ImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const g = hi > lo ? Math.round(((f[i] - lo) / (hi - lo)) * 255) : 0;
    img.data.set([g, g, g, 255], i * 4);
  }
  const tmp = new OffscreenCanvas(w, h);
  tmp.getContext('2d').putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(tmp, 0, 0, c.width, c.height);
  canvasShowsSample = true;
}

/**
 * The drawing as an MNIST digit: grayscale 0..255, white on black, its ink's bounding box
 * scaled to fit 20 x 20 and its centre of mass moved to the centre of the w x h image
 * (how MNIST's digits were made). The pixels then go through the model's prepareImage.
 */
function mnistPixels(c, w, h) {
  const src = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let x0 = c.width;
  let y0 = c.height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < c.height; y++) {
    for (let x = 0; x < c.width; x++) {
      if (src[(y * c.width + x) * 4] > 20) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  }
  const pixels = new Float32Array(w * h);
  if (x1 < 0) return pixels; // nothing drawn
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const box = (20 / 28) * Math.min(w, h);
  const scale = box / Math.max(bw, bh);
  const sw = Math.max(1, Math.round(bw * scale));
  const sh = Math.max(1, Math.round(bh * scale));
  const fit = new OffscreenCanvas(sw, sh);
  const fctx = fit.getContext('2d');
  fctx.imageSmoothingEnabled = true;
  fctx.imageSmoothingQuality = 'high';
  fctx.drawImage(c, x0, y0, bw, bh, 0, 0, sw, sh);
  const small = fctx.getImageData(0, 0, sw, sh).data;
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw; x++) {
      const v = small[(y * sw + x) * 4];
      mass += v;
      cx += v * x;
      cy += v * y;
    }
  }
  const ox = Math.round(w / 2 - (mass > 0 ? cx / mass : sw / 2) - 0.5);
  const oy = Math.round(h / 2 - (mass > 0 ? cy / mass : sh / 2) - 0.5);
  for (let y = 0; y < sh; y++) {
    for (let x = 0; x < sw; x++) {
      const tx = x + ox;
      const ty = y + oy;
      if (tx < 0 || ty < 0 || tx >= w || ty >= h) continue;
      const i = (y * sw + x) * 4;
      pixels[ty * w + tx] = (small[i] + small[i + 1] + small[i + 2]) / 3;
    }
  }
  return pixels;
}

let canvasShowsSample = false;

function setupDrawing(m) {
  imageModality = m;
  $('image-panel').hidden = false;
  $('image-panel').querySelector('[data-modality]').textContent = `(${m})`;
  const c = canvas();
  const ctx = c.getContext('2d');
  let drawing = false;
  const pos = (e) => {
    const r = c.getBoundingClientRect();
    return [((e.clientX - r.left) / r.width) * c.width, ((e.clientY - r.top) / r.height) * c.height];
  };
  c.addEventListener('pointerdown', (e) => {
    if (canvasShowsSample) {
      // start a drawing on a black canvas, not over the test image
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, c.width, c.height);
      canvasShowsSample = false;
    }
    drawing = true;
    c.setPointerCapture(e.pointerId);
    ctx.beginPath();
    ctx.moveTo(...pos(e));
  });
  c.addEventListener('pointermove', (e) => {
    if (!drawing) return;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 20;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.lineTo(...pos(e));
    ctx.stroke();
  });
  c.addEventListener('pointerup', () => {
    drawing = false;
  });
  $('draw-clear').addEventListener('click', () => {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, c.width, c.height);
    canvasShowsSample = false;
  });
  $('draw-reset').addEventListener('click', () => {
    delete state.inputs[m];
    drawSample();
    update();
  });
  $('draw-use').addEventListener('click', () => {
    const [h, w] = state.meta.modalities[m].shape;
    state.inputs[m] = { kind: 'image', pixels: mnistPixels(c, w, h), width: w, height: h };
    update();
  });
}

function setupAudio(m) {
  audioModality = m;
  $('audio-panel').hidden = false;
  $('audio-panel').querySelector('[data-modality]').textContent = `(${m})`;
  // An uploaded recording gets the training noise (the data set's SNR, seed 0) unless the
  // box is unticked: the same input as `modalfuse predict --wav` (default / --wav-snr-db none).
  const noise = () => ($('wav-noise').checked ? { snrDb: 'training', seed: 0 } : { snrDb: 'none' });
  const ref = state.meta.transforms;
  if (ref && typeof ref.file === 'string') {
    fetch(new URL(ref.file, new URL(MODEL_URL, location.href)))
      .then((r) => r.json())
      .then((info) => {
        const snr = info && info.modalities && info.modalities.audio && info.modalities.audio.snrDb;
        if (typeof snr === 'number') $('wav-noise-label').textContent = `add the training noise (SNR ${String(snr).replace('-', '\u2212')} dB)`;
      })
      .catch(() => {});
  }
  $('wav').addEventListener('change', async (e) => {
    const file = e.target.files && e.target.files[0];
    if (!file) return;
    state.inputs[m] = { kind: 'audio', wav: new Uint8Array(await file.arrayBuffer()), noise: noise() };
    update();
  });
  $('wav-noise').addEventListener('change', () => {
    if (state.inputs[m] && state.inputs[m].kind === 'audio') {
      state.inputs[m] = { ...state.inputs[m], noise: noise() };
      update();
    }
  });
  $('wav-reset').addEventListener('click', () => {
    delete state.inputs[m];
    $('wav').value = '';
    update();
  });
}

// ---------------------------------------------------------------- start

async function main() {
  startWorker();
  let loaded;
  try {
    loaded = await request({ type: 'load', modelUrl: MODEL_URL });
  } catch (e) {
    const text = e.message.startsWith('Could not') ? e.message : `Could not load the model from ${MODEL_URL}: ${e.message}`;
    showError(text);
    throw new Error(text);
  }
  const meta = loaded.meta;
  state.meta = meta;
  demo.meta = meta;
  const mods = meta.inputModalities.map((m) => `${m} (${meta.modalities[m].kind})`).join(', ');
  $('model-info').textContent = `${meta.method} on ${meta.dataset || 'unnamed data'} · ${meta.task.kind} · modalities: ${mods} · ${loaded.backend} backend · ${loaded.library}`;

  fetch('/info')
    .then((r) => r.json())
    .then((info) => {
      if (info.report) $('report-link').hidden = false;
    })
    .catch(() => {});

  for (const m of meta.inputModalities) {
    const spec = meta.modalities[m];
    if (spec.kind === 'image' && spec.shape.length === 3 && !imageModality) setupDrawing(m);
    else if (spec.kind === 'audio' && !audioModality) setupAudio(m);
  }
  if (imageModality && !loaded.preparers.image) {
    $('draw-use').disabled = true;
    $('draw-use').title = 'this model has no fitted image transforms (modalfuse.json "transforms"): pick a test sample';
  }
  if (audioModality && !loaded.preparers.audio) {
    $('wav').disabled = true;
    $('wav').title = 'this model has no fitted audio transforms (modalfuse.json "transforms"): pick a test recording';
  }
  buildToggles();
  $('app').hidden = false;
  await loadSamples();
  drawSample();
  await update();
  demo.state = 'ready';
  $('status').dataset.state = 'ready';
  $('status').textContent = 'Ready';
}

demo.ready = main();
demo.ready.catch(() => {});
