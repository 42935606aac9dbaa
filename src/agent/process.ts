import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  error: NodeJS.ErrnoException | null;
}

export interface SpawnLoggedOptions {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** stdout and stderr are appended here. */
  logFile: string;
  /** A pipe the child can watch to notice the parent went away. */
  stdinPipe: boolean;
  /** Another user to run as (the agent is root); libuv also drops root's supplementary groups. */
  runAs?: { uid: number; gid: number } | null;
}

/**
 * A child process in its own process group (so a terminal's Ctrl-C reaches only the agent),
 * output appended to a log file, with its exit as a promise.
 */
export class Child {
  readonly proc: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  private done: ExitInfo | null = null;

  private constructor(proc: ChildProcess) {
    this.proc = proc;
    this.exited = new Promise((resolveExit) => {
      proc.once('error', (error: NodeJS.ErrnoException) => {
        if (proc.pid === undefined) {
          this.done = { code: null, signal: null, error };
          resolveExit(this.done);
        }
      });
      proc.once('exit', (code, signal) => {
        this.done = { code, signal, error: null };
        proc.stdin?.destroy();
        resolveExit(this.done);
      });
    });
  }

  static spawn(opts: SpawnLoggedOptions): Child {
    const fd = openSync(opts.logFile, 'a', 0o644);
    try {
      const [cmd, ...args] = opts.argv as [string, ...string[]];
      const proc = spawn(cmd, args, {
        cwd: opts.cwd,
        env: opts.env,
        stdio: [opts.stdinPipe ? 'pipe' : 'ignore', fd, fd],
        detached: true,
        ...(opts.runAs != null ? { uid: opts.runAs.uid, gid: opts.runAs.gid } : {}),
      });
      proc.stdin?.on('error', () => {});
      return new Child(proc);
    } finally {
      closeSync(fd);
    }
  }

  get pid(): number | null {
    return this.proc.pid ?? null;
  }

  get running(): boolean {
    return this.done === null && this.proc.pid !== undefined;
  }

  get exit(): ExitInfo | null {
    return this.done;
  }

  /** Signal the whole process group (the child leads it), falling back to the child alone. */
  signal(sig: NodeJS.Signals, group: boolean): void {
    const pid = this.proc.pid;
    if (pid === undefined || this.done !== null) return;
    try {
      process.kill(group ? -pid : pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when it has exited. */
  async terminate(graceMs: number, group: boolean): Promise<ExitInfo> {
    if (this.done !== null) {
      if (group) this.signal('SIGKILL', true);
      return this.done;
    }
    this.signal('SIGTERM', group);
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((r) => {
      timer = setTimeout(() => {
        this.signal('SIGKILL', group);
        r();
      }, graceMs);
    });
    const info = await this.exited;
    clearTimeout(timer);
    void killed;
    if (group) {
      // Leftovers the app forked into its group die with it.
      const pid = this.proc.pid;
      if (pid !== undefined) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // group empty
        }
      }
    }
    return info;
  }
}

/**
 * Where a workload's program is: `node` is this Node.js binary (deterministic across PATHs),
 * a name with a slash is relative to the mesh file's folder, a bare name is looked up in PATH.
 * Returns null when it cannot be found or run.
 */
export function resolveCommand(program: string, cwd: string, pathEnv: string | undefined): string | null {
  if (program === 'node') return process.execPath;
  const executable = (p: string): boolean => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (program.includes('/')) {
    const p = isAbsolute(program) ? program : resolve(cwd, program);
    return executable(p) ? p : null;
  }
  for (const dir of (pathEnv ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, program);
    if (executable(p)) return p;
  }
  return null;
}

/** Last `n` lines of a log file (at most the last 64 KiB are read). */
export async function tailFile(path: string, n: number): Promise<string[]> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const len = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, size - len);
      const lines = buf.toString('utf8').split('\n');
      if (lines.at(-1) === '') lines.pop();
      return lines.slice(-n);
    } finally {
      await fh.close();
    }
  } catch {
    return [];
  }
}

/** `exit code 1` / `signal SIGKILL` */
export function describeExit(e: ExitInfo): string {
  if (e.error !== null) return `could not start (${e.error.code ?? e.error.message})`;
  return e.signal !== null ? `killed by signal ${e.signal}` : `exit code ${String(e.code)}`;
}
