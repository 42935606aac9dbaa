/** A `trellis` command run as a child process that a test can watch while it runs. */
import { spawn } from 'node:child_process';
import { cliEntry } from '../../src/util/paths.js';

export interface CliRun {
  /** Resolves when stderr has a line matching `pattern`; rejects if the command exits first. */
  stderrLine(pattern: RegExp): Promise<void>;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Sends a signal (e.g. SIGINT, as Ctrl-C). */
  kill(signal: NodeJS.Signals): void;
}

/**
 * `trellis <args>` as a child whose stderr the test can wait on (cli() only returns at exit); killed after 30 s.
 * `env`: e.g. a mesh's cliEnv(), so the command finds that mesh's credentials.
 */
export function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): CliRun {
  const child = spawn(process.execPath, [cliEntry, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const w of waiters.splice(0)) {
      if (w.pattern.test(stderr)) w.resolve();
      else waiters.push(w);
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  return {
    done,
    kill: (signal) => child.kill(signal),
    stderrLine: (pattern) =>
      Promise.race([
        new Promise<void>((resolve) => (pattern.test(stderr) ? resolve() : waiters.push({ pattern, resolve }))),
        done.then((r) => {
          throw new Error(`trellis ${args.join(' ')} exited ${r.code} before ${String(pattern)}: ${r.stderr}`);
        }),
      ]),
  };
}

