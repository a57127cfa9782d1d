/**
 * Backend selection and preparation: the single place that imports TensorFlow.js.
 *
 * - `wasm` is the default; `cpu` on request; `tensorflow` (tfjs-node) is used automatically
 *   when `@tensorflow/tfjs-node` is installed and no backend is named. It is an optional
 *   peer dependency and is never required.
 * - With the minimal packages, gradients and chained tensor methods register only when
 *   their modules are imported; that happens here once (see below).
 * - Kernel gaps of the wasm backend are filled in `./fills.ts`.
 * - Everything else in the library imports `tf` from here, so the side effects always run.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { ModalfuseError } from '../errors.js';
import { registerFills } from './fills.js';
import { registerChainedOps } from './chained.js';

// In Node the packages resolve to their CJS bundles, which register every gradient;
// chained tensor methods are added here. (The browser bundle imports the ESM gradient
// registrations in its own entry.)
registerChainedOps();

function isNodeEnv(): boolean {
  return typeof process !== 'undefined' && !!process.versions?.node;
}

export { tf, tfl };

export type BackendName = 'wasm' | 'cpu' | 'tensorflow';
export const BACKENDS: BackendName[] = ['wasm', 'cpu', 'tensorflow'];

export interface BackendOptions {
  /** Backend to use; default: `MODALFUSE_BACKEND`, else tfjs-node when installed, else wasm. */
  backend?: BackendName;
  /** Number of wasm threads (only where the multithreaded wasm binary can start). */
  threads?: number;
}

let initialised: Promise<BackendName> | null = null;
let initialisedName: BackendName | null = null;

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/**
 * Folder of the wasm binaries in Node (null elsewhere). `node:module` and `node:path` are
 * imported lazily and only in Node, so a browser bundle of this module has no `node:`
 * import (the browser entry sets the wasm path itself, see src/web/browser.ts).
 */
async function wasmDir(): Promise<string | null> {
  if (!isNode) return null;
  try {
    const { createRequire } = await import('node:module');
    const path = await import('node:path');
    const require = createRequire(import.meta.url);
    const main = require.resolve('@tensorflow/tfjs-backend-wasm');
    return path.join(path.dirname(main), '..', 'wasm-out') + path.sep;
  } catch {
    return null;
  }
}

async function tryTfjsNode(): Promise<boolean> {
  try {
    const mod = '@tensorflow/tfjs-node';
    await import(/* webpackIgnore: true */ mod);
    return tf.findBackend('tensorflow') !== null;
  } catch {
    return false;
  }
}

/** Initialise the backend once per process; later calls return the same name. */
export function initBackend(opts: BackendOptions = {}): Promise<BackendName> {
  const requested = (opts.backend ?? (isNode ? process.env.MODALFUSE_BACKEND : undefined)) as
    | BackendName
    | undefined
    | '';
  if (initialised) {
    if (requested && initialisedName && requested !== initialisedName) {
      return switchBackend(requested);
    }
    return initialised;
  }
  initialised = (async () => {
    if (requested && !BACKENDS.includes(requested as BackendName)) {
      throw new ModalfuseError('unknown backend', { expected: BACKENDS, found: requested });
    }
    let name: BackendName;
    if (requested === 'tensorflow' || (!requested && isNode && (await tryTfjsNode()))) {
      if (requested === 'tensorflow' && !(await tryTfjsNode())) {
        throw new ModalfuseError('backend "tensorflow" needs @tensorflow/tfjs-node, which is not installed', {
          expected: '@tensorflow/tfjs-node installed',
          found: 'not installed',
        });
      }
      name = 'tensorflow';
    } else {
      name = (requested as BackendName) || 'wasm';
    }
    if (name === 'wasm') {
      const dir = await wasmDir();
      if (dir) wasm.setWasmPaths(dir);
      if (opts.threads !== undefined) wasm.setThreadsCount(opts.threads);
    }
    await setAndCheck(name);
    registerFills();
    initialisedName = name;
    return name;
  })();
  return initialised;
}

async function setAndCheck(name: BackendName): Promise<void> {
  // The cpu backend prints an "install tfjs-node" banner unless IS_TEST is set; the flag
  // also turns on kernel leak checks, so it is set only while the backend is created.
  const quiet = name === 'cpu' && isNodeEnv() && !tf.env().getBool('IS_TEST');
  if (quiet) tf.env().set('IS_TEST', true);
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } finally {
    if (quiet) tf.env().set('IS_TEST', false);
  }
  if (!ok) throw new ModalfuseError(`backend "${name}" failed to initialise`, { expected: name, found: tf.getBackend() });
  await tf.ready();
}

async function switchBackend(name: BackendName): Promise<BackendName> {
  if (!BACKENDS.includes(name)) throw new ModalfuseError('unknown backend', { expected: BACKENDS, found: name });
  if (name === 'wasm') {
    const dir = await wasmDir();
    if (dir) wasm.setWasmPaths(dir);
  }
  await setAndCheck(name);
  registerFills();
  initialisedName = name;
  initialised = Promise.resolve(name);
  return name;
}

/** The active backend's name (after `initBackend`). */
export function backendName(): string {
  return tf.getBackend();
}

/** Number of threads the wasm backend runs with (1 when single-threaded or not wasm). */
export function wasmThreads(): number {
  if (tf.getBackend() !== 'wasm') return 1;
  try {
    return tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') ? wasm.getThreadsCount() : 1;
  } catch {
    return 1;
  }
}
