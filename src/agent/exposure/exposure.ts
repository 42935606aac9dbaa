import { endianness } from 'node:os';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pidTree, socketInodes } from './pid-tree.js';
import { formatAddress, parseProcNetTcp, type ListeningSocket } from './proc-net.js';

/**
 * The plaintext bypass (docs/security.md): an app that listens on a non-loopback address can
 * be reached around its proxy, without mTLS and without policy. These functions find such
 * listeners for one app, from /proc.
 */

/** An app's listener that other hosts (or network namespaces) can reach. */
export interface Exposure {
  /** `0.0.0.0:8080`, `[::]:8080`, `10.0.0.5:8080` */
  address: string;
  port: number;
}

function exposures(sockets: Iterable<ListeningSocket>): Exposure[] {
  const out = new Map<string, Exposure>();
  for (const s of sockets) {
    if (s.loopback) continue;
    const address = formatAddress(s);
    out.set(address, { address, port: s.port });
  }
  return [...out.values()].sort((a, b) => a.port - b.port || a.address.localeCompare(b.address));
}

/** Non-loopback LISTEN sockets whose inode one of `inodes` holds (the app's pid tree). */
export function exposedBySockets(listening: readonly ListeningSocket[], inodes: ReadonlySet<number>): Exposure[] {
  return exposures(listening.filter((s) => inodes.has(s.inode)));
}

/**
 * For a workload without a pid the agent can see (an external workload, started by someone
 * else): non-loopback LISTEN sockets on its declared ports. Less exact than the pid tree (any
 * process on that port counts), so the pid tree is used whenever there is a pid.
 */
export function exposedOnPorts(listening: readonly ListeningSocket[], ports: readonly number[]): Exposure[] {
  const wanted = new Set(ports);
  return exposures(listening.filter((s) => wanted.has(s.port)));
}

/**
 * LISTEN sockets of a network namespace: `/proc/<pid>/net/tcp{,6}` shows the namespace of
 * `pid` (an app in its own namespace is read in its own), `/proc/net` the agent's. A missing
 * tcp6 (IPv6 disabled) is no listener.
 */
export async function readListening(procRoot = '/proc', pid: number | null = null): Promise<ListeningSocket[]> {
  const dir = pid === null ? join(procRoot, 'net') : join(procRoot, String(pid), 'net');
  const le = endianness() === 'LE';
  const out: ListeningSocket[] = [];
  for (const file of ['tcp', 'tcp6']) {
    try {
      out.push(...parseProcNetTcp(await readFile(join(dir, file), 'utf8'), le));
    } catch {
      // not there (no IPv6), or the process just exited
    }
  }
  return out;
}

/** What the app started as `pid` (and its children) listens on beyond loopback; [] when it is gone. */
export async function appExposures(pid: number, procRoot = '/proc', children?: Map<number, number[]>): Promise<Exposure[]> {
  const tree = await pidTree(pid, procRoot, children);
  if (tree.length === 0) return [];
  const [listening, inodes] = await Promise.all([readListening(procRoot, pid), socketInodes(tree, procRoot)]);
  return exposedBySockets(listening, inodes);
}
