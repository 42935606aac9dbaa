/**
 * Running programs on a lab host (./netns.ts): in its network namespace, with a UTS namespace
 * of their own whose host name is the lab host's name, so `hostname` (and so the agent's
 * default host name and id) is `h1` on h1, as on a real machine.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { LabHost } from './netns.js';

/**
 * argv that runs `argv` on `host`: `ip netns exec` enters its network namespace, `unshare --uts`
 * gives it its own host name, and `sh` sets the name and execs the program (each step execs the
 * next, so the pid that comes back is the program's own).
 */
export function onHost(host: Pick<LabHost, 'name' | 'netns'>, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', host.netns, 'unshare', '--uts', '--', 'sh', '-c', 'hostname "$0" && exec "$@"', host.name, ...argv];
}

export interface HostSpawnOptions {
  cwd: string;
  /** stdout and stderr are appended here. */
  logFile: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Keep it running after this process exits (`npm run hosts -- up` returns while the lab
   * runs): a session of its own, not waited for. The lab's `down` finds it by namespace.
   */
  detached?: boolean;
}

/** Starts `argv` on `host`, output appended to `logFile`. */
export function spawnOnHost(host: Pick<LabHost, 'name' | 'netns'>, argv: readonly string[], opts: HostSpawnOptions): ChildProcess {
  const [cmd, ...args] = onHost(host, argv) as [string, ...string[]];
  const fd = openSync(opts.logFile, 'a', 0o644);
  try {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', fd, fd], detached: opts.detached === true });
    if (opts.detached === true) child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

export interface ExecResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `argv` on `host` to completion (killed after timeoutMs). */
export function execOnHost(host: Pick<LabHost, 'name' | 'netns'>, argv: readonly string[], opts: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ExecResult> {
  const [cmd, ...args] = onHost(host, argv) as [string, ...string[]];
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 30_000, cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
      resolve({ code, stdout, stderr });
    });
  });
}
