#!/usr/bin/env node
import { processIo } from './io.js';
import { runCli } from './run.js';

// The `trellis` executable (package.json bin). Everything is in ./run.ts so tests can call it.
const code = await runCli(process.argv.slice(2), processIo());
process.exit(code);
