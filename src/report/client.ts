// Over 400 lines: one self-contained function that the report page embeds as text (clientRender.toString()), so it cannot import helpers from other modules.
/**
 * The page-side renderer of the benchmark report. `renderReport` (./html.ts) embeds
 * `clientRender.toString()` in the page, so this function must stay self-contained: no
 * imports, no references to anything outside its body (types are fine; they are erased).
 * It reads only the results JSON embedded in the page (`<script type="application/json"
 * id="modalfuse-results">`) and the global `Chart` of chart.js's UMD build, so any
 * results.json renders, including older or partial ones: every field is optional here.
 */

/* eslint-disable @typescript-eslint/no-explicit-any */
export function clientRender(): void {
  type AnyObj = Record<string, any>;
  /** "lr 0.001, batch 64, 15 epochs max, patience 5[, loss l1]" */
  function trainingText(t: AnyObj | undefined): string {
    if (!t) return '–';
    return 'lr ' + t.lr + ', batch ' + t.batchSize + ', ' + t.epochs + ' epochs max, patience ' + t.patience + (t.loss ? ', loss ' + t.loss : '');
  }

  /** Hover text of a result row: its options (structured ones as JSON) and training settings. */
  function settingsText(r: AnyObj): string {
    const o: AnyObj = r.options || {};
    const opts = Object.keys(o)
      .map((k) => k + '=' + (typeof o[k] === 'object' ? JSON.stringify(o[k]) : String(o[k])))
      .join(', ');
    return 'options: ' + (opts || '(defaults)') + (r.training ? '\ntraining: ' + trainingText(r.training) : '');
  }

  const doc = document;
  const ChartCtor: any = (globalThis as any).Chart;
  const LOWER_IS_BETTER = ['mae', 'mse', 'rmse', 'loss'];
  // Tableau 10, then darker companions: distinct for up to 20 methods.
  const PALETTE = [
    '#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac',
    '#1f3b73', '#a6501b', '#8f1d21', '#2f6f6a', '#2d6a27', '#9a7d0a', '#6b3d66', '#c2185b', '#5d4037', '#424242',
  ];
  const POINT_STYLES = ['circle', 'triangle', 'rect', 'rectRot', 'star', 'crossRot', 'rectRounded', 'cross'];

  const root = doc.getElementById('report')!;
  let results: AnyObj;
  try {
    results = JSON.parse(doc.getElementById('modalfuse-results')!.textContent || '{}');
  } catch (e) {
    root.textContent = 'The embedded results are not valid JSON: ' + String(e);
    return;
  }

  function el(tag: string, attrs?: AnyObj | null, ...children: (Node | string | null | undefined)[]): HTMLElement {
    const e = doc.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null) continue;
        if (k === 'class') e.className = String(v);
        else if (k === 'style') e.setAttribute('style', String(v));
        else e.setAttribute(k, String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.appendChild(typeof c === 'string' ? doc.createTextNode(c) : c);
    }
    return e;
  }

  const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

  function fmtMetric(v: unknown): string {
    if (!isNum(v)) return '–';
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-3 || a >= 1e4)) return v.toExponential(2);
    return v.toFixed(4);
  }
  function fmtStd(v: unknown): string {
    if (!isNum(v)) return '–';
    return Math.abs(v) >= 1e4 ? v.toExponential(2) : v.toFixed(4);
  }
  function fmtInt(v: unknown): string {
    return isNum(v) ? Math.round(v).toLocaleString('en-US') : '–';
  }
  function fmtSI(v: unknown): string {
    if (!isNum(v)) return '–';
    const a = Math.abs(v);
    const units: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
    for (const [f, u] of units) if (a >= f) return (Number.isInteger(v / f) || a / f >= 100 ? (v / f).toFixed(0) : (v / f).toFixed(1)) + u;
    return a >= 10 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
  }
  function fmtBytes(v: unknown): string {
    if (!isNum(v)) return '–';
    const units: [number, string][] = [[2 ** 30, 'GiB'], [2 ** 20, 'MiB'], [2 ** 10, 'KiB']];
    for (const [f, u] of units) if (v >= f) return (v / f).toFixed(1) + ' ' + u;
    return Math.round(v) + ' B';
  }

  const colorIndex = new Map<string, number>();
  function colorOf(method: string): string {
    if (!colorIndex.has(method)) colorIndex.set(method, colorIndex.size);
    return PALETTE[colorIndex.get(method)! % PALETTE.length];
  }
  function pointStyleOf(method: string): string {
    colorOf(method);
    return POINT_STYLES[colorIndex.get(method)! % POINT_STYLES.length];
  }
  /** Log-axis ticks: only 1, 2 and 5 times a power of ten, in SI units. */
  function logTick(v: unknown): string {
    const x = Number(v);
    if (!(x > 0)) return '';
    const e = Math.pow(10, Math.floor(Math.log10(x) + 1e-9));
    const m = Math.round((x / e) * 1000) / 1000;
    return m === 1 || m === 2 || m === 5 ? fmtSI(x) : '';
  }

  function primaryOf(ds: AnyObj): { key: string; higherIsBetter: boolean } | null {
    const pm = ds.primaryMetric;
    if (pm && typeof pm.key === 'string') return { key: pm.key, higherIsBetter: pm.higherIsBetter !== false };
    const task = ds.task;
    if (task === 'regression') return { key: 'mae', higherIsBetter: false };
    if (task === 'multilabel') return { key: 'microF1', higherIsBetter: true };
    if (task === 'classification') return { key: 'accuracy', higherIsBetter: true };
    const first = (ds.results || []).find((r: AnyObj) => r && r.metrics && Object.keys(r.metrics).length > 0);
    if (!first) return null;
    const key = Object.keys(first.metrics)[0];
    return { key, higherIsBetter: !LOWER_IS_BETTER.includes(key) };
  }
  const higherBetter = (key: string, pm: { key: string; higherIsBetter: boolean } | null) =>
    pm && pm.key === key ? pm.higherIsBetter : !LOWER_IS_BETTER.includes(key);

  let chartCount = 0;
  const chartsAvailable = typeof ChartCtor === 'function';
  function chartBox(title: string, config: AnyObj, note?: string): HTMLElement {
    const id = 'chart' + chartCount++;
    const canvas = el('canvas', { id, role: 'img', 'aria-label': title });
    const box = el('div', { class: 'chart' }, el('h4', null, title), el('div', { class: 'canvas-wrap' }, canvas), note ? el('p', { class: 'note' }, note) : null);
    if (chartsAvailable) {
      // Created after the box is in the document (see flushCharts).
      pendingCharts.push(() => {
        try {
          new ChartCtor(canvas, config);
        } catch (e) {
          canvas.replaceWith(el('p', { class: 'note' }, 'chart failed: ' + String(e)));
        }
      });
    } else {
      canvas.replaceWith(el('p', { class: 'note' }, 'charts unavailable (chart.js missing from the page)'));
    }
    return box;
  }
  const pendingCharts: (() => void)[] = [];

  const baseOptions = (xTitle: string, yTitle: string, xLog = false, xInteger = false): AnyObj => ({
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    interaction: { mode: 'nearest', intersect: false },
    plugins: { legend: { position: 'bottom', labels: { boxWidth: 12, font: { size: 11 } } } },
    scales: {
      x: {
        type: xLog ? 'logarithmic' : 'linear',
        title: { display: true, text: xTitle },
        ticks: xLog ? { callback: logTick, maxRotation: 0, autoSkip: false } : xInteger ? { precision: 0 } : {},
      },
      y: { type: 'linear', title: { display: true, text: yTitle } },
    },
  });

  // ------------------------------------------------------------------ header
  const opts: AnyObj = results.options || {};
  const metaBits: string[] = [];
  if (results.library) metaBits.push(String(results.library));
  if (results.backend) metaBits.push('backend ' + results.backend);
  if (results.createdAt) metaBits.push(String(results.createdAt).replace('T', ' ').replace(/\.\d+Z$/, ' UTC'));
  if (isNum(results.totalSeconds)) metaBits.push('total ' + (results.totalSeconds / 60).toFixed(1) + ' min');
  const optBits: string[] = [];
  if (Array.isArray(opts.seeds)) optBits.push('seeds ' + opts.seeds.join(', '));
  if (isNum(opts.epochs)) optBits.push('epochs ≤ ' + opts.epochs);
  if (isNum(opts.patience)) optBits.push('patience ' + opts.patience);
  if (isNum(opts.batchSize)) optBits.push('batch ' + opts.batchSize);
  if (isNum(opts.lr)) optBits.push('lr ' + opts.lr);
  if (opts.quick) optBits.push('quick');
  if (isNum(opts.modalityDropout) && opts.modalityDropout > 0) optBits.push('modality dropout ' + opts.modalityDropout);
  if (opts.set && typeof opts.set === 'object' && Object.keys(opts.set).length > 0) {
    optBits.push('set ' + Object.entries(opts.set).map(([k, v]) => k + '=' + v).join(' '));
  }
  const datasets: AnyObj[] = Array.isArray(results.datasets) ? results.datasets : [];
  root.appendChild(
    el(
      'header',
      null,
      el('h1', null, 'modalfuse benchmark'),
      el('p', { class: 'meta' }, metaBits.join(' · ')),
      optBits.length ? el('p', { class: 'meta' }, optBits.join(' · ')) : null,
      datasets.length > 1
        ? el('nav', null, ...datasets.map((d, i) => el('a', { href: '#ds' + i }, String(d.dataset ?? 'data set ' + (i + 1)))))
        : null,
    ),
  );
  if (datasets.length === 0) root.appendChild(el('p', null, 'No data sets in these results.'));

  const skippedAll: AnyObj[] = Array.isArray(results.skipped) ? results.skipped : [];

  // ------------------------------------------------------------------ per data set
  datasets.forEach((ds, di) => {
    const rs: AnyObj[] = (Array.isArray(ds.results) ? ds.results : []).filter((r: unknown) => r && typeof r === 'object');
    const pm = primaryOf(ds);
    const section = el('section', { id: 'ds' + di });
    const info: string[] = [];
    if (ds.task) info.push(String(ds.task));
    if (Array.isArray(ds.classes) && ds.task === 'classification') info.push(ds.classes.length + ' classes');
    if (ds.modalities && typeof ds.modalities === 'object') {
      info.push(
        'modalities ' +
          Object.keys(ds.modalities)
            .sort()
            .map((m) => m + ' ' + (ds.modalities[m]?.kind ?? '') + ' [' + (ds.modalities[m]?.shape ?? []).join('×') + ']')
            .join(', '),
      );
    }
    if (ds.splits && typeof ds.splits === 'object') {
      info.push(Object.entries(ds.splits).map(([s, n]) => s + ' ' + n).join(' / '));
    }
    if (pm) info.push('ranked by ' + pm.key + (pm.higherIsBetter ? ' (higher is better)' : ' (lower is better)'));
    section.appendChild(el('h2', null, String(ds.dataset ?? 'data set ' + (di + 1))));
    section.appendChild(el('p', { class: 'meta' }, info.join(' · ')));
    // AV-MNIST protocol (results with `encoders`): say how the rows were trained and what their cost columns cover.
    const hasEncoders = rs.some((r) => typeof r.encoders === 'string');
    if (hasEncoders) {
      const proto: AnyObj = (results.protocol && typeof results.protocol === 'object' ? results.protocol : null) || (opts.avmnist && typeof opts.avmnist === 'object' ? opts.avmnist : {});
      const uni = isNum(proto.unimodalEpochs) ? ' (≤ ' + proto.unimodalEpochs + ' epochs)' : '';
      const fus = isNum(proto.fusionEpochs) ? ' (≤ ' + proto.fusionEpochs + ' epochs)' : '';
      const kinds = new Set(rs.map((r) => r.encoders));
      const bits: string[] = [];
      if (kinds.has('trained') || kinds.has('frozen')) {
        bits.push(
          'Protocol of MFAS (Pérez-Rúa et al. 2019): the unimodal networks (encoders "trained") are trained first' + uni +
            '; every fusion method (encoders "frozen") is then trained on their frozen encoder features' + fus + ' with the same head budget.',
        );
      }
      if (kinds.has('frozen')) {
        bits.push('For frozen rows, params, FLOPs and act. mem include both encoders ("fusion params": the fusion model alone); train/s, infer/s and train s are of the fusion model on precomputed features.');
      }
      if (kinds.has('end-to-end')) bits.push('End-to-end rows train encoders and fusion jointly from the raw inputs' + uni + '.');
      bits.push('Robustness: corruptions of the raw test inputs, passed through the encoders.');
      section.appendChild(el('p', { class: 'note protocol' }, bits.join(' ')));
    }
    const hasFusionParams = rs.some((r) => isNum(r.fusionParams));
    if (rs.length === 0) {
      section.appendChild(el('p', null, 'No results for this data set.'));
    }

    // best method by the primary metric
    let best: AnyObj | null = null;
    if (pm) {
      for (const r of rs) {
        const v = r.metrics?.[pm.key];
        if (!isNum(v)) continue;
        const bv = best?.metrics?.[pm.key];
        if (!best || (pm.higherIsBetter ? v > bv : v < bv)) best = r;
      }
    }

    // ---- table
    if (rs.length > 0) {
      const metricKeys: string[] = [];
      for (const r of rs) for (const k of Object.keys(r.metrics || {})) if (!metricKeys.includes(k)) metricKeys.push(k);
      if (pm && metricKeys.includes(pm.key)) {
        metricKeys.splice(metricKeys.indexOf(pm.key), 1);
        metricKeys.unshift(pm.key);
      }
      const bestOf: Record<string, number> = {};
      for (const k of metricKeys) {
        const vals = rs.map((r) => r.metrics?.[k]).filter(isNum);
        if (vals.length) bestOf[k] = higherBetter(k, pm) ? Math.max(...vals) : Math.min(...vals);
      }
      const head = el(
        'tr',
        null,
        el('th', null, 'method'),
        hasEncoders ? el('th', { title: 'trained: a unimodal network; frozen: fusion on the frozen unimodal encoders; end-to-end: trained jointly' }, 'encoders') : null,
        el('th', null, 'family / level'),
        ...metricKeys.map((k) => el('th', { class: 'num' }, k + (higherBetter(k, pm) ? ' ↑' : ' ↓'))),
        el('th', { class: 'num', title: 'trainable and non-trainable parameters' }, 'params'),
        hasFusionParams ? el('th', { class: 'num', title: 'parameters of the fusion model alone (without the frozen encoders)' }, 'fusion params') : null,
        el('th', { class: 'num', title: 'floating-point operations per sample (multiply and add count as two)' }, 'FLOPs'),
        el('th', { class: 'num', title: 'activation memory per sample' }, 'act. mem'),
        el('th', { class: 'num', title: 'training samples per second' }, 'train/s'),
        el('th', { class: 'num', title: 'inference samples per second' }, 'infer/s'),
        el('th', { class: 'num', title: 'wall time of training, mean over seeds' }, 'train s'),
        el('th', { class: 'num', title: 'epochs run (early stopping), mean over seeds' }, 'epochs'),
      );
      const body = rs.map((r) => {
        const cells = metricKeys.map((k) => {
          const v = r.metrics?.[k];
          const sd = r.metricsStd?.[k];
          const text = fmtMetric(v) + (isNum(sd) ? ' ± ' + fmtStd(sd) : '');
          const isBest = isNum(v) && v === bestOf[k];
          return el('td', { class: 'num' + (isBest ? ' best' : '') }, text);
        });
        const fam = [r.family, r.level].filter(Boolean).join(' / ');
        return el(
          'tr',
          r === best ? { class: 'best-row' } : null,
          el('td', { title: settingsText(r) }, el('span', { class: 'swatch', style: 'background:' + colorOf(String(r.method)) }), String(r.method ?? '?')),
          hasEncoders ? el('td', { class: 'dim' }, typeof r.encoders === 'string' ? r.encoders : '–') : null,
          el('td', { class: 'dim' }, fam || '–'),
          ...cells,
          el('td', { class: 'num' }, fmtInt(r.params)),
          hasFusionParams ? el('td', { class: 'num' }, fmtInt(r.fusionParams)) : null,
          el('td', { class: 'num' }, fmtSI(r.flopsPerSample)),
          el('td', { class: 'num' }, fmtBytes(r.activationBytesPerSample)),
          el('td', { class: 'num' }, fmtSI(r.trainSamplesPerSec)),
          el('td', { class: 'num' }, fmtSI(r.inferSamplesPerSec)),
          el('td', { class: 'num' }, isNum(r.trainSeconds) ? r.trainSeconds.toFixed(1) : '–'),
          el('td', { class: 'num' }, isNum(r.epochsRun) ? String(Math.round(r.epochsRun * 10) / 10) : Array.isArray(r.history) ? String(r.history.length) : '–'),
        );
      });
      // Methods that train with settings of their own (registry training defaults) are named under the table.
      const own = rs.filter((r) => r.training && JSON.stringify(r.training) !== JSON.stringify(rs[0].training));
      if (own.length > 0 || rs.some((r) => r.training?.loss)) {
        section.appendChild(el('p', { class: 'note' }, 'Training settings (learning rate, batch, max epochs, patience, loss): ' + rs.filter((r) => r.training).map((r) => r.method + ': ' + trainingText(r.training)).join('; ') + '.'));
      }
      const seedsNote = rs.some((r) => r.metricsStd) ? 'Metrics on the test split: mean ± standard deviation over seeds.' : 'Metrics on the test split.';
      section.appendChild(el('div', { class: 'table-wrap' }, el('table', { class: 'results' }, el('thead', null, head), el('tbody', null, ...body))));
      section.appendChild(el('p', { class: 'note' }, seedsNote + ' Bold: best value of each metric.' + (best ? ' Highlighted row: best by ' + pm!.key + '.' : '')));
    }

    // ---- charts
    const grid = el('div', { class: 'charts' });
    if (pm && rs.some((r) => isNum(r.params) && isNum(r.metrics?.[pm.key]))) {
      const pts = rs.filter((r) => isNum(r.params) && r.params > 0 && isNum(r.metrics?.[pm.key]));
      grid.appendChild(
        chartBox(pm.key + ' vs parameters', {
          type: 'scatter',
          data: {
            datasets: pts.map((r) => ({
              label: String(r.method),
              data: [{ x: r.params, y: r.metrics[pm.key] }],
              backgroundColor: colorOf(String(r.method)) + 'cc',
              borderColor: colorOf(String(r.method)),
              pointStyle: pointStyleOf(String(r.method)),
              pointRadius: 7,
              pointHoverRadius: 9,
              clip: false, // points on the axis limit (accuracy 1) are drawn whole
            })),
          },
          options: (() => {
            const o = baseOptions('parameters (log scale)', pm.key + ' (test)', true);
            const ps = pts.map((r) => r.params as number);
            // room around the extreme points (a log axis has no grace option)
            o.scales.x.min = Math.min(...ps) / 1.25;
            o.scales.x.max = Math.max(...ps) * 1.25;
            // room around the points, but no accuracy above 1 or below 0
            const ys = pts.map((r) => r.metrics[pm.key] as number);
            const lo = Math.min(...ys);
            const hi = Math.max(...ys);
            const pad = Math.max((hi - lo) * 0.08, Math.abs(hi) * 0.01, 1e-3);
            const unit = lo >= 0 && hi <= 1;
            o.scales.y.min = unit ? Math.max(0, lo - pad) : lo - pad;
            o.scales.y.max = unit ? Math.min(1, hi + pad) : hi + pad;
            o.layout = { padding: { top: 10, right: 10 } };
            o.plugins.legend.labels.usePointStyle = true;
            o.plugins.tooltip = {
              callbacks: {
                label: (c: AnyObj) => c.dataset.label + ': ' + pm.key + ' ' + fmtMetric(c.parsed.y) + ', ' + fmtInt(c.parsed.x) + ' params',
              },
            };
            return o;
          })(),
        }),
      );
    }
    const withHistory = rs.filter((r) => Array.isArray(r.history) && r.history.length > 0);
    if (withHistory.length > 0) {
      const lineSets = (pick: (h: AnyObj) => unknown) =>
        withHistory.map((r) => ({
          label: String(r.method),
          data: r.history.map((h: AnyObj) => ({ x: h.epoch, y: pick(h) })).filter((p: AnyObj) => isNum(p.x) && isNum(p.y)),
          borderColor: colorOf(String(r.method)),
          backgroundColor: colorOf(String(r.method)),
          pointRadius: 2,
          borderWidth: 1.5,
          tension: 0.1,
        }));
      const lossSets = lineSets((h) => h.loss);
      if (lossSets.some((s) => s.data.length > 0)) {
        grid.appendChild(chartBox('training loss per epoch', { type: 'line', data: { datasets: lossSets }, options: baseOptions('epoch', 'training loss', false, true) }));
      }
      // methods with their own step report several losses (gan-fusion: task, generator, discriminator): one chart each
      const palette = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
      for (const r of withHistory) {
        const names = [...new Set(r.history.flatMap((h: AnyObj) => (h.losses ? Object.keys(h.losses) : [])))].filter((k) => k !== 'loss') as string[];
        if (names.length === 0) continue;
        const sets = names.map((k, i) => ({
          label: k,
          data: r.history.map((h: AnyObj) => ({ x: h.epoch, y: h.losses?.[k] })).filter((p: AnyObj) => isNum(p.x) && isNum(p.y)),
          borderColor: palette[i % palette.length],
          backgroundColor: palette[i % palette.length],
          pointRadius: 2,
          borderWidth: 1.5,
          tension: 0.1,
        }));
        grid.appendChild(chartBox(String(r.method) + ': losses per epoch', { type: 'line', data: { datasets: sets }, options: baseOptions('epoch', 'loss', false, true) }));
      }
      let vkey = pm?.key;
      if (!vkey || !withHistory.some((r) => r.history.some((h: AnyObj) => isNum(h.valid?.[vkey!])))) {
        const any = withHistory.flatMap((r) => r.history).find((h: AnyObj) => h.valid && Object.keys(h.valid).length > 0);
        vkey = any ? Object.keys(any.valid)[0] : undefined;
      }
      if (vkey) {
        const k = vkey;
        const vsets = lineSets((h) => h.valid?.[k]);
        if (vsets.some((s) => s.data.length > 0)) {
          grid.appendChild(chartBox('validation ' + k + ' per epoch', { type: 'line', data: { datasets: vsets }, options: baseOptions('epoch', 'validation ' + k, false, true) }));
        }
      }
    }

    // ---- robustness: per corruption with several levels (noise), a curve per modality:
    // metric vs level, starting from the clean test metric at level 0; per corruption with
    // a single level (missing), one bar chart: the metric with each modality corrupted.
    const robust = rs.filter((r) => Array.isArray(r.robustness) && r.robustness.some((e: AnyObj) => e && typeof e === 'object'));
    if (robust.length > 0) {
      const all: AnyObj[] = robust.flatMap((r) => r.robustness.filter((e: AnyObj) => e && typeof e === 'object'));
      const corruptions: string[] = [];
      for (const e of all) if (!corruptions.includes(String(e.corruption))) corruptions.push(String(e.corruption));
      const metricFor = (entries: AnyObj[]): string | undefined => {
        if (pm && entries.some((e) => isNum(e.metrics?.[pm.key]))) return pm.key;
        const f = entries.find((e) => e.metrics && Object.keys(e.metrics).some((k) => isNum(e.metrics[k])));
        return f ? Object.keys(f.metrics).find((k) => isNum(f.metrics[k])) : undefined;
      };
      for (const corruption of corruptions) {
        const entries = all.filter((e) => String(e.corruption) === corruption);
        const k = metricFor(entries);
        if (!k) continue;
        const levels = [...new Set(entries.map((e) => e.level).filter(isNum))];
        const modalities = [...new Set(entries.map((e) => String(e.modality)))].sort();
        const pick = (r: AnyObj, modality: string) =>
          r.robustness.filter((e: AnyObj) => e && String(e.modality) === modality && String(e.corruption) === corruption && isNum(e.level) && isNum(e.metrics?.[k]));
        if (levels.length <= 1) {
          const sets = robust
            .map((r) => ({
              label: String(r.method),
              data: modalities.map((m) => {
                const e = pick(r, m)[0];
                return e ? e.metrics[k] : null;
              }),
              backgroundColor: colorOf(String(r.method)),
              borderColor: colorOf(String(r.method)),
            }))
            .filter((d) => d.data.some((v) => v !== null));
          const o = baseOptions('modality ' + corruption + (levels.length === 1 && levels[0] !== 1 ? ' (level ' + levels[0] + ')' : ''), k + ' (test)');
          o.scales.x = { type: 'category', title: o.scales.x.title };
          o.scales.y.beginAtZero = true;
          grid.appendChild(
            chartBox('robustness: one modality ' + corruption, { type: 'bar', data: { labels: modalities, datasets: sets }, options: o }, 'Clean test values are in the table.'),
          );
          continue;
        }
        for (const modality of modalities) {
          const sets = robust
            .map((r) => {
              const pts = pick(r, modality)
                .map((e: AnyObj) => ({ x: e.level, y: e.metrics[k] }))
                .sort((a: AnyObj, b: AnyObj) => a.x - b.x);
              if (pts.length > 0 && pts[0].x > 0 && isNum(r.metrics?.[k])) pts.unshift({ x: 0, y: r.metrics[k] });
              return {
                label: String(r.method),
                data: pts,
                borderColor: colorOf(String(r.method)),
                backgroundColor: colorOf(String(r.method)),
                pointRadius: 2.5,
                borderWidth: 1.5,
              };
            })
            .filter((d) => d.data.length > 0);
          if (sets.length === 0) continue;
          grid.appendChild(
            chartBox('robustness: ' + corruption + ' on ' + modality, { type: 'line', data: { datasets: sets }, options: baseOptions(corruption + ' level (0: clean)', k + ' (test)') }),
          );
        }
      }
    }
    if (grid.childNodes.length > 0) section.appendChild(grid);

    // ---- confusion matrix of the best method (HTML heat map)
    const confSource = best && Array.isArray(best.confusion) ? best : rs.find((r) => Array.isArray(r.confusion));
    if (confSource) {
      const m: number[][] = confSource.confusion;
      const names: string[] = Array.isArray(ds.classes) && ds.classes.length === m.length ? ds.classes.map(String) : m.map((_, i) => String(i));
      const rows = m.map((row, i) => {
        const sum = row.reduce((a, b) => a + (isNum(b) ? b : 0), 0);
        return el(
          'tr',
          null,
          el('th', { class: 'rowhead' }, names[i]),
          ...row.map((v, j) => {
            const frac = sum > 0 && isNum(v) ? v / sum : 0;
            const bg = i === j ? 'rgba(22,163,74,' + (0.12 + 0.88 * frac).toFixed(3) + ')' : 'rgba(220,38,38,' + Math.min(1, 0.05 + 2 * frac).toFixed(3) + ')';
            const fg = frac > 0.55 ? '#fff' : '#111';
            return el('td', { class: 'cm', style: 'background:' + (isNum(v) && v > 0 ? bg : '#fafafa') + ';color:' + fg, title: names[i] + ' → ' + names[j] + ': ' + v + ' (' + (100 * frac).toFixed(1) + '% of row)' }, String(v));
          }),
          el('td', { class: 'cm-sum' }, String(sum)),
        );
      });
      const table = el(
        'table',
        { class: 'confusion' },
        el('thead', null, el('tr', null, el('th', { class: 'corner' }, 'truth ╲ predicted'), ...names.map((n) => el('th', null, n)), el('th', { class: 'dim' }, 'n'))),
        el('tbody', null, ...rows),
      );
      section.appendChild(
        el(
          'div',
          { class: 'confusion-box' },
          el('h4', null, 'confusion matrix: ' + String(confSource.method) + (confSource === best ? ' (best by ' + pm!.key + ')' : '')),
          table,
          el('p', { class: 'note' }, 'Test split' + (Array.isArray(confSource.seeds) && confSource.seeds.length > 1 ? ', first seed' : '') + '. Rows: true class; colour: share of the row.'),
        ),
      );
    }

    // ---- skipped here
    const sk = skippedAll.filter((s) => s && s.dataset === ds.dataset);
    if (sk.length > 0) {
      section.appendChild(
        el('details', { class: 'skipped' }, el('summary', null, 'skipped methods (' + sk.length + ')'), el('ul', null, ...sk.map((s) => el('li', null, el('b', null, String(s.method)), ': ' + String(s.reason ?? ''))))),
      );
    }
    root.appendChild(section);
  });

  const orphanSkips = skippedAll.filter((s) => s && !datasets.some((d) => d.dataset === s.dataset));
  if (orphanSkips.length > 0) {
    root.appendChild(el('section', null, el('h2', null, 'skipped'), el('ul', null, ...orphanSkips.map((s) => el('li', null, String(s.dataset) + ' / ' + String(s.method) + ': ' + String(s.reason ?? ''))))));
  }
  root.appendChild(el('footer', null, 'Rendered from the results JSON embedded in this page (schemaVersion ' + String(results.schemaVersion ?? '?') + ').'));
  for (const f of pendingCharts) f();
  // The sections exist only now: honour a #ds<N> link.
  const hash = (globalThis as any).location?.hash as string | undefined;
  if (hash && hash.length > 1) doc.getElementById(hash.slice(1))?.scrollIntoView();
}
