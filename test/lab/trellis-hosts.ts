/**
 * Trellis on lab hosts, with the commands a user runs on real machines (docs/multi-host.md):
 * the control plane on one host, bound to that host's address, and on every host an agent
 * with `--advertise-address`. Used by `npm run hosts` (./hosts.ts) and the cross-host tests
 * (test/helpers/mesh-on-hosts.ts).
 *
 * What changes when the multi-host control plane lands (each place is marked TODO(etcd),
 * TODO(replicas) or TODO(join) below):
 * - TODO(etcd): controlPlaneArgv() adds `--store etcd://<e1>:2379,<e2>:2379,<e3>:2379`
 *   (the lab's etcd cluster, ./etcd.ts) instead of the file store in its state dir.
 * - TODO(replicas): a second control plane on another host with the same `--store` (hosts.ts
 *   starts `controlPlaneHosts`, today only the first); agents get every API URL
 *   (agentArgv's `controlPlaneUrls`, joined with ","), and the ready line lists them all.
 * - TODO(join): enrolAgent() stops copying the control plane's agent-token file into the
 *   agent's state dir: it runs `trellis token create --host <h>` against the API and the agent
 *   gets `--join <token>` instead.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { cliEntry } from '../../src/util/paths.js';

export const API_PORT = 15000;
export const PUSH_PORT = 15012;

/** How to run `trellis` here: the compiled CLI under this Node.js (a user types `trellis`). */
export function trellisCommand(): string[] {
  return [process.execPath, cliEntry];
}

export interface ControlPlaneOnHost {
  /** Host address: the API and push listeners bind it (peers on other hosts dial it). */
  address: string;
  stateDir: string;
  trustDomain: string;
  certTtl: string;
  /** etcd client URLs of the cluster the control plane will store its state in (TODO(etcd): unused until --store lands). */
  etcdEndpoints?: string[];
  logLevel?: string;
}

export function apiUrlOf(address: string): string {
  return `http://${address}:${API_PORT}`;
}

/** `trellis control-plane ...` on a host. */
export function controlPlaneArgv(o: ControlPlaneOnHost): string[] {
  return [
    ...trellisCommand(),
    'control-plane',
    '--state-dir', o.stateDir,
    '--api', `${o.address}:${API_PORT}`,
    '--push', `${o.address}:${PUSH_PORT}`,
    '--trust-domain', o.trustDomain,
    '--cert-ttl', o.certTtl,
    '--log-level', o.logLevel ?? 'info',
    // TODO(etcd): '--store', `etcd://${o.etcdEndpoints.map((u) => new URL(u).host).join(',')}`,
  ];
}

export interface AgentOnHost {
  meshDir: string;
  stateDir: string;
  /** API URLs of the control plane (TODO(replicas): today only the first is passed). */
  controlPlaneUrls: string[];
  advertiseAddress: string;
  logLevel?: string;
}

/** `trellis agent <mesh dir> ...` on a host; its host name (for `hosts:` placement) is the machine's. */
export function agentArgv(o: AgentOnHost): string[] {
  const first = o.controlPlaneUrls[0];
  if (first === undefined) throw new Error('an agent needs a control plane URL');
  return [
    ...trellisCommand(),
    'agent', o.meshDir,
    // TODO(replicas): '--control-plane', o.controlPlaneUrls.join(','),
    '--control-plane', first,
    '--state-dir', o.stateDir,
    '--advertise-address', o.advertiseAddress,
    '--log-level', o.logLevel ?? 'info',
  ];
}

/**
 * What lets a new host's agent talk to the control plane. Today: the control plane's
 * `agent-token` file, copied into the agent's state dir (as an operator would scp it).
 * TODO(join): `trellis token create --host <host>` on the control plane, `--join <token>` on the agent.
 */
export async function enrolAgent(controlPlaneStateDir: string, agentStateDir: string): Promise<void> {
  await mkdir(agentStateDir, { recursive: true, mode: 0o700 });
  await copyFile(join(controlPlaneStateDir, 'agent-token'), join(agentStateDir, 'agent-token'));
}

/** `trellis agent ...` shown as a user would type it, for the walk-through `npm run hosts` prints. */
export function asTyped(argv: string[]): string {
  const shown = argv[0] === process.execPath && argv[1] === cliEntry ? ['trellis', ...argv.slice(2)] : argv;
  return shown.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
