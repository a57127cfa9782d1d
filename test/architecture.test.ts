/**
 * The shape of the code, checked on the sources: no import cycles in src/ or bench/
 * (type-only imports and `import()` count), data flowing one way between the folders of
 * src/ (README "Contributing"), and no file in src/ over 400 lines without a reason on
 * its first line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative import specifiers of a source file: static (values and types), re-exports, side effects, `import()`. */
export function importsOf(text: string): string[] {
  const specs: string[] = [];
  const patterns = [/\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]/g, /\bimport\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g, /^\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/gm];
  for (const re of patterns) for (const m of text.matchAll(re)) specs.push(m[1]);
  return specs;
}

/** file -> files it imports (within `files`). */
function graphOf(files: string[]): Map<string, string[]> {
  const known = new Set(files);
  const g = new Map<string, string[]>();
  for (const f of files) {
    const deps: string[] = [];
    for (const spec of importsOf(fs.readFileSync(f, 'utf8'))) {
      const base = path.resolve(path.dirname(f), spec).replace(/\.js$/, '');
      const hit = [`${base}.ts`, path.join(base, 'index.ts')].find((c) => known.has(c));
      if (hit) deps.push(hit);
    }
    g.set(f, deps);
  }
  return g;
}

/** Every cycle found by a depth-first search (each reported once, from its first file). */
export function findCycles(g: Map<string, string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const visit = (f: string) => {
    state.set(f, 'open');
    stack.push(f);
    for (const d of g.get(f) ?? []) {
      if (state.get(d) === 'open') {
        const cyc = stack.slice(stack.indexOf(d));
        const key = [...cyc].sort().join('|');
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push(cyc);
        }
      } else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of g.keys()) if (!state.has(f)) visit(f);
  return cycles;
}

const rel = (f: string) => path.relative(repo, f);

test('the cycle finder finds a cycle through a type-only import and an import()', () => {
  const a = importsOf("import type { X } from './b.js';\nconst m = await import('./c.js');\nimport './d.js';\nexport * from '../e.js';");
  assert.deepEqual(a.sort(), ['../e.js', './b.js', './c.js', './d.js']);
  const g = new Map([
    ['a', ['b']],
    ['b', ['c']],
    ['c', ['a']],
    ['d', ['a']],
  ]);
  assert.deepEqual(findCycles(g), [['a', 'b', 'c']]);
});

for (const dir of ['src', 'bench']) {
  test(`no import cycles in ${dir}/`, () => {
    const cycles = findCycles(graphOf(tsFiles(path.join(repo, dir))));
    assert.deepEqual(cycles.map((c) => c.map(rel).join(' -> ')), []);
  });
}

/**
 * The folders of src/ from the bottom up: a folder may import only folders before it in
 * this list (and itself). train/ and eval/ sit side by side and never import each other.
 */
const LAYERS: string[][] = [
  ['errors.ts', 'version.ts'],
  ['util'],
  ['backend'],
  ['tasks'],
  ['data'],
  ['datasets'],
  ['encoders'],
  ['fusion'],
  ['registry'],
  ['methods'],
  ['models'],
  ['train', 'eval', 'predict'],
  ['experiments'],
  ['report'],
  ['web'],
  ['index.ts'],
  ['cli'],
];

function layerOf(file: string): number {
  const top = path.relative(path.join(repo, 'src'), file).split(path.sep)[0];
  const i = LAYERS.findIndex((l) => l.includes(top));
  assert.ok(i >= 0, `src/${top} has no place in the layer list of this test`);
  return i;
}

test('data flows one way between the folders of src/ (train/ and eval/ do not import each other)', () => {
  const g = graphOf(tsFiles(path.join(repo, 'src')));
  const wrong: string[] = [];
  for (const [f, deps] of g) {
    const lf = layerOf(f);
    const top = path.relative(path.join(repo, 'src'), f).split(path.sep)[0];
    for (const d of deps) {
      const dtop = path.relative(path.join(repo, 'src'), d).split(path.sep)[0];
      if (dtop === top) continue;
      if (layerOf(d) >= lf) wrong.push(`${rel(f)} -> ${rel(d)}`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no file in src/ is over 400 lines without a one-line reason at its top', () => {
  const long = tsFiles(path.join(repo, 'src'))
    .map((f) => ({ f, lines: fs.readFileSync(f, 'utf8').split('\n') }))
    .filter(({ lines }) => lines.length > 400 && !/^\/\/ Over 400 lines: \S.{10,}/.test(lines[0]))
    .map(({ f, lines }) => `${rel(f)} (${lines.length} lines)`);
  assert.deepEqual(long, []);
});

test('the browser bundle stays within 892 KiB (850 KiB before Foundation III, plus 5%)', () => {
  const bundle = path.join(repo, 'dist', 'web', 'modalfuse.js');
  assert.ok(fs.existsSync(bundle), 'run npm run build first');
  const kib = fs.statSync(bundle).size / 1024;
  assert.ok(kib <= 850 * 1.05, `dist/web/modalfuse.js is ${kib.toFixed(0)} KiB`);
});
