/**
 * Test support: an Io that records what a command writes, for unit tests that call runCli()
 * in-process. Its stdin is the given text (never the test runner's own stdin).
 */
import { tmpdir } from 'node:os';
import type { Io } from './io.js';

export interface CapturedIo extends Io {
  stdout: string;
  stderr: string;
  stdin: () => Promise<string>;
}

export function captureIo(o: { cwd?: string; env?: Record<string, string | undefined>; stdin?: string } = {}): CapturedIo {
  const io: CapturedIo = {
    stdout: '',
    stderr: '',
    cwd: o.cwd ?? tmpdir(),
    env: o.env ?? {},
    stdin: () => Promise.resolve(o.stdin ?? ''),
    out(t: string) {
      io.stdout += t;
    },
    err(t: string) {
      io.stderr += t;
    },
  };
  return io;
}
