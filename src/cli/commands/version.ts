import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../util/paths.js';
import { parse } from '../args.js';
import type { Command } from '../io.js';

const usage = `Usage: trellis version

Prints the Trellis version and the Node.js version.
`;

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
}

export const versionCommand: Command = {
  name: 'version',
  usage,
  run(argv, io) {
    if (parse(argv, {}, usage, io.out, 0) === null) return Promise.resolve(0);
    io.out(`trellis ${packageVersion()}\nnode ${process.version}\n`);
    return Promise.resolve(0);
  },
};
