/**
 * Files a user names are read whole; a device (`/dev/zero`), a pipe or a socket never ends
 * or blocks, and a folder is not a file. Called before reading: an existing path that is not
 * a regular file is refused with one line (a missing one is left to the reader's own message).
 */
import * as fs from 'node:fs';
import { ModalfuseError } from '../errors.js';

export function checkRegularFile(file: string, expected = 'a file'): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return;
  }
  if (st.isFile()) return;
  throw new ModalfuseError(st.isDirectory() ? 'is a folder, not a file' : 'not a regular file (a device, a pipe or a socket)', {
    file,
    expected,
    found: st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a pipe' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'a special file',
  });
}
