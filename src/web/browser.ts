/**
 * modalfuse in the browser: the entry of the ES module bundle `dist/web/modalfuse.js`
 * (built by scripts/build-web.mjs with esbuild; the wasm binaries lie beside it).
 *
 * ```js
 * import { initBackend, FusionModel } from './modalfuse.js';
 * await initBackend();                              // wasm, binaries from the bundle's folder
 * const fm = await FusionModel.loadUrl('/model/');  // a folder written by `modalfuse train --save`
 * const p = fm.predict({ a: Float32Array.of(...), b: Float32Array.of(...) }, 1);
 * ```
 *
 * The prediction API is the one Node has (same modules, same preprocessing); Node-only
 * things (files, datasets on disk, the demo server) are not part of this entry. Build-time
 * guards (scripts/build-web.mjs) keep every `node:` import out of it.
 *
 * Only for the bundle: never import this module in Node (it loads tfjs-core's ESM gradient
 * registrations, which would create a second tfjs-core next to Node's CJS one).
 */
// In the ESM build of tfjs-core, gradients and chained tensor methods register only when
// these side-effect modules are imported (Node's CJS bundles do it themselves).
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { initBackend as initBackendCore, type BackendName, type BackendOptions } from '../backend/index.js';
// Every layer class a saved model can name must be registered for deserialization.
import '../fusion/index.js';
import '../encoders/index.js';
import { registerPreparers } from './prepare.js';
import { avmnistAudio, avmnistImage } from './avmnist.js';

export { tf, tfl, backendName, type BackendName, type BackendOptions } from '../backend/index.js';
export { ModalfuseError } from '../errors.js';
export { FusionModel, rawToOutput, MODEL_META, type ModelMeta } from '../models/fusion_model.js';
export { applyStandardizer, type Standardizer } from '../data/preprocess.js';
export { sizeOf, taskWidth, modalityNames, type TaskSpec, type ModalitySpec, type TaskKind } from '../data/types.js';
export * from '../fusion/index.js';
export { SeededDropout } from '../encoders/index.js';
export { explainSample, predictWithout, fusionWeights, type Explanation, type FusionWeights } from './explain.js';
export {
  registerPreparers,
  preparerKinds,
  prepareImageInput,
  prepareAudioInput,
  transformFiles,
  urlContext,
  type PrepareContext,
  type PrepareImage,
  type PrepareAudio,
} from './prepare.js';
export { VERSION, LIBRARY } from '../version.js';
export { avmnistTransforms, decodeWavBytes, parseFloatNpy } from './avmnist.js';
export { prepareImage, prepareAudio, recordingNoiseOptions, transformsFromParts, type AvmnistTransforms, type RecordingNoise } from '../datasets/avmnist/transforms.js';

// AV-MNIST: a drawn digit / an uploaded WAV are prepared with the model folder's transforms
// by the same prepareImage / prepareAudio Node uses (src/datasets/avmnist/transforms.ts).
registerPreparers({ image: avmnistImage, audio: avmnistAudio });

let wasmPathsSet = false;

/** The folder the bundle was loaded from (where its wasm binaries lie). */
export function bundleBase(): string {
  return new URL('./', import.meta.url).href;
}

/**
 * Where the wasm backend fetches its binaries (a folder URL ending in `/`); default: the
 * bundle's own folder. Call before `initBackend` to serve them elsewhere.
 */
export function setWasmBase(url: string): void {
  wasm.setWasmPaths(url.endsWith('/') ? url : `${url}/`);
  wasmPathsSet = true;
}

/** Initialise the backend (default wasm, with binaries from beside the bundle; `cpu` on request). */
export function initBackend(opts: BackendOptions & { wasmPaths?: string } = {}): Promise<BackendName> {
  if (opts.wasmPaths) setWasmBase(opts.wasmPaths);
  else if (!wasmPathsSet) setWasmBase(bundleBase());
  return initBackendCore(opts);
}
