import { isIP } from 'node:net';
import type { IngressConfig, WorkloadConfig } from '../config/types.js';

/**
 * Which replicas of a workload one host runs, when several hosts share one mesh file
 * (docs/multi-host.md). A workload with `hosts: [h2, h3]` and `replicas: 2` runs replicas 0
 * and 1 on h2 and 2 and 3 on h3: numbering by the host's place in the list gives every replica
 * a mesh-wide number, so proxy node ids (`<namespace>/<workload>/<replica>`) never collide
 * between hosts, and every agent works it out alone from the same file.
 *
 * `host` null: every host's share (`trellis up` runs the whole mesh file on one machine).
 * A workload without `hosts` runs `replicas` replicas, numbered from 0, on every host.
 */
export function replicasOn(w: Pick<WorkloadConfig, 'replicas' | 'hosts'>, host: string | null): number[] {
  const perHost = w.replicas;
  if (w.hosts === null) return range(0, perHost);
  if (host === null) return range(0, perHost * w.hosts.length);
  const at = w.hosts.indexOf(host.toLowerCase());
  return at < 0 ? [] : range(at * perHost, perHost);
}

/** Replica numbers of an ingress on a host: one per host it runs on, numbered by its place in `hosts`. */
export function ingressReplicasOn(g: Pick<IngressConfig, 'hosts'>, host: string | null): number[] {
  return replicasOn({ replicas: 1, hosts: g.hosts }, host);
}

function range(from: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => from + i);
}

/** A wildcard listen address (0.0.0.0, ::) is reachable on every address of the host; it cannot be dialled. */
export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** 127.0.0.0/8 or ::1: an address only this host reaches (so only a control plane on this host). */
export function isLoopbackAddress(address: string): boolean {
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}

/**
 * Why `--advertise-address` cannot be used, or null when it can: peers dial it, so it must be
 * an IP address (no name: the agent binds it, and resolving names is the operator's business)
 * and not a wildcard (nobody can dial 0.0.0.0).
 */
export function advertiseAddressProblem(address: string): string | null {
  if (isIP(address) === 0) return `expected an IP address of this host (e.g. 10.0.0.5), got "${address}"`;
  if (isWildcard(address)) return `${address} is a wildcard: give the address peers dial to reach this host`;
  return null;
}
