// Browser build: src/web/browser.ts -> dist/web/modalfuse.js (an ES module; code loaded on demand, such as the WAV decoder, in dist/web/chunks/) and the
// wasm backend's binaries copied beside it (the bundle loads them from its own folder: no
// CDN, works offline). Run by `npm run build` after tsc.
//
// Guards, so that the bundle never carries Node-only code:
// - a static import of a Node builtin (`node:fs`, `fs`, ...) from our sources fails the
//   build, naming the importing file;
// - a dynamic `import('node:...')` (only ever reached in Node, e.g. backend/index.ts) and a
//   dynamic import of a `*_node.js` module (e.g. models/folder_node.ts, FusionModel.save /
//   load) are replaced by a stub that throws a readable error if the browser ever runs it.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'dist', 'web');
const entry = path.join(root, 'src', 'web', 'browser.ts');
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

const nodeGuard = {
  name: 'modalfuse-node-guard',
  setup(build) {
    build.onResolve({ filter: /.*/ }, (args) => {
      const fromOurs = args.importer && !args.importer.includes(`${path.sep}node_modules${path.sep}`);
      const isBuiltin = args.path.startsWith('node:') || builtins.has(args.path);
      const isNodeModule = /_node\.js$/.test(args.path);
      if (!isBuiltin && !isNodeModule) return undefined;
      if (args.kind === 'dynamic-import') return { path: args.path, namespace: 'node-only-stub' };
      if (isBuiltin && !fromOurs) return undefined; // packages: their "browser" fields decide
      return {
        errors: [
          {
            text:
              `${path.relative(root, args.importer)} imports "${args.path}" statically, which would put Node-only code in the browser bundle. ` +
              `Import it lazily (await import(...)) inside the Node-only function, or move that code into a *_node.ts module.`,
          },
        ],
      };
    });
    build.onLoad({ filter: /.*/, namespace: 'node-only-stub' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(
        `"${args.path}" is Node-only and not part of the browser build (in the browser, load a model with FusionModel.loadUrl(url))`,
      )});`,
      loader: 'js',
    }));
  },
};

fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(outDir, { recursive: true });

const result = await esbuild.build({
  entryPoints: { modalfuse: entry },
  outdir: outDir,
  // code loaded on demand (the WAV decoder) goes into chunks beside the bundle
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  sourcemap: true,
  minify: true,
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
  plugins: [nodeGuard],
});

// The wasm binaries, beside the bundle.
const require = createRequire(import.meta.url);
const wasmDist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '.');
const wasmFiles = fs.readdirSync(wasmDist).filter((f) => f.endsWith('.wasm'));
if (wasmFiles.length === 0) throw new Error(`no .wasm files found in ${wasmDist}`);
for (const f of wasmFiles) fs.copyFileSync(path.join(wasmDist, f), path.join(outDir, f));

// Belt and braces: no `node:` specifier may be left in the output (the bundle and its chunks).
const outputs = [path.join(outDir, 'modalfuse.js'), ...fs.readdirSync(path.join(outDir, 'chunks')).filter((f) => f.endsWith('.js')).map((f) => path.join(outDir, 'chunks', f))];
const code = outputs.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
const leaked = code.match(/(?:from\s*|import\s*\(\s*)["']node:[^"']+["']/g);
if (leaked) throw new Error(`browser bundle still imports Node builtins: ${[...new Set(leaked)].join(', ')}`);

const bytes = fs.statSync(path.join(outDir, 'modalfuse.js')).size;
fs.writeFileSync(path.join(outDir, 'meta.json'), JSON.stringify(result.metafile));
console.error(`build-web: dist/web/modalfuse.js (${(bytes / 1024).toFixed(0)} KiB) + ${wasmFiles.join(', ')}`);
