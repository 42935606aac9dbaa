/**
 * Hosts made of Linux network namespaces (iproute2's `ip netns`), for the tests and
 * `npm run hosts` that need several machines: a bridge in the root namespace and, per host,
 * a namespace joined to it by a veth pair, with its own address from a small private /24 used
 * only by the namespaces the lab creates. Each host also has its own loopback, so what binds
 * 127.0.0.1 on one host is out of reach of the others, as on real machines.
 *
 * Every name the lab makes starts with its prefix (namespaces `<prefix>-<host>`, links
 * `<prefix>-<host>` and `<prefix>-br`), so removeNetwork(prefix) finds leftovers of a run that
 * died without cleaning up. Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface NetworkSpec {
  /** Starts every name the lab makes: 2 to 8 characters, a-z 0-9, starting with a letter (interface names have at most 15). */
  prefix: string;
  /** First three octets of the lab's /24, e.g. `10.77.0`: the bridge is `.1`, hosts `.11`, `.12`, ... */
  subnet: string;
  /** Host names: a-z 0-9, at most 6 characters (not `br`). */
  hosts: string[];
}

export interface LabHost {
  name: string;
  /** Network namespace: `ip netns exec <netns> ...` runs a command on this host. */
  netns: string;
  /** The host's address on the bridge (what peers dial). */
  address: string;
  /** Root-namespace end of its veth pair (down: the host is cut off). */
  veth: string;
}

export interface Network {
  prefix: string;
  subnet: string;
  bridge: string;
  /** The root namespace's address on the bridge. */
  bridgeAddress: string;
  hosts: LabHost[];
}

const PREFIX = /^[a-z][a-z0-9]{1,7}$/;
const HOST = /^[a-z][a-z0-9]{0,5}$/;
const SUBNET = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/** Runs `ip ...args`; rejects with the command and its stderr. */
export async function ip(args: string[]): Promise<string> {
  try {
    const { stdout } = await run('ip', args, { timeout: 30_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr ?? '').trim() || e.message}`, { cause: err });
  }
}

/** What a spec would create, with its names and addresses; throws on a bad spec. */
export function planNetwork(spec: NetworkSpec): Network {
  if (!PREFIX.test(spec.prefix)) throw new Error(`lab prefix "${spec.prefix}": 2 to 8 characters a-z 0-9, starting with a letter`);
  const m = SUBNET.exec(spec.subnet);
  if (m === null || m.slice(1).some((o) => Number(o) > 255)) throw new Error(`lab subnet "${spec.subnet}": expected the first three octets of a /24, e.g. 10.77.0`);
  if (spec.hosts.length === 0 || spec.hosts.length > 200) throw new Error('a lab has 1 to 200 hosts');
  const seen = new Set<string>();
  for (const h of spec.hosts) {
    if (!HOST.test(h) || h === 'br') throw new Error(`lab host "${h}": 1 to 6 characters a-z 0-9, starting with a letter, not "br"`);
    if (seen.has(h)) throw new Error(`lab host "${h}" twice`);
    seen.add(h);
  }
  return {
    prefix: spec.prefix,
    subnet: spec.subnet,
    bridge: `${spec.prefix}-br`,
    bridgeAddress: `${spec.subnet}.1`,
    hosts: spec.hosts.map((name, i) => ({ name, netns: `${spec.prefix}-${name}`, address: `${spec.subnet}.${11 + i}`, veth: `${spec.prefix}-${name}` })),
  };
}

/**
 * Builds the network: bridge with the root namespace's address (its connected route is how the
 * root namespace reaches every host), then per host a namespace with loopback up and `eth0` on
 * the bridge. Refuses a subnet some interface already uses. On failure, removes what it made.
 */
export async function createNetwork(spec: NetworkSpec): Promise<Network> {
  const net = planNetwork(spec);
  const used = await ip(['-o', '-4', 'addr', 'show']);
  if (used.includes(` ${spec.subnet}.`)) throw new Error(`lab subnet ${spec.subnet}.0/24 is already in use here (ip -4 addr); pick another, or remove the old lab`);
  try {
    await ip(['link', 'add', net.bridge, 'type', 'bridge']);
    await ip(['addr', 'add', `${net.bridgeAddress}/24`, 'dev', net.bridge]);
    await ip(['link', 'set', net.bridge, 'up']);
    for (const h of net.hosts) {
      await ip(['netns', 'add', h.netns]);
      await ip(['-n', h.netns, 'link', 'set', 'lo', 'up']);
      // Created with its peer already inside the namespace, named eth0 there.
      await ip(['link', 'add', h.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.netns]);
      await ip(['link', 'set', h.veth, 'master', net.bridge, 'up']);
      await ip(['-n', h.netns, 'addr', 'add', `${h.address}/24`, 'dev', 'eth0']);
      await ip(['-n', h.netns, 'link', 'set', 'eth0', 'up']);
    }
  } catch (err) {
    await removeNetwork(spec.prefix).catch(() => undefined);
    throw err;
  }
  return net;
}

/** Every named network namespace (`ip netns list`). */
export async function listNamespaces(): Promise<string[]> {
  const out = await ip(['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

/** Namespaces whose name starts with `<prefix>-`. */
export async function labNamespaces(prefix: string): Promise<string[]> {
  return (await listNamespaces()).filter((n) => n.startsWith(`${prefix}-`));
}

/** Root-namespace links whose name starts with `<prefix>-` (the bridge and the veth ends). */
export async function labLinks(prefix: string): Promise<string[]> {
  const out = await ip(['-o', 'link', 'show']);
  const names: string[] = [];
  for (const line of out.split('\n')) {
    // "12: tlab-h1@if2: <BROADCAST,...": the name ends at "@" or ":".
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m?.[1]?.startsWith(`${prefix}-`) === true) names.push(m[1]);
  }
  return names;
}

/** Pids of every process whose network namespace is `netns` (`ip netns pids`). */
export async function namespacePids(netns: string): Promise<number[]> {
  try {
    return (await ip(['netns', 'pids', netns]))
      .split('\n')
      .filter((l) => /^\d+$/.test(l.trim()))
      .map(Number);
  } catch {
    return [];
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Ends every process in the lab's namespaces (SIGTERM, SIGKILL after `graceMs`), deletes the
 * namespaces, then every link with the prefix. Finds all of it by name, so it also cleans up
 * after a run that died. Returns what it removed; throws if something is still there after.
 */
export async function removeNetwork(prefix: string, graceMs = 5000): Promise<{ namespaces: string[]; links: string[]; killed: number[] }> {
  const namespaces = await labNamespaces(prefix);
  const killed: number[] = [];
  for (const ns of namespaces) for (const pid of await namespacePids(ns)) killed.push(pid);
  for (const pid of killed) signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  for (;;) {
    const left: number[] = [];
    for (const ns of namespaces) left.push(...(await namespacePids(ns)));
    if (left.length === 0) break;
    if (Date.now() > deadline) {
      for (const pid of left) signal(pid, 'SIGKILL');
      await sleep(200);
      const stubborn: number[] = [];
      for (const ns of namespaces) stubborn.push(...(await namespacePids(ns)));
      if (stubborn.length === 0) break;
      if (Date.now() > deadline + 5000) throw new Error(`processes in the lab's namespaces did not end: ${stubborn.join(', ')}`);
    }
    await sleep(100);
  }
  for (const ns of namespaces) await ip(['netns', 'del', ns]).catch(() => undefined);
  const links = await labLinks(prefix);
  // The veth ends usually went with their namespaces; the bridge goes last.
  for (const l of links.sort((a, b) => Number(a.endsWith('-br')) - Number(b.endsWith('-br')))) await ip(['link', 'del', l]).catch(() => undefined);
  const nsLeft = await labNamespaces(prefix);
  const linksLeft = await labLinks(prefix);
  if (nsLeft.length > 0 || linksLeft.length > 0) throw new Error(`lab ${prefix}: could not remove ${[...nsLeft, ...linksLeft].join(', ')}`);
  return { namespaces, links, killed };
}

/** Cuts a host off the bridge (its veth end down) or joins it again. */
export async function setHostLink(host: LabHost, up: boolean): Promise<void> {
  await ip(['link', 'set', host.veth, up ? 'up' : 'down']);
}

/** True when this process may build a lab (root: network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN). */
export function canBuildLab(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The programs of `tools` that are not installed (looked up in PATH, as the lab runs them). */
export function missingTools(tools: readonly string[]): string[] {
  return tools.filter((tool) => {
    try {
      execFileSync('sh', ['-c', 'command -v "$0"', tool], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
}

/** Debian packages that hold the lab's programs, for messages. */
export const TOOL_PACKAGES: Record<string, string> = { ip: 'iproute2', unshare: 'util-linux', etcd: 'etcd-server' };
