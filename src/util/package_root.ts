/** The modalfuse package root (Node only): the nearest folder above this module with our package.json. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, 'utf8')).name === 'modalfuse') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('modalfuse package root not found');
    dir = up;
  }
}
