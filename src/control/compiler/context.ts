import type { PortSpec } from '../../api/registry.js';
import type { Resource } from '../../api/resources.js';
import type { ClusterConfig, EndpointConfig, RouteConfig } from '../../api/snapshot.js';
import type { DestinationPolicySpec, FaultInjectionSpec } from '../../config/resources/schema.js';
import { compileRouteTable } from '../../proxy/routing/compile.js';
import type { Registry } from '../registry/registry.js';
import { parentPorts, policyWinners, serviceKey, type ParentRefLike } from '../resources/refs.js';
import { policyFields, type PolicyFields } from './policy.js';
import { compileRoute, type RouteInputs } from './routes.js';

export const CONNECT_TIMEOUT_MS = 1000;

/** A route the proxy would refuse (its whole snapshot with it), so it was left out. */
export interface DroppedRoute {
  route: string;
  cluster: string;
  errors: string[];
}

/** Splits `<namespace>/<service>:<port>`; null when malformed. */
export function parseClusterName(name: string): { namespace: string; service: string; port: string } | null {
  const slash = name.indexOf('/');
  const colon = name.lastIndexOf(':');
  if (slash <= 0 || colon <= slash + 1 || colon === name.length - 1) return null;
  return { namespace: name.slice(0, slash), service: name.slice(slash + 1, colon), port: name.slice(colon + 1) };
}

/**
 * Everything one compile pass reads, indexed once: services and their ports, ready endpoints per
 * cluster, routes per parent service, the DestinationPolicy in effect per service and the
 * FaultInjections. Clusters are built once per pass and shared by every node that uses them.
 */
export class CompileContext {
  private readonly services = new Map<string, PortSpec[]>();
  private readonly endpoints = new Map<string, EndpointConfig[]>();
  private readonly routesByParent = new Map<string, Resource[]>();
  private readonly policies = new Map<string, PolicyFields>();
  private readonly routeInputs: RouteInputs;
  private readonly plain = new Map<string, ClusterConfig | null>();
  private readonly routed = new Map<string, { cluster: ClusterConfig; referenced: string[] } | null>();

  constructor(
    private readonly registry: Registry,
    /** Every stored resource of this pass. */
    readonly resources: readonly Resource[],
    private readonly onDroppedRoute: (d: DroppedRoute) => void = () => {},
  ) {
    for (const s of registry.services()) this.services.set(`${s.namespace}/${s.name}`, s.ports);
    for (const e of registry.endpoints()) {
      if (!e.ready) continue;
      const name = `${e.namespace}/${e.service}:${e.port}`;
      let list = this.endpoints.get(name);
      if (list === undefined) this.endpoints.set(name, (list = []));
      list.push({ host: e.host, port: e.portNumber, identity: e.identity, workload: e.workload, replica: e.replica });
    }
    for (const list of this.endpoints.values()) {
      list.sort((a, b) => cmp(a.workload, b.workload) || a.replica - b.replica || cmp(a.host, b.host) || a.port - b.port);
    }
    const faults = new Map<string, FaultInjectionSpec>();
    const routes = resources.filter((r) => r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute');
    routes.sort((a, b) => cmp(a.kind, b.kind) || cmp(a.metadata.namespace, b.metadata.namespace) || cmp(a.metadata.name, b.metadata.name));
    for (const r of routes) {
      const parents = new Set((r.spec as { parentRefs: ParentRefLike[] }).parentRefs.map((p) => serviceKey(p, r.metadata.namespace)));
      for (const p of parents) {
        let list = this.routesByParent.get(p);
        if (list === undefined) this.routesByParent.set(p, (list = []));
        list.push(r);
      }
    }
    for (const r of resources) if (r.kind === 'FaultInjection') faults.set(`${r.metadata.namespace}/${r.metadata.name}`, r.spec as FaultInjectionSpec);
    for (const [target, p] of policyWinners(resources)) this.policies.set(target, policyFields(p.spec as DestinationPolicySpec));
    this.routeInputs = { services: this.services, faults };
  }

  /** The cluster a node declared as an upstream: with the routes attached to it, and the clusters they send to. */
  upstream(name: string): { cluster: ClusterConfig; referenced: string[] } | null {
    let c = this.routed.get(name);
    if (c === undefined) {
      c = this.buildRouted(name);
      this.routed.set(name, c);
    }
    return c;
  }

  /** A cluster a route sends to: endpoints and policy, no routes (GAMMA: backends are endpoints, not re-routed). */
  backend(name: string): ClusterConfig | null {
    let c = this.plain.get(name);
    if (c === undefined) {
      c = this.buildPlain(name);
      this.plain.set(name, c);
    }
    return c;
  }

  private buildPlain(name: string): ClusterConfig | null {
    const c = parseClusterName(name);
    if (c === null) return null;
    const svc = `${c.namespace}/${c.service}`;
    const port = this.services.get(svc)?.find((p) => p.name === c.port);
    // A selected service is in services() too; a port nobody serves yields no cluster (`unknown-cluster`).
    const protocol = port?.protocol ?? this.registry.portProtocol(c.namespace, c.service, c.port);
    if (protocol === null) return null;
    const { loadBalancer, ...policy } = this.policies.get(svc) ?? {};
    return {
      name,
      namespace: c.namespace,
      service: c.service,
      port: c.port,
      protocol,
      loadBalancer: loadBalancer ?? this.registry.loadBalancer(c.namespace, c.service),
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      endpoints: this.endpoints.get(name) ?? [],
      ...policy,
    };
  }

  private buildRouted(name: string): { cluster: ClusterConfig; referenced: string[] } | null {
    const base = this.backend(name);
    if (base === null) return null;
    const svc = `${base.namespace}/${base.service}`;
    const referenced = new Set<string>();
    const routes: RouteConfig[] = [];
    for (const r of this.routesByParent.get(svc) ?? []) {
      const attaches = (r.spec as { parentRefs: ParentRefLike[] }).parentRefs.some((p) => {
        if (serviceKey(p, r.metadata.namespace) !== svc) return false;
        return parentPorts(p, r.metadata.namespace, this.services).ports.some((q) => q.name === base.port);
      });
      if (!attaches) continue;
      const refs = new Set<string>();
      const route = compileRoute(r, name, { name: base.port, protocol: base.protocol }, this.routeInputs, refs);
      // Checked with the proxy's own compiler: one route it would refuse must not cost the whole snapshot.
      const check = compileRouteTable({ routes: [route] });
      if (!check.ok) {
        this.onDroppedRoute({ route: `${r.kind}/${r.metadata.namespace}/${r.metadata.name}`, cluster: name, errors: check.errors.map((e) => `${e.path}: ${e.message}`) });
        continue;
      }
      routes.push(route);
      for (const x of refs) referenced.add(x);
    }
    if (routes.length === 0) return { cluster: base, referenced: [] };
    return { cluster: { ...base, routes: { routes } }, referenced: [...referenced].sort() };
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
