import type { PortSpec } from '../../api/registry.js';
import type { Resource } from '../../api/resources.js';

/**
 * How the references of routes and policies resolve against the registered services. Shared
 * by the snapshot compiler (what the proxies get) and status (what users read), so the two
 * always agree.
 *
 * Trellis ports are named, Gateway API ports are numbers, so:
 * - a route's parentRef attaches to the port named by `sectionName`; without it, a numeric
 *   `port` attaches to the service's only port (none if it has several); with neither, to
 *   every port. Only http, http2 and grpc ports take routes (a tcp port is relayed opaque).
 * - a backendRef (or mirror) resolves BY NAME: the backend's port with the parent port's name,
 *   else its only port with the parent port's protocol. Its numeric `port` is optional and not
 *   used (the Gateway API requires it only for a Kubernetes Service, whose ports have numbers;
 *   "for other resources, destination port might be derived from the referent").
 */

/** `namespace/name` -> ports of every registered service. */
export type ServicePorts = ReadonlyMap<string, readonly PortSpec[]>;

export interface ServiceRef {
  name: string;
  namespace?: string | undefined;
}

export interface ParentRefLike extends ServiceRef {
  port?: number | undefined;
  sectionName?: string | undefined;
}

export function serviceKey(ref: ServiceRef, defaultNamespace: string): string {
  return `${ref.namespace ?? defaultNamespace}/${ref.name}`;
}

export function clusterOf(serviceKeyText: string, port: string): string {
  return `${serviceKeyText}:${port}`;
}

const ROUTABLE = new Set(['http', 'http2', 'grpc']);

/** Ports of the parent service a parentRef attaches to; `why` says why there are none. */
export function parentPorts(ref: ParentRefLike, routeNamespace: string, services: ServicePorts): { service: string; ports: PortSpec[]; why?: string } {
  const service = serviceKey(ref, routeNamespace);
  const all = services.get(service);
  if (all === undefined) return { service, ports: [], why: `service ${service} is not registered` };
  const routable = (p: PortSpec): boolean => ROUTABLE.has(p.protocol);
  const tcpWhy = (p: PortSpec): string => `port ${p.name} of service ${service} is ${p.protocol}: routes attach to http, http2 and grpc ports`;
  if (ref.sectionName !== undefined) {
    const p = all.find((q) => q.name === ref.sectionName);
    if (p === undefined) return { service, ports: [], why: `service ${service} has no port named "${ref.sectionName}" (its ports: ${names(all)})` };
    return routable(p) ? { service, ports: [p] } : { service, ports: [], why: tcpWhy(p) };
  }
  if (ref.port !== undefined) {
    const only = all.length === 1 ? all[0] : undefined;
    if (only === undefined) {
      return { service, ports: [], why: `Trellis ports are named: port ${ref.port} picks the only port of a service, and ${service} has ${all.length} (${names(all)}); name one with sectionName` };
    }
    return routable(only) ? { service, ports: [only] } : { service, ports: [], why: tcpWhy(only) };
  }
  const ports = all.filter(routable);
  return ports.length > 0 ? { service, ports } : { service, ports: [], why: `service ${service} has no http, http2 or grpc port` };
}

/**
 * The cluster a backendRef (or mirror backend) sends to for a parent port. An unresolved one
 * still gets a cluster name (`<ns>/<svc>:<parent port>`), which no proxy knows: its share of
 * requests is answered 500, as the Gateway API asks.
 */
export function backendCluster(ref: ServiceRef, routeNamespace: string, parentPort: PortSpec, services: ServicePorts): { cluster: string; found: boolean; why?: string } {
  const service = serviceKey(ref, routeNamespace);
  const fallback = clusterOf(service, parentPort.name);
  const all = services.get(service);
  if (all === undefined) return { cluster: fallback, found: false, why: `service ${service} is not registered` };
  if (all.some((p) => p.name === parentPort.name)) return { cluster: fallback, found: true };
  const same = all.filter((p) => p.protocol === parentPort.protocol);
  if (same.length === 1 && same[0] !== undefined) return { cluster: clusterOf(service, same[0].name), found: true };
  return {
    cluster: fallback,
    found: false,
    why: `service ${service} has no port named "${parentPort.name}" and not exactly one ${parentPort.protocol} port (its ports: ${names(all)})`,
  };
}

/** Creation time in epoch ms (0 when unknown, so such a resource counts as oldest). */
export function createdAt(r: Resource): number {
  const t = Date.parse(r.metadata.creationTimestamp ?? '');
  return Number.isFinite(t) ? t : 0;
}

/** Oldest first, then `namespace/name`: the Gateway API's tie-break for conflicting resources. */
export function olderFirst(a: Resource, b: Resource): number {
  return createdAt(a) - createdAt(b) || `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`);
}

/** The DestinationPolicy in effect for each target service (`ns/name`): the oldest of those targeting it. */
export function policyWinners(resources: readonly Resource[]): Map<string, Resource> {
  const out = new Map<string, Resource>();
  for (const r of resources.filter((x) => x.kind === 'DestinationPolicy').sort(olderFirst)) {
    const target = serviceKey((r.spec as { targetRef: ServiceRef }).targetRef, r.metadata.namespace);
    if (!out.has(target)) out.set(target, r);
  }
  return out;
}

function names(ports: readonly PortSpec[]): string {
  return ports.length === 0 ? 'none' : ports.map((p) => `${p.name}/${p.protocol}`).join(', ');
}
