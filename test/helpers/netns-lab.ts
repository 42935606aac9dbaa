/**
 * The fixture of the cross-host tests: hosts made of network namespaces (test/lab/netns.ts)
 * with a temp folder, processes started on them and tracked, and a close() that always leaves
 * nothing behind: every process in the lab's namespaces ends, the namespaces and links go, and
 * the folder is removed. Labs are named `t<n><creator pid in base 36>`, so a later run sweeps
 * the labs of test processes that died (SIGKILL, a crash) before they could clean up.
 *
 * Needs root (CI runs as root); labSkipReason() says why a suite must skip otherwise.
 *
 * Stable API (the cross-host tests and the fault drills build on it): createNetnsLab,
 * withNetnsLab, useNetnsLab, labSkipReason, testPrefix, sweepDeadTestLabs, freeSubnet and the
 * NetnsLab interface below (hosts with name/address/netns, dir, host, spawn, exec, cut, rejoin,
 * close). Trellis itself on a lab (etcd, two replicas, joined agents): ./mesh-on-hosts.ts.
 *
 *   describe('x across hosts', { skip: labSkipReason() }, () => {
 *     const lab = useNetnsLab({ hosts: ['h1', 'h2'] });
 *     it('...', async () => { lab.get().spawn('h1', ['node', 'server.mjs']); ... });
 *   });
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { execOnHost, spawnOnHost, type ExecResult } from '../lab/host-process.js';
import { canBuildLab, createNetwork, ip, listNamespaces, missingTools, removeNetwork, setHostLink, TOOL_PACKAGES, type LabHost, type Network } from '../lab/netns.js';
import { pidAlive, sleep } from './proc.js';

export interface NetnsLab extends Network {
  /** Temp folder for the lab's files (logs, state dirs); removed by close() unless TRELLIS_KEEP_TMP is set. */
  dir: string;
  host(name: string): LabHost;
  /** Starts `argv` on a host (output appended to `logFile`, default `<dir>/<host>/<program>.log`); close() ends it. */
  spawn(host: string, argv: string[], opts?: { cwd?: string; logFile?: string; env?: NodeJS.ProcessEnv }): ChildProcess;
  /** Runs `argv` on a host to completion (env: the whole environment, default this process's). */
  exec(host: string, argv: string[], opts?: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<ExecResult>;
  /** Takes a host off the bridge (its link down), or puts it back. */
  cut(host: string): Promise<void>;
  rejoin(host: string): Promise<void>;
  /** Ends every process, removes namespaces, links and the folder. Idempotent; throws if anything could not be removed. */
  close(): Promise<void>;
}

/** Why lab tests cannot run here, or false when they can. */
export function labSkipReason(extraTools: readonly string[] = []): string | false {
  if (!canBuildLab()) return 'needs root: the cross-host tests build hosts out of network namespaces (ip netns); CI runs them as root';
  const missing = missingTools(['ip', 'unshare', ...extraTools]);
  if (missing.length > 0) return `needs ${missing.map((t) => `${t} (Debian: ${TOOL_PACKAGES[t] ?? t})`).join(', ')}; .ci/run installs them`;
  return false;
}

let labsMade = 0;
const TEST_LAB = /^t(\d)([0-9a-z]+)-/;

/**
 * A prefix of this process's own: `t<n><pid in base 36>` (at most 8 characters); a lab under
 * it is swept by sweepDeadTestLabs() once this process is gone.
 */
export function testPrefix(): string {
  const prefix = `t${labsMade++ % 10}${process.pid.toString(36)}`;
  if (prefix.length > 8) throw new Error(`pid ${process.pid} too large for a lab prefix`);
  return prefix;
}

/** Removes labs left by test processes that are gone (their pid is in the prefix). */
export async function sweepDeadTestLabs(): Promise<string[]> {
  const swept = new Set<string>();
  for (const ns of await listNamespaces()) {
    const m = TEST_LAB.exec(ns);
    if (m === null) continue;
    const pid = Number.parseInt(m[2] as string, 36);
    const prefix = `t${m[1]}${m[2]}`;
    if (pid !== process.pid && !pidAlive(pid) && !swept.has(prefix)) {
      await removeNetwork(prefix);
      swept.add(prefix);
    }
  }
  return [...swept];
}

/** A /24 under 10.77.0.0/16 that no interface here uses (10.77.100-249; 10.77.0 is `npm run hosts`'s). */
export async function freeSubnet(): Promise<string> {
  const used = await ip(['-o', '-4', 'addr', 'show']);
  for (let attempt = 0; attempt < 100; attempt++) {
    const subnet = `10.77.${100 + Math.floor(Math.random() * 150)}`;
    if (!used.includes(` ${subnet}.`)) return subnet;
  }
  throw new Error('no free 10.77.x.0/24 for a lab');
}

/** Builds a lab with the given hosts (each gets `<dir>/<host>/`). Close it in a finally, or use withNetnsLab. */
export async function createNetnsLab(opts: { hosts: string[] }): Promise<NetnsLab> {
  await sweepDeadTestLabs();
  const prefix = testPrefix();
  let network: Network | undefined;
  let lastErr: unknown;
  // Another worker may take the same free subnet at the same moment: createNetwork refuses a used one.
  for (let attempt = 0; attempt < 5 && network === undefined; attempt++) {
    try {
      network = await createNetwork({ prefix, subnet: await freeSubnet(), hosts: opts.hosts });
    } catch (err) {
      lastErr = err;
      if (!String(err).includes('already in use')) throw err;
    }
  }
  if (network === undefined) throw lastErr;
  const net = network;
  let dir: string;
  try {
    dir = await realpath(await mkdtemp(join(tmpdir(), `trellis-lab-${prefix}-`)));
  } catch (err) {
    await removeNetwork(prefix);
    throw err;
  }
  for (const h of net.hosts) await mkdir(join(dir, h.name), { recursive: true });
  const children: ChildProcess[] = [];
  let closing: Promise<void> | null = null;
  const host = (name: string): LabHost => {
    const h = net.hosts.find((x) => x.name === name);
    if (h === undefined) throw new Error(`no lab host ${name} (hosts: ${net.hosts.map((x) => x.name).join(', ')})`);
    return h;
  };
  const lab: NetnsLab = {
    ...net,
    dir,
    host,
    spawn(name, argv, o = {}) {
      const h = host(name);
      const program = (argv[0] ?? 'process').split('/').pop() ?? 'process';
      const child = spawnOnHost(h, argv, { cwd: o.cwd ?? join(dir, name), logFile: o.logFile ?? join(dir, name, `${program}.log`), ...(o.env !== undefined ? { env: o.env } : {}) });
      child.on('error', () => {});
      children.push(child);
      return child;
    },
    exec: (name, argv, o = {}) => execOnHost(host(name), argv, o),
    cut: (name) => setHostLink(host(name), false),
    rejoin: (name) => setHostLink(host(name), true),
    close() {
      closing ??= (async () => {
        // removeNetwork ends every process in the namespaces, whoever started it.
        await removeNetwork(prefix);
        for (const c of children) if (c.exitCode === null && c.signalCode === null && c.pid !== undefined && pidAlive(c.pid)) c.kill('SIGKILL');
        await sleep(0);
        if (process.env.TRELLIS_KEEP_TMP === undefined) await rm(dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
  return lab;
}

/** Runs `fn` with a new lab and closes the lab afterwards, whether `fn` succeeded or threw. */
export async function withNetnsLab<T>(opts: { hosts: string[] }, fn: (lab: NetnsLab) => Promise<T>): Promise<T> {
  const lab = await createNetnsLab(opts);
  try {
    return await fn(lab);
  } finally {
    await lab.close();
  }
}

/** Inside a describe(): a lab built before its tests and closed after them (also when they fail). */
export function useNetnsLab(opts: { hosts: string[] }): { get(): NetnsLab } {
  let lab: NetnsLab | undefined;
  before(async () => {
    lab = await createNetnsLab(opts);
  });
  after(async () => {
    await lab?.close();
  });
  return {
    get() {
      if (lab === undefined) throw new Error('lab used before it was built (call useNetnsLab inside describe)');
      return lab;
    },
  };
}
