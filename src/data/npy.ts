/**
 * NumPy `.npy` reading and writing (format versions 1.0, 2.0 and 3.0, C order).
 *
 * Written here rather than taken from npm: the one maintained candidate, `npyjs` (1.2.0),
 * reads and writes, but (a) builds typed-array views at the header offset, which throws a
 * RangeError for any header whose length is not a multiple of the item size; (b) never
 * checks that the data length matches the shape, so a truncated file silently yields a
 * short array; (c) cannot read big-endian (`>f4`) arrays; (d) pads the header it writes to
 * 8 bytes instead of the 64 the format specification asks for; and (e) pulls in
 * `cross-fetch`/`node-fetch` at run time for a URL loader we do not use. The format is
 * small and fully specified (numpy.lib.format), and this module needs its errors to name
 * the file, the expected and the found values (ModalfuseError), so it is written here.
 */
import fs from 'node:fs';
import os from 'node:os';
import { ModalfuseError } from '../errors.js';
import { checkRegularFile } from '../util/regular_file.js';

/** Arrays `readNpy` returns: floats become Float32Array; integers keep a JS integer type. */
export type NpyData = Float32Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array | Uint32Array;

export interface NpyArray {
  data: NpyData;
  shape: number[];
  /** The dtype as stored in the file, e.g. `<f8` (even though `data` is then a Float32Array). */
  dtype: string;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

interface DtypeInfo {
  kind: 'f' | 'i' | 'u' | 'b';
  size: number;
}

function parseDescr(descr: string, file: string): { info: DtypeInfo; bigEndian: boolean } {
  const m = /^([<>|=]?)([fiub])(\d+)$/.exec(descr);
  const supported = ['<f2', '<f4', '<f8', '|i1', '<i2', '<i4', '<i8', '|u1', '<u2', '<u4', '<u8', '|b1'];
  if (!m) {
    throw new ModalfuseError('unsupported .npy dtype (only plain numeric arrays can be read)', {
      file,
      expected: `one of ${supported.join(', ')} (either byte order)`,
      found: descr,
    });
  }
  const kind = m[2] as DtypeInfo['kind'];
  const size = Number(m[3]);
  const ok =
    (kind === 'f' && (size === 2 || size === 4 || size === 8)) ||
    ((kind === 'i' || kind === 'u') && (size === 1 || size === 2 || size === 4 || size === 8)) ||
    (kind === 'b' && size === 1);
  if (!ok) {
    throw new ModalfuseError('unsupported .npy dtype', {
      file,
      expected: `one of ${supported.join(', ')}`,
      found: descr,
    });
  }
  const hostLittle = os.endianness() === 'LE';
  const order = m[1];
  const bigEndian = size > 1 && (order === '>' || (order === '=' && !hostLittle));
  return { info: { kind, size }, bigEndian };
}

/** Reads a Python-literal header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } */
function parseHeaderDict(text: string, file: string): { descr: string; fortran: boolean; shape: number[] } {
  const descrM = /['"]descr['"]\s*:\s*(['"])([^'"]*)\1/.exec(text);
  if (!descrM) {
    if (/['"]descr['"]\s*:\s*\[/.test(text)) {
      throw new ModalfuseError('structured (record) .npy arrays are not supported', {
        file,
        expected: 'a plain numeric dtype such as <f4',
        found: 'a structured dtype',
      });
    }
    throw new ModalfuseError('malformed .npy header: no descr', { file, found: text.trim() });
  }
  const fortranM = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(text);
  if (!fortranM) throw new ModalfuseError('malformed .npy header: no fortran_order', { file, found: text.trim() });
  const shapeM = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(text);
  if (!shapeM) throw new ModalfuseError('malformed .npy header: no shape', { file, found: text.trim() });
  const shape: number[] = [];
  for (const part of shapeM[1].split(',')) {
    const t = part.trim().replace(/L$/, '');
    if (t === '') continue;
    const v = Number(t);
    if (!Number.isInteger(v) || v < 0) {
      throw new ModalfuseError('malformed .npy header: bad shape', { file, found: `(${shapeM[1]})` });
    }
    shape.push(v);
  }
  return { descr: descrM[2], fortran: fortranM[1] === 'True', shape };
}

function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

function float16ToFloat32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** Parses the bytes of a `.npy` file. `file` only names the source in errors. */
export function parseNpy(bytes: Uint8Array, file = '<buffer>'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new ModalfuseError('not a NumPy .npy file (bad magic string)', {
      file,
      expected: '\\x93NUMPY',
      found: JSON.stringify(String.fromCharCode(...bytes.subarray(0, Math.min(6, bytes.length)))),
    });
  }
  const major = bytes[6];
  const minor = bytes[7];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new ModalfuseError('truncated .npy header', { file });
    headerLen = dv.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new ModalfuseError('unsupported .npy format version', {
      file,
      expected: '1.0, 2.0 or 3.0',
      found: `${major}.${minor}`,
    });
  }
  const dataStart = headerStart + headerLen;
  if (dataStart > bytes.length) {
    throw new ModalfuseError('truncated .npy header', { file, expected: `${dataStart} bytes`, found: `${bytes.length} bytes` });
  }
  const headerText = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));
  const { descr, fortran, shape } = parseHeaderDict(headerText, file);
  const { info, bigEndian } = parseDescr(descr, file);
  const count = shape.reduce((a, b) => a * b, 1);
  if (fortran && shape.filter((d) => d > 1).length > 1) {
    throw new ModalfuseError('Fortran-order .npy arrays are not supported; save a C-order array (np.ascontiguousarray(a))', {
      file,
      expected: "fortran_order: False",
      found: 'fortran_order: True',
    });
  }
  const nbytes = count * info.size;
  if (bytes.length - dataStart < nbytes) {
    throw new ModalfuseError('truncated .npy data', {
      file,
      expected: `${nbytes} data bytes for shape [${shape.join(', ')}] of ${descr}`,
      found: `${bytes.length - dataStart} bytes`,
    });
  }
  // Copy into a fresh, aligned buffer (the header length need not be a multiple of the item size).
  // (An explicit copy: Buffer.prototype.slice would return a view into Node's pool.)
  const raw = new Uint8Array(nbytes);
  raw.set(bytes.subarray(dataStart, dataStart + nbytes));
  if (bigEndian) swapBytes(raw, info.size);
  const buf = raw.buffer;
  let data: NpyData;
  if (info.kind === 'f') {
    if (info.size === 4) data = new Float32Array(buf, 0, count);
    else if (info.size === 8) data = Float32Array.from(new Float64Array(buf, 0, count));
    else {
      const h = new Uint16Array(buf, 0, count);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = float16ToFloat32(h[i]);
      data = out;
    }
  } else if (info.kind === 'b') {
    data = new Uint8Array(buf, 0, count);
  } else if (info.size === 8) {
    data = int64ToNarrower(buf, count, info.kind === 'i');
  } else if (info.kind === 'i') {
    data = info.size === 1 ? new Int8Array(buf, 0, count) : info.size === 2 ? new Int16Array(buf, 0, count) : new Int32Array(buf, 0, count);
  } else {
    data = info.size === 1 ? new Uint8Array(buf, 0, count) : info.size === 2 ? new Uint16Array(buf, 0, count) : new Uint32Array(buf, 0, count);
  }
  return { data, shape, dtype: descr };
}

/** int64/uint64 become Int32Array when every value fits (labels are usually int64), else Float32Array. */
function int64ToNarrower(buf: ArrayBuffer, count: number, signed: boolean): Int32Array | Float32Array {
  const big = signed ? new BigInt64Array(buf, 0, count) : new BigUint64Array(buf, 0, count);
  const lo = -(2n ** 31n);
  const hi = 2n ** 31n - 1n;
  let fits = true;
  for (let i = 0; i < count; i++) {
    const v = big[i];
    if (v < lo || v > hi) {
      fits = false;
      break;
    }
  }
  if (fits) {
    const out = new Int32Array(count);
    for (let i = 0; i < count; i++) out[i] = Number(big[i]);
    return out;
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = Number(big[i]);
  return out;
}

/** Reads a `.npy` file. Floats (f2, f4, f8) come back as Float32Array; int64 as Int32Array when it fits. */
export function readNpy(file: string): NpyArray {
  let bytes: Uint8Array;
  checkRegularFile(file, 'a NumPy .npy file');
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModalfuseError(code === 'ENOENT' ? 'file not found' : `cannot read file (${code ?? String(e)})`, {
      file,
      expected: 'a NumPy .npy file',
      found: code === 'ENOENT' ? 'no such file' : code,
    });
  }
  return parseNpy(bytes, file);
}

/** Converts any array `readNpy` returns to Float32Array (no copy when it already is one). */
export function toFloat32(data: NpyData): Float32Array {
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

/** Encodes float32 or int32 data of the given C-order shape as `.npy` bytes (version 1.0, or 2.0 for huge headers). */
export function encodeNpy(data: Float32Array | Int32Array, shape: number[], file = '<buffer>'): Uint8Array {
  let code: string;
  if (data instanceof Float32Array) code = 'f4';
  else if (data instanceof Int32Array) code = 'i4';
  else {
    throw new ModalfuseError('writeNpy writes Float32Array or Int32Array only', {
      file,
      expected: 'Float32Array or Int32Array',
      found: (data as object)?.constructor?.name ?? typeof data,
    });
  }
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new ModalfuseError('bad shape for .npy', { file, expected: 'non-negative integers', found: shape });
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new ModalfuseError('array length does not match shape', {
      file,
      expected: `${count} values for shape [${shape.join(', ')}]`,
      found: `${data.length} values`,
    });
  }
  const order = os.endianness() === 'LE' ? '<' : '>';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${order}${code}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Total header (magic + version + length field + dict + padding + \n) is a multiple of 64.
  let major = 1;
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    major = 2;
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - prefix;
  const header = dict + ' '.repeat(headerLen - dict.length - 1) + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, headerLen, true);
  else dv.setUint32(8, headerLen, true);
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

/** Writes float32 or int32 data of the given C-order shape to a `.npy` file. */
export function writeNpy(file: string, data: Float32Array | Int32Array, shape: number[]): void {
  const bytes = encodeNpy(data, shape, file);
  try {
    fs.writeFileSync(file, bytes);
  } catch (e) {
    throw new ModalfuseError(`cannot write file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { file });
  }
}
