/**
 * A model folder read over HTTP (FusionModel.loadUrl; the browser, a Web Worker, or Node's
 * fetch), checked as a folder on disk is: sizes and checksums, weights inside the folder,
 * the network rebuilt from the checked metadata. No `node:` import: part of the browser bundle.
 */
import type { tfl } from '../backend/index.js';
import { ModalfuseError } from '../errors.js';
import type { MethodEntry, Options } from '../registry/index.js';
import { withoutBom } from '../util/bom.js';
import { checkGroupSize, checkIntegrity, checkIntegrityList, checkManifest, composeFromMeta, integrityRecord, matchManifest, setManifestWeights } from './folder_check.js';
import type { ModelMeta } from './model_meta.js';

/** The network of a model folder at `base` (URL), checked as `load` checks a folder on disk. */
export async function networkFromUrl(meta: ModelMeta, entry: MethodEntry, options: Options, base: string, metaUrl: string, doFetch: typeof fetch): Promise<tfl.LayersModel> {
  // As FusionModel.load: sizes and checksums checked, the network rebuilt from the checked metadata.
  const integrity = integrityRecord(meta, metaUrl);
  const modelUrl = new URL('model.json', base).href;
  const jsonBytes = await fetchBytes(doFetch, modelUrl, 'the network file model.json');
  if (integrity) checkIntegrity(integrity.model, 'model.json', jsonBytes.length, await sha256Hex(jsonBytes), modelUrl, metaUrl);
  let json: unknown;
  try {
    json = JSON.parse(withoutBom(new TextDecoder().decode(jsonBytes)));
  } catch (e) {
    throw new ModalfuseError(`the network file model.json is not valid JSON: ${(e as Error).message}`, { file: modelUrl });
  }
  const { groups, bytes } = checkManifest(json, modelUrl);
  const model = composeFromMeta(meta, entry, options, metaUrl);
  try {
    const specs = matchManifest(model, groups, modelUrl);
    const parts: Uint8Array[] = [];
    const rels: string[] = [];
    for (let gi = 0; gi < groups.length; gi++) {
      let size = 0;
      for (const p of groups[gi].paths) {
        const u = new URL(p, modelUrl).href;
        if (!u.startsWith(base)) throw new ModalfuseError(`weights file ${JSON.stringify(p)} lies outside the model folder`, { file: u, expected: `a file under ${base}` });
        const b = await fetchBytes(doFetch, u, `weights file ${JSON.stringify(p)}`);
        const rel = u.slice(base.length);
        if (integrity) checkIntegrity(integrity.weights.find((r) => r?.path === rel), rel, b.length, await sha256Hex(b), u, metaUrl);
        size += b.length;
        parts.push(b);
        rels.push(rel);
      }
      checkGroupSize(groups[gi], size, bytes[gi], modelUrl);
    }
    if (integrity) checkIntegrityList(integrity.weights, rels, modelUrl);
    const joined = new Uint8Array(parts.reduce((a, b) => a + b.length, 0));
    let off = 0;
    for (const b of parts) {
      joined.set(b, off);
      off += b.length;
    }
    setManifestWeights(model, specs, joined, modelUrl);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

async function fetchBytes(doFetch: typeof fetch, url: string, what: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await doFetch(url);
  } catch (e) {
    throw new ModalfuseError(`cannot fetch ${what}: ${(e as Error).message}`, { file: url });
  }
  if (!res.ok) throw new ModalfuseError(`cannot fetch ${what} (HTTP ${res.status} ${res.statusText})`, { file: url });
  return new Uint8Array(await res.arrayBuffer());
}

/** SHA-256 in hex; null where Web Crypto is missing (a page served over plain HTTP from another host is not a secure context). */
async function sha256Hex(bytes: Uint8Array): Promise<string | null> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return null;
  const d = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('');
}
