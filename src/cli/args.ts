/**
 * Argument parsing of the `modalfuse` command: value parsers for commander, `--config`
 * files, structured `--set` values, and the stdout/stderr helpers every command uses.
 */
import * as fs from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import type { SplitName } from '../data/types.js';
import { ModalfuseError } from '../errors.js';
import { nestSetPairs } from '../registry/index.js';
import { withoutBom } from '../util/bom.js';
import { checkRegularFile } from '../util/regular_file.js';

// ------------------------------------------------------------------ output

/** Machine output: stdout only through here (console.log is sent to stderr below). */
export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}
export function note(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : text + '\n');
}
export function oneLine(s: string): string {
  return s.replace(/\s*\r?\n\s*/g, ' ').trim();
}

// ------------------------------------------------------------------ argument parsers

export function intArg(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer >= ${min}`);
    return n;
  };
}
export function seedArg(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n)) throw new InvalidArgumentError('expected an integer');
  return n;
}
export function snrOrNone(v: string): number | 'none' {
  if (v.trim().toLowerCase() === 'none') return 'none';
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number of dB or none');
  return n;
}
export function positiveArg(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number > 0');
  return n;
}
export function numberArg(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number');
  return n;
}
export function portArg(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number 0..65535');
  return n;
}
export function fractionArg(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError('expected a number in [0, 1)');
  return n;
}
export function listArg(v: string): string[] {
  const items = v.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new InvalidArgumentError('expected a comma-separated list without empty items');
  return items;
}
export function seedsArg(v: string): number[] {
  return listArg(v).map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n)) throw new InvalidArgumentError('expected comma-separated integers, e.g. 1,2,3');
    return n;
  });
}
/** Repeatable `key=value`. */
export function pairArg(what: string) {
  return (v: string, prev: Record<string, string> = {}): Record<string, string> => {
    const i = v.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`expected ${what}`);
    const k = v.slice(0, i).trim();
    if (k in prev) throw new InvalidArgumentError(`"${k}" is given twice`);
    return { ...prev, [k]: v.slice(i + 1) };
  };
}
export function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}
export function splitArg(v: string): SplitName {
  if (v !== 'train' && v !== 'valid' && v !== 'test') throw new InvalidArgumentError('expected train, valid or test');
  return v;
}

// ------------------------------------------------------------------ --config

export type Converter = (v: unknown) => unknown;
export const scalar = (p: (s: string) => unknown): Converter => (v) => {
  if (typeof v !== 'string' && typeof v !== 'number') throw new InvalidArgumentError('expected a number or a string');
  return p(String(v));
};
export const list = (p: (s: string) => unknown): Converter => (v) => p(Array.isArray(v) ? v.join(',') : String(v));
export const str: Converter = (v) => {
  if (typeof v !== 'string' || v === '') throw new InvalidArgumentError('expected a non-empty string');
  return v;
};
export const strList: Converter = (v) => {
  const a = Array.isArray(v) ? v : [v];
  if (!a.every((x) => typeof x === 'string' && x !== '')) throw new InvalidArgumentError('expected a string or a list of strings');
  return a;
};
export const bool: Converter = (v) => {
  if (typeof v !== 'boolean') throw new InvalidArgumentError('expected true or false');
  return v;
};

export function readConfig(file: string): Record<string, unknown> {
  let text: string;
  checkRegularFile(file, 'a JSON config file');
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ModalfuseError(code === 'ENOENT' ? 'config file not found' : `cannot read config file (${code})`, { file });
  }
  let json: unknown;
  try {
    json = JSON.parse(withoutBom(text));
  } catch (e) {
    throw new ModalfuseError(`config file is not valid JSON: ${(e as Error).message}`, { file });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModalfuseError('config file must hold a JSON object', { file, expected: '{ "key": value, ... }', found: Array.isArray(json) ? 'an array' : typeof json });
  }
  return json as Record<string, unknown>;
}

/**
 * Overlays `--config FILE` on the parsed options: keys of the command's options (command
 * line wins), `set` (an object of method options), and any other key as a method option
 * (as if given with --set; the command line's --set wins).
 */
export function applyConfig(cmd: Command, opts: Record<string, unknown>, converters: Record<string, Converter>): void {
  if (typeof opts.config !== 'string') return;
  const file = opts.config;
  const cfg = readConfig(file);
  const set: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(cfg)) {
    if (k === 'set') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ModalfuseError('"set" in the config file must be an object of method options', { file, found: JSON.stringify(v) });
      Object.assign(set, v);
    } else if (k in converters) {
      if (cmd.getOptionValueSource(k) === 'cli') continue;
      try {
        opts[k] = converters[k](v);
      } catch (e) {
        if (e instanceof InvalidArgumentError) throw new ModalfuseError(`bad value for "${k}" in the config file: ${e.message}`, { file, found: JSON.stringify(v) });
        throw e;
      }
    } else if (k === 'config') {
      throw new ModalfuseError('a config file cannot name another config file', { file });
    } else {
      set[k] = v;
    }
  }
  opts.set = { ...set, ...((opts.set as Record<string, unknown>) ?? {}) };
}

/**
 * `--set` pairs as method option values: `hidden.audio=64` becomes a per-modality record,
 * `layers=[64,32]` and `arch={...}` stay JSON text for the registry to parse against the
 * option's declaration, and `arch=@FILE` is the JSON in FILE.
 */
export function structuredSet(opts: Record<string, unknown>): void {
  const nested = nestSetPairs((opts.set as Record<string, unknown>) ?? {});
  const readRef = (key: string, v: unknown): unknown => {
    if (typeof v !== 'string' || !v.startsWith('@')) return v;
    const file = v.slice(1);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (e) {
      throw new ModalfuseError(`cannot read the JSON file of option "${key}" (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { file, expected: 'a readable JSON file after @' });
    }
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ModalfuseError(`the file of option "${key}" is not valid JSON: ${(e as Error).message}`, { file });
    }
  };
  for (const [k, v] of Object.entries(nested)) {
    nested[k] = typeof v === 'object' && v !== null && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).map(([m, x]) => [m, readRef(`${k}.${m}`, x)])) : readRef(k, v);
  }
  opts.set = nested;
}

/**
 * `modalityDropout` given with --set (or in --config) is a training option, not a method
 * option: taken out of the method options and checked here.
 */
export function takeModalityDropout(opts: Record<string, unknown>): number | undefined {
  const set = { ...((opts.set as Record<string, unknown>) ?? {}) };
  if (!('modalityDropout' in set)) return undefined;
  const v = set.modalityDropout;
  delete set.modalityDropout;
  opts.set = set;
  const p = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  if (!(Number.isFinite(p) && p >= 0 && p < 1)) {
    throw new ModalfuseError(`bad value for "modalityDropout": ${JSON.stringify(v)}`, { expected: 'a probability in [0, 1), e.g. --set modalityDropout=0.3', found: String(v) });
  }
  return p;
}

export function need<T>(v: T | undefined, flag: string): T {
  if (v === undefined || v === null || v === '') throw new ModalfuseError(`missing ${flag} (on the command line or in --config)`);
  return v;
}
