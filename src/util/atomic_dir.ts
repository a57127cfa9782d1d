/**
 * Folders that the user keeps (model folders, dataset folders) are written whole or not at
 * all: the content goes into a temporary folder beside the target, its files are flushed,
 * and it is renamed into place. A folder already there is first renamed to a backup name
 * beside it, then removed once the new one is in place; a process killed between those two
 * renames leaves the backup, which `recoverDir` (run by every reader and writer) puts back.
 * So a kill at any moment leaves the old folder or the new one, never a mix.
 *
 * Also: `checkWritableDir`, which makes sure an output folder can be written (a real
 * temporary folder is created and removed there) before any long work starts.
 *
 * Node's `fs` has no atomic exchange of two folders (renameat2 RENAME_EXCHANGE), hence the
 * backup and its recovery; no npm package offers more for folders (write-file-atomic
 * handles single files only).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ModalfuseError } from '../errors.js';

const NEW_TAG = '.modalfuse-new-';
const OLD_TAG = '.modalfuse-old';

function backupOf(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}${OLD_TAG}`);
}

/**
 * Test hook: `MODALFUSE_CRASH_AT=<point>` kills this process (SIGKILL, as a power cut would)
 * when the write reaches `point`; the tests check what a crash there leaves behind.
 */
export function crashPoint(point: string): void {
  if (process.env.MODALFUSE_CRASH_AT === point) process.kill(process.pid, 'SIGKILL');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Finishes or undoes a replacement that a killed process left half-done: the backup goes
 * back when the target is missing, and is removed when the target is in place; temporary
 * folders of processes that no longer run are removed.
 */
export function recoverDir(target: string): void {
  const t = path.resolve(target);
  const backup = backupOf(t);
  if (fs.existsSync(backup)) {
    if (!fs.existsSync(t)) fs.renameSync(backup, t);
    else fs.rmSync(backup, { recursive: true, force: true });
  }
  const parent = path.dirname(t);
  const prefix = `.${path.basename(t)}${NEW_TAG}`;
  let names: string[] = [];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) {
    if (!n.startsWith(prefix)) continue;
    const pid = Number(n.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && !alive(pid)) fs.rmSync(path.join(parent, n), { recursive: true, force: true });
  }
}

function describe(code: string | undefined): string {
  switch (code) {
    case 'EROFS':
      return 'the file system is read-only';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
      return 'a part of the path is a file, not a folder';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return code ?? 'unknown error';
  }
}

/** Nearest existing ancestor of `p` (itself included). */
function existingAncestor(p: string): string {
  let cur = p;
  while (!fs.existsSync(cur)) {
    const up = path.dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  return cur;
}

const PSEUDO_FS = ['/proc', '/sys', '/dev'];

/**
 * Checks, before any long work, that a folder can be written at `dir` (`flag` names the
 * option, e.g. `--save`): its place must not be a file, nor inside /proc, /sys or /dev, and
 * a temporary folder with a file in it can be created and removed beside it.
 */
export function checkWritableDir(dir: string, flag: string): void {
  const t = path.resolve(dir);
  const fail = (why: string): never => {
    throw new ModalfuseError(`cannot write ${flag} ${dir}: ${why}`, { file: t, expected: 'a folder that can be written' });
  };
  for (const p of PSEUDO_FS) if (t === p || t.startsWith(p + path.sep)) fail(`${p} is a system file system`);
  if (fs.existsSync(t) && !fs.statSync(t).isDirectory()) fail('it is a file, not a folder');
  const anc = existingAncestor(path.dirname(t));
  if (!fs.statSync(anc).isDirectory()) fail(`${anc} is a file, not a folder`);
  let probe: string | null = null;
  try {
    probe = fs.mkdtempSync(path.join(anc, `.${path.basename(t)}${NEW_TAG}${process.pid}-probe-`)); // removed by recoverDir if this process dies here
    fs.writeFileSync(path.join(probe, 'probe'), 'ok');
  } catch (e) {
    fail(describe((e as NodeJS.ErrnoException).code));
  } finally {
    if (probe) fs.rmSync(probe, { recursive: true, force: true });
  }
}

/** `checkWritableDir` for an output file: not a folder, and its folder can be written. */
export function checkWritableFile(file: string, flag: string): void {
  const t = path.resolve(file);
  if (fs.existsSync(t) && !fs.statSync(t).isFile()) {
    throw new ModalfuseError(`cannot write ${flag} ${file}: it is not a regular file`, { file: t, expected: 'a file that can be written' });
  }
  checkWritableDir(path.dirname(t), flag);
}

function fsyncPath(p: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(p, 'r');
    fs.fsyncSync(fd);
  } catch {
    // fsync of a folder is not supported everywhere; the rename order still holds
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

function fsyncTree(dir: string): void {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) fsyncTree(p);
    else if (e.isFile()) fsyncPath(p);
  }
  fsyncPath(dir);
}

export interface ReplaceDirOptions {
  /**
   * Whether a folder already at the target may be replaced (e.g. it is a model folder and
   * --force was given). When it may not, this returns a one-line ModalfuseError to throw.
   */
  mayReplace(existing: string): ModalfuseError | null;
}

/** Makes the temporary folder beside `target` (after recovering a half-done replacement). */
function begin(target: string, opts: ReplaceDirOptions): string {
  recoverDir(target);
  if (fs.existsSync(target)) {
    if (!fs.statSync(target).isDirectory()) {
      throw new ModalfuseError('cannot write the folder: a file is in its place', { file: target, expected: 'a folder or nothing', found: 'a file' });
    }
    if (fs.readdirSync(target).length > 0) {
      const refusal = opts.mayReplace(target);
      if (refusal) throw refusal;
    }
  }
  try {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    return fs.mkdtempSync(path.join(path.dirname(target), `.${path.basename(target)}${NEW_TAG}${process.pid}-`));
  } catch (e) {
    // The temporary folder goes beside the target: its parent folder must be writable.
    throw new ModalfuseError(`cannot write the folder: ${describe((e as NodeJS.ErrnoException).code)}`, { file: target, expected: 'a folder whose parent folder can be written' });
  }
}

/** Flushes the temporary folder and renames it to `target`, the old folder (if any) out of the way first. */
function commit(tmp: string, target: string): void {
  fsyncTree(tmp);
  crashPoint('before-swap');
  if (fs.existsSync(target)) {
    const backup = backupOf(target);
    fs.renameSync(target, backup);
    crashPoint('between-renames');
    fs.renameSync(tmp, target);
    fsyncPath(path.dirname(target));
    crashPoint('after-swap');
    fs.rmSync(backup, { recursive: true, force: true });
  } else {
    fs.renameSync(tmp, target);
    fsyncPath(path.dirname(target));
  }
}

/** Writes a folder at `target` atomically: `fill` writes into a temporary folder, which then replaces the target. */
export async function replaceDir(target: string, opts: ReplaceDirOptions, fill: (tmp: string) => Promise<void> | void): Promise<void> {
  const t = path.resolve(target);
  const tmp = begin(t, opts);
  try {
    await fill(tmp);
    crashPoint('filled');
    commit(tmp, t);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** `replaceDir` for a synchronous `fill`. */
export function replaceDirSync(target: string, opts: ReplaceDirOptions, fill: (tmp: string) => void): void {
  const t = path.resolve(target);
  const tmp = begin(t, opts);
  try {
    fill(tmp);
    crashPoint('filled');
    commit(tmp, t);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Writes `file` whole or not at all: a temporary file beside it, flushed, then renamed over it. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const t = path.resolve(file);
  const tmp = path.join(path.dirname(t), `.${path.basename(t)}${NEW_TAG}${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  try {
    const fd = fs.openSync(tmp, 'wx');
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, t);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}
