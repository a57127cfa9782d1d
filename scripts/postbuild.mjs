// Marks the CLI entry executable after tsc (npm links it as the `modalfuse` bin).
import * as fs from 'node:fs';
const bin = new URL('../dist/src/cli/main.js', import.meta.url);
if (fs.existsSync(bin)) fs.chmodSync(bin, 0o755);
