import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { cgroup2Mount, lockRuleset, lockTableName, unlockRuleset } from './nft-rules.js';

const NFT_CGROUP_ROOT = '/sys/fs/cgroup';

export interface EgressLockOptions {
  /** Names the table and the cgroup (one per agent: e.g. a hash of the mesh file and state dir). */
  id: string;
  /** The nft program and leading arguments (tests run it in a network namespace through nsenter). */
  nft?: string[];
  /** Where /proc/self/mountinfo is read (tests). */
  mountinfo?: string;
  /** Whether this process may change the firewall; default: running as root. */
  isRoot?: () => boolean;
}

export type LockResult = { ok: true; cgroupProcs: string } | { ok: false; reason: string };

/**
 * Kernel enforcement of `registryOnly` (docs/security.md, "Egress"): a cgroup for the apps, and
 * an nftables table that lets its sockets reach loopback only. Installed by the agent before any
 * app starts, removed when it stops; installing twice replaces the table (idempotent). Where it
 * cannot (not root, no nft, no cgroup2) `install` says why and changes nothing: the proxies
 * still enforce registryOnly for traffic that goes through them.
 */
export class EgressLock {
  private readonly table: string;
  private cgroupDir: string | null = null;

  constructor(private readonly opts: EgressLockOptions) {
    this.table = lockTableName(opts.id);
  }

  /** The `cgroup.procs` file apps are started into while the lock is installed, else null. */
  get cgroupProcs(): string | null {
    return this.cgroupDir === null ? null : join(this.cgroupDir, 'cgroup.procs');
  }

  async install(): Promise<LockResult> {
    const root = this.opts.isRoot ?? (() => process.getuid?.() === 0);
    if (!root()) return { ok: false, reason: 'the agent does not run as root, so it cannot install nftables rules' };
    const info = await readFile(this.opts.mountinfo ?? '/proc/self/mountinfo', 'utf8').catch(() => '');
    const mount = cgroup2Mount(info);
    if (mount === null) return { ok: false, reason: 'no cgroup2 file system is mounted (needed to tell apps from their proxies)' };
    const nftPath = relative(NFT_CGROUP_ROOT, join(mount, `trellis-egress-${this.opts.id}`));
    if (nftPath.startsWith('..')) return { ok: false, reason: `cgroup2 is mounted at ${mount}, outside ${NFT_CGROUP_ROOT} where nft looks for cgroups` };
    const dir = join(mount, `trellis-egress-${this.opts.id}`);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      return { ok: false, reason: `cannot create the apps' cgroup ${dir}: ${(err as Error).message}` };
    }
    const r = await this.nft(lockRuleset(this.table, { nftPath, level: 1 }));
    if (r !== null) {
      await rmdir(dir).catch(() => {});
      return { ok: false, reason: r };
    }
    this.cgroupDir = dir;
    return { ok: true, cgroupProcs: join(dir, 'cgroup.procs') };
  }

  /** Removes the table and the cgroup (once its apps are gone). Safe to call when nothing is installed. */
  async remove(): Promise<string | null> {
    const err = await this.nft(unlockRuleset(this.table));
    const dir = this.cgroupDir;
    this.cgroupDir = null;
    if (dir !== null) {
      // Apps still in it (a kill that has not landed yet) keep it busy: move them out first.
      const left = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
      const parent = join(dir, '..', 'cgroup.procs');
      for (const pid of left.split('\n').filter((p) => p !== '')) await writeFile(parent, pid).catch(() => {});
      await rmdir(dir).catch(() => {});
    }
    return err;
  }

  /** Runs `nft -f -` with `script`; null on success, else why it failed (nft missing included). */
  private nft(script: string): Promise<string | null> {
    const [cmd, ...args] = this.opts.nft ?? ['nft'];
    return new Promise((resolve) => {
      const child = spawn(cmd as string, [...args, '-f', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ENOENT' ? 'nft is not installed (Debian: apt-get install nftables)' : `nft: ${e.message}`));
      child.on('close', (code) => resolve(code === 0 ? null : `nft failed (exit ${code}): ${stderr.trim().split('\n')[0] ?? ''}`));
      child.stdin.end(script);
    });
  }
}

/**
 * The argv that starts an app inside the lock's cgroup without a window in which it could
 * connect out unconfined: a shell waits for one line on stdin, and the agent sends it only once
 * it has moved the shell into the cgroup (`admitToCgroup`); the shell then execs the app (same
 * pid, already confined) with stdin from /dev/null. Without the line (stdin closed: the move
 * failed) the shell exits and the app never runs.
 *
 * The agent does the move, not the shell itself: an app that runs as its own user (src/agent/
 * run-as) may not write the root-owned cgroup.procs, and cgroup v2 also wants write access to
 * the common ancestor's cgroup.procs to move a process between cgroups; the agent is root
 * whenever the lock is installed.
 */
export function confinedArgv(argv: readonly string[]): string[] {
  return ['/bin/sh', '-c', 'read -r _ && exec "$@" </dev/null', 'trellis-egress-gate', ...argv];
}

/** Where a process's pid is written to move it into a cgroup (tests write to a plain file). */
export type CgroupWriter = (cgroupProcs: string, pid: number) => void;

const writeCgroupProcs: CgroupWriter = (cgroupProcs, pid) => writeFileSync(cgroupProcs, `${pid}\n`);

/**
 * Moves a child started with `confinedArgv` into the cgroup, then lets it exec the app; on
 * failure closes its stdin, so it exits without running the app (`onError` says why). Sync on
 * purpose: one small write, and the child waits for it.
 */
export function admitToCgroup(child: ChildProcess, cgroupProcs: string, onError: (err: Error) => void, write: CgroupWriter = writeCgroupProcs): void {
  const stdin = child.stdin;
  if (child.pid === undefined || stdin === null) return;
  try {
    write(cgroupProcs, child.pid);
  } catch (err) {
    stdin.end();
    onError(err as Error);
    return;
  }
  stdin.end('go\n');
}
