/**
 * HDF5 datasets to float32 arrays through `h5wasm` (the HDF5 C library compiled to
 * WebAssembly; its `h5wasm/node` build reads the host file system directly).
 * The WebAssembly module loads asynchronously, so these readers are async; it is imported
 * on first use, so importing modalfuse does not load it.
 */
import fs from 'node:fs';
import { ModalfuseError } from '../errors.js';
import { checkRegularFile } from '../util/regular_file.js';

type H5 = typeof import('h5wasm/node').default;

let h5Promise: Promise<H5> | undefined;

/** Loads h5wasm once (the WebAssembly module) and returns it. */
export function hdf5Ready(): Promise<H5> {
  h5Promise ??= import('h5wasm/node').then(async (m) => {
    await m.default.ready;
    return m.default;
  });
  return h5Promise;
}

export interface Hdf5Array {
  /** Values in C order, converted to float32. */
  data: Float32Array;
  shape: number[];
  /** The stored type as h5wasm names it, e.g. `<d` (float64) or `<f` (float32). */
  dtype: string;
  /** The dataset's path inside the file. */
  key: string;
}

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]; // \x89HDF\r\n\x1a\n

/**
 * Checks that `file` exists and carries the HDF5 signature (at 0, 512, 1024, 2048, ...),
 * so that h5wasm is never asked to open something else (it would print the HDF5 error
 * stack to stderr and not throw).
 */
function checkHdf5File(file: string): void {
  checkRegularFile(file, 'an HDF5 file'); // a pipe would block the open below
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModalfuseError(code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(e)})`, {
      file,
      expected: 'an HDF5 file',
      found: code === 'ENOENT' ? 'no such file' : code,
    });
  }
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(8);
    for (let off = 0; off + 8 <= size; off = off === 0 ? 512 : off * 2) {
      fs.readSync(fd, buf, 0, 8, off);
      if (SIGNATURE.every((b, i) => buf[i] === b)) {
        const need = declaredLength(fd, off);
        if (need !== null && need > size) {
          throw new ModalfuseError('truncated HDF5 file (shorter than its superblock declares)', { file, expected: `${need} bytes`, found: `${size} bytes` });
        }
        return;
      }
      if (off > 1 << 30) break;
    }
  } finally {
    fs.closeSync(fd);
  }
  throw new ModalfuseError('not an HDF5 file (no HDF5 signature)', { file, expected: 'an HDF5 file', found: 'other content' });
}

/**
 * The file length the superblock at `off` declares (base address + end-of-file address), or
 * null when the superblock is not one this reads (versions 0 to 3, 4- or 8-byte offsets).
 */
function declaredLength(fd: number, off: number): number | null {
  const sb = Buffer.alloc(64);
  const got = fs.readSync(fd, sb, 0, 64, off);
  const version = sb[8];
  const o = version <= 1 ? sb[13] : sb[9];
  const at = version === 0 ? 24 : version === 1 ? 28 : version <= 3 ? 12 : -1;
  if (at < 0 || (o !== 4 && o !== 8) || at + 3 * o > got) return null;
  const read = (p: number) => (o === 8 ? Number(sb.readBigUInt64LE(p)) : sb.readUInt32LE(p));
  const base = read(at);
  const eof = read(at + 2 * o);
  return Number.isSafeInteger(base + eof) ? base + eof : null;
}

/**
 * Runs `f` with the HDF5 library's diagnostics (which h5wasm writes straight to file
 * descriptor 2) held back: when `f` fails or the library reported an error, this throws one
 * ModalfuseError naming the file and the library's innermost reason.
 */
function quietly<T>(file: string, f: () => T): T {
  const held: string[] = [];
  const write = fs.writeSync;
  const patched = function (this: unknown, fd: number, buf: unknown, ...rest: unknown[]): number {
    if (fd !== 2) return (write as (...a: unknown[]) => number).call(this, fd, buf, ...rest);
    if (typeof buf === 'string') {
      held.push(buf);
      return Buffer.byteLength(buf);
    }
    const view = buf as Uint8Array;
    const off = (rest[0] as number | undefined) ?? 0;
    const len = (rest[1] as number | undefined) ?? view.byteLength - off;
    held.push(Buffer.from(view.buffer, view.byteOffset + off, len).toString('utf8'));
    return len;
  };
  (fs as { writeSync: unknown }).writeSync = patched;
  let result: T;
  try {
    result = f();
  } catch (e) {
    if (e instanceof ModalfuseError) throw e;
    throw new ModalfuseError(`cannot read the HDF5 file (corrupt or truncated): ${hdf5Reason(held.join('')) ?? (e as Error).message}`, { file });
  } finally {
    (fs as { writeSync: unknown }).writeSync = write;
  }
  const reason = hdf5Reason(held.join(''));
  if (reason) throw new ModalfuseError(`cannot read the HDF5 file (corrupt or truncated): ${reason}`, { file });
  return result;
}

/** The innermost `function(): reason` of an HDF5 error stack, or null when there is none. */
function hdf5Reason(diag: string): string | null {
  if (!diag.includes('HDF5-DIAG')) return null;
  const reasons = [...diag.matchAll(/ in [\w.]+\(\): ([^\n]+)/g)].map((m) => m[1].trim());
  return reasons.length ? reasons[reasons.length - 1] : 'the HDF5 library reported an error';
}

/** Top-level names in an HDF5 file. */
export async function listHdf5Keys(file: string): Promise<string[]> {
  checkHdf5File(file);
  const h5 = await hdf5Ready();
  return quietly(file, () => {
    const f = new h5.File(file, 'r');
    try {
      return f.keys();
    } finally {
      f.close();
    }
  });
}

function toFloat32(value: unknown, file: string, key: string, dtype: string): Float32Array {
  if (value instanceof Float32Array) return value;
  if (
    value instanceof Float64Array ||
    value instanceof Int8Array ||
    value instanceof Uint8Array ||
    value instanceof Int16Array ||
    value instanceof Uint16Array ||
    value instanceof Int32Array ||
    value instanceof Uint32Array
  ) {
    return Float32Array.from(value);
  }
  if (value instanceof BigInt64Array || value instanceof BigUint64Array) {
    const out = new Float32Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = Number(value[i]);
    return out;
  }
  if (typeof value === 'number' || typeof value === 'bigint') return new Float32Array([Number(value)]);
  throw new ModalfuseError(`HDF5 dataset "${key}" is not numeric`, {
    file,
    expected: 'an integer or floating-point dataset',
    found: dtype,
  });
}

/**
 * Reads one dataset of an HDF5 file as float32. Without `key`, the file must hold exactly
 * one top-level dataset (as the MFN files do), and that one is read.
 */
export async function readHdf5(file: string, key?: string): Promise<Hdf5Array> {
  checkHdf5File(file);
  const h5 = await hdf5Ready();
  return quietly(file, () => readOpen(h5, file, key));
}

function readOpen(h5: H5, file: string, key?: string): Hdf5Array {
  const f = new h5.File(file, 'r');
  try {
    const keys = f.keys();
    let k = key;
    if (k === undefined) {
      if (keys.length !== 1) {
        throw new ModalfuseError('HDF5 file does not hold exactly one dataset; name the key to read', {
          file,
          expected: 'one top-level key, or a key argument',
          found: keys.length === 0 ? 'no keys' : keys,
        });
      }
      k = keys[0];
    }
    const entity = f.get(k);
    if (entity === null || entity === undefined) {
      throw new ModalfuseError(`HDF5 key "${k}" not found`, {
        file,
        expected: keys.length ? `one of ${keys.join(', ')}` : 'a key (the file has none)',
        found: k,
      });
    }
    if (!(entity instanceof h5.Dataset)) {
      throw new ModalfuseError(`HDF5 key "${k}" is not a dataset`, {
        file,
        expected: 'a dataset',
        found: entity.constructor?.name ?? typeof entity,
      });
    }
    const dtype = String(entity.dtype);
    const meta = entity.metadata;
    // h5wasm type codes follow H5T_class_t: 0 integer, 1 float.
    if (meta.type !== 0 && meta.type !== 1) {
      throw new ModalfuseError(`HDF5 dataset "${k}" is not numeric`, {
        file,
        expected: 'an integer or floating-point dataset',
        found: dtype,
      });
    }
    const shape = entity.shape ?? [];
    const data = toFloat32(entity.value, file, k, dtype);
    const count = shape.reduce((a, b) => a * b, 1);
    if (data.length !== count) {
      throw new ModalfuseError(`HDF5 dataset "${k}" returned the wrong number of values`, {
        file,
        expected: count,
        found: data.length,
      });
    }
    return { data, shape: [...shape], dtype, key: k };
  } finally {
    f.close();
  }
}
