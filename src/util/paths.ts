import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Paths of the compiled program, found from this file rather than the working directory,
 * so the CLI, the tests and the benchmarks work from any directory and any outDir.
 */
export const cliEntry: string = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** Repository root: the nearest folder above this file that holds package.json. */
export const packageRoot: string = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

function findPackageRoot(from: string): string {
  let dir = from;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
}
