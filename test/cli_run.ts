/** Running the built `modalfuse` command as a child process, and the checks every CLI test makes. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CLI = path.resolve(here, '../src/cli/main.js');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `modalfuse ARGS` in `cwd` (no backend override, no debug output; `env` added). */
export function runCli(cwd: string, args: string[], env: Record<string, string> = {}, timeout = 120_000): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, MODALFUSE_BACKEND: '', MODALFUSE_DEBUG: '', ...env },
    timeout,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function ok(r: Run): Run {
  assert.equal(r.status, 0, `exit ${r.status}\nstderr: ${r.stderr}`);
  return r;
}

export function lastJson(r: Run): Record<string, unknown> {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]);
}

/** Exit 2, one line `modalfuse: ...` on stderr (containing every `parts`), no stack trace, nothing on stdout. */
export function userError(r: Run, ...parts: string[]): void {
  assert.equal(r.status, 2, `expected exit 2, got ${r.status}\nstderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  const errLines = lines.filter((l) => l.startsWith('modalfuse: '));
  assert.equal(errLines.length, 1, `expected one error line, got:\n${r.stderr}`);
  assert.equal(lines[lines.length - 1], errLines[0], `the error must be the last line:\n${r.stderr}`);
  assert.ok(!/\n\s+at /.test(r.stderr), `stack trace on stderr:\n${r.stderr}`);
  for (const p of parts) assert.ok(errLines[0].includes(p), `"${errLines[0]}" lacks "${p}"`);
  assert.equal(r.stdout, '');
}
