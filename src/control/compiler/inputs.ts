import type { Protocol } from '../../api/common.js';
import type { PortSpec, WorkloadView } from '../../api/registry.js';
import type { Resource } from '../../api/resources.js';
import type { DefaultAction, EndpointConfig, LoadBalancerKind, TracingConfig } from '../../api/snapshot.js';
import type { DestinationPolicySpec, FaultInjectionSpec } from '../../config/resources/schema.js';
import type { Registry } from '../registry/registry.js';
import { policyWinners, serviceKey, type ParentRefLike } from '../resources/refs.js';
import { policyFields, type PolicyFields } from './policy.js';

/**
 * The names of the inputs a compiled cluster can read; the dependency index maps them to what
 * read them. Each names one fact a snapshot can depend on:
 * - `svc:<ns>/<name>`     a service's ports, the protocols and balancer its workloads declare
 * - `ep:<cluster>`        the ready endpoints of a cluster (`<ns>/<svc>:<port>`)
 * - `policy:<ns>/<name>`  the DestinationPolicy in effect for a service
 * - `routes:<ns>/<name>`  the HTTPRoutes and GRPCRoutes whose parentRefs name a service
 * - `fault:<ns>/<name>`   a FaultInjection
 * and what a proxy's inbound policy (src/control/policy) reads:
 * - `inpolicy:<ns>/<name>` the AuthorizationPolicies and RateLimitPolicies that can apply to a
 *                          service's workloads (targeting it, or a route that sends to it),
 *                          the routes they target and the service's DestinationPolicy (its
 *                          health checks are exempt from authorization)
 * - `wl:<workload key>`    a workload's namespace, ports and the services it serves
 * - `ready:<ns>/<name>`    how many replicas of a service are ready (global rate limits)
 * Trust domain, trust bundle, tracing and the mesh's default authorization action are in every
 * snapshot: they are not indexed, a change of one recompiles everything.
 */
export const inputKey = {
  service: (svc: string): string => `svc:${svc}`,
  endpoints: (cluster: string): string => `ep:${cluster}`,
  policy: (svc: string): string => `policy:${svc}`,
  routes: (svc: string): string => `routes:${svc}`,
  fault: (name: string): string => `fault:${name}`,
  inboundPolicy: (svc: string): string => `inpolicy:${svc}`,
  workload: (key: string): string => `wl:${key}`,
  ready: (svc: string): string => `ready:${svc}`,
};

/** A workload as its proxies' inbound policy sees it (one per agent that reports it). */
export interface InboundWorkload {
  namespace: string;
  /** Its own service first, then the label-selected services that pick it. */
  services: string[];
  ports: PortSpec[];
  /** An ingress gateway has no inbound listeners: no inbound policy. */
  ingress: boolean;
}

/** The key of a workload as one agent reports it: what a node's inbound policy is compiled per. */
export function workloadKey(agentId: string, namespace: string, workload: string): string {
  return `${namespace}/${workload}@${agentId}`;
}

/** What every snapshot carries besides its clusters. */
export interface GlobalInputs {
  trustDomain: string;
  trustBundlePem: string[];
  tracing: TracingConfig | undefined;
  /** The mesh file's `spec.authorization.defaultAction` (absent: allow). */
  meshDefaultAction?: DefaultAction;
}

/** Resource JSON, once per stored object: resources are replaced, never changed in place. */
const resourceJson = new WeakMap<Resource, string>();
function jsonOf(r: Resource): string {
  let s = resourceJson.get(r);
  if (s === undefined) resourceJson.set(r, (s = JSON.stringify(r)));
  return s;
}

/**
 * A workload's ready endpoints as (cluster, EndpointConfig) pairs, kept per report (an agent's
 * report objects are replaced, never changed, and an unchanged agent's stay the same objects):
 * a change rebuilds only the changed agent's, and unchanged endpoints are the same objects, so
 * comparing them with the last state is mostly reference checks.
 */
const endpointCache = new WeakMap<object, Map<string, [string, EndpointConfig][]>>();
function readyEndpoints(w: WorkloadView, service: string): [string, EndpointConfig][] {
  let byService = endpointCache.get(w.replicas);
  if (byService === undefined) endpointCache.set(w.replicas, (byService = new Map()));
  // The identity comes from the trust domain too: part of the key.
  const key = `${service}\n${w.namespace}\n${w.name}\n${w.identity}`;
  let out = byService.get(key);
  if (out === undefined) {
    out = [];
    for (const r of w.replicas) {
      if (r.state !== 'ready') continue;
      for (const ep of r.endpoints) {
        out.push([`${w.namespace}/${service}:${ep.port}`, { host: ep.host, port: ep.portNumber, identity: w.identity, workload: w.name, replica: r.replica }]);
      }
    }
    byService.set(key, out);
  }
  return out;
}

/** The registry's part of the inputs, derived once per registry generation. */
class RegistryFacts {
  readonly endpoints = new Map<string, EndpointConfig[]>();
  /** `svc:` input -> a signature of everything cluster building reads about the service. */
  readonly serviceSigs = new Map<string, string>();
  /** Workload key -> what its inbound policy reads about it, and that as a signature. */
  readonly workloads = new Map<string, InboundWorkload>();
  readonly workloadSigs = new Map<string, string>();
  /** `namespace/service` -> ready replicas serving it. */
  readonly ready = new Map<string, number>();

  constructor(readonly registry: Registry, readonly generation: number) {
    for (const [service, w] of registry.servedWorkloads()) {
      const key = workloadKey(w.agentId, w.namespace, w.name);
      let iw = this.workloads.get(key);
      if (iw === undefined) this.workloads.set(key, (iw = { namespace: w.namespace, services: [], ports: w.ports, ingress: w.ingress }));
      if (!iw.services.includes(service)) iw.services.push(service);
      const svc = `${w.namespace}/${service}`;
      let n = this.ready.get(svc) ?? 0;
      for (const r of w.replicas) if (r.state === 'ready') n++;
      this.ready.set(svc, n);
      for (const [name, e] of readyEndpoints(w, service)) {
        let list = this.endpoints.get(name);
        if (list === undefined) this.endpoints.set(name, (list = []));
        list.push(e);
      }
    }
    for (const list of this.endpoints.values()) {
      if (list.length > 1) list.sort((a, b) => cmp(a.workload, b.workload) || a.replica - b.replica || cmp(a.host, b.host) || a.port - b.port);
    }
    const ports = registry.servicePorts();
    const keys = new Set(ports.keys());
    for (const w of registry.workloads()) keys.add(`${w.namespace}/${w.service}`);
    for (const s of registry.selectedServices()) keys.add(`${s.namespace}/${s.name}`);
    for (const svc of keys) {
      const slash = svc.indexOf('/');
      // Protocol and balancer come from the serving workloads, in order: their ports, ingress flag and balancer are what they read.
      const serving = registry.servingWorkloads(svc.slice(0, slash), svc.slice(slash + 1)).map((w) => [w.ports, w.ingress, w.loadBalancer ?? null]);
      this.serviceSigs.set(svc, JSON.stringify([ports.get(svc) ?? null, serving]));
    }
    for (const [key, w] of this.workloads) this.workloadSigs.set(key, JSON.stringify(w));
  }
}

/** The resources' part of the inputs. */
class ResourceFacts {
  readonly routesByParent = new Map<string, Resource[]>();
  readonly faults = new Map<string, FaultInjectionSpec>();
  readonly policies = new Map<string, PolicyFields>();
  readonly sigs = new Map<string, string>();
  /** `namespace/service` -> the resources inboundPolicyFor reads for that service's workloads. */
  readonly inbound = new Map<string, Resource[]>();

  constructor(readonly list: readonly Resource[]) {
    const routes = list.filter((r) => r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute');
    routes.sort((a, b) => cmp(a.kind, b.kind) || cmp(a.metadata.namespace, b.metadata.namespace) || cmp(a.metadata.name, b.metadata.name));
    for (const r of routes) {
      const parents = new Set((r.spec as { parentRefs: ParentRefLike[] }).parentRefs.map((p) => serviceKey(p, r.metadata.namespace)));
      for (const p of parents) {
        let l = this.routesByParent.get(p);
        if (l === undefined) this.routesByParent.set(p, (l = []));
        l.push(r);
      }
    }
    for (const [svc, l] of this.routesByParent) this.sigs.set(inputKey.routes(svc), l.map(jsonOf).join('\n'));
    for (const r of list) {
      if (r.kind !== 'FaultInjection') continue;
      const name = `${r.metadata.namespace}/${r.metadata.name}`;
      this.faults.set(name, r.spec as FaultInjectionSpec);
      this.sigs.set(inputKey.fault(name), JSON.stringify(r.spec));
    }
    for (const [target, p] of policyWinners(list)) {
      const fields = policyFields(p.spec as DestinationPolicySpec);
      this.policies.set(target, fields);
      this.sigs.set(inputKey.policy(target), JSON.stringify(fields));
    }
    this.indexInbound(list);
  }

  /**
   * Which services each AuthorizationPolicy and RateLimitPolicy can apply to: the Service it
   * targets, or every service the rules of the route it targets send to (the route comes
   * along: its matches limit the policy). A policy whose route does not exist applies nowhere
   * until the route appears, which changes the route's services' signatures then.
   */
  private indexInbound(list: readonly Resource[]): void {
    const add = (svc: string, r: Resource): void => {
      let l = this.inbound.get(svc);
      if (l === undefined) this.inbound.set(svc, (l = []));
      if (!l.includes(r)) l.push(r);
    };
    const routes = new Map<string, Resource>();
    for (const r of list) if (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute') routes.set(`${r.kind}/${r.metadata.namespace}/${r.metadata.name}`, r);
    for (const r of list) {
      if (r.kind !== 'AuthorizationPolicy' && r.kind !== 'RateLimitPolicy') continue;
      const ns = r.metadata.namespace;
      const t = (r.spec as { targetRef: { kind: string; name: string } }).targetRef;
      if (t.kind === 'Service') {
        add(`${ns}/${t.name}`, r);
        continue;
      }
      const route = routes.get(`${t.kind}/${ns}/${t.name}`);
      if (route === undefined) continue;
      for (const rule of (route.spec as { rules: { backendRefs?: { name: string; namespace?: string | undefined }[] }[] }).rules) {
        for (const b of rule.backendRefs ?? []) {
          const svc = serviceKey(b, ns);
          add(svc, r);
          add(svc, route);
        }
      }
    }
    // A service's health checks (its DestinationPolicy's) are exempt from its default action too.
    for (const [target, p] of policyWinners(list)) add(target, p);
    for (const [svc, l] of this.inbound) {
      l.sort((a, b) => cmp(a.kind, b.kind) || cmp(a.metadata.namespace, b.metadata.namespace) || cmp(a.metadata.name, b.metadata.name));
      this.sigs.set(inputKey.inboundPolicy(svc), l.map(jsonOf).join('\n'));
    }
  }

  /** True when `list` holds the same resource objects in the same order (nothing to redo). */
  sameAs(list: readonly Resource[]): boolean {
    return list.length === this.list.length && list.every((r, i) => r === this.list[i]);
  }
}

/**
 * One state of everything a snapshot is compiled from, indexed for the cluster builder, and
 * the difference from the previous state as input keys (`changedSince`). The registry's part is
 * rebuilt only when the registry's generation moved, the resources' part only when the list
 * holds other objects; both are linear in the mesh and cheap next to compiling, hashing and
 * pushing snapshots, which is what the input keys let the compiler skip.
 */
export class CompileInputs {
  private constructor(
    private readonly reg: RegistryFacts,
    private readonly res: ResourceFacts,
    readonly global: GlobalInputs,
    readonly globalSig: string,
  ) {}

  static build(registry: Registry, resources: readonly Resource[], global: GlobalInputs, prev?: CompileInputs): CompileInputs {
    const reg = prev !== undefined && prev.reg.registry === registry && prev.reg.generation === registry.generation ? prev.reg : new RegistryFacts(registry, registry.generation);
    const res = prev !== undefined && prev.res.sameAs(resources) ? prev.res : new ResourceFacts(resources);
    return new CompileInputs(reg, res, global, JSON.stringify([global.trustDomain, global.trustBundlePem, global.tracing ?? null, global.meshDefaultAction ?? 'allow']));
  }

  get registry(): Registry {
    return this.reg.registry;
  }
  /** `namespace/name` -> ports of every registered service. */
  get services(): ReadonlyMap<string, readonly PortSpec[]> {
    return this.reg.registry.servicePorts();
  }
  get routesByParent(): ReadonlyMap<string, readonly Resource[]> {
    return this.res.routesByParent;
  }
  get faults(): ReadonlyMap<string, FaultInjectionSpec> {
    return this.res.faults;
  }
  policy(svc: string): PolicyFields | undefined {
    return this.res.policies.get(svc);
  }
  /** The resources inboundPolicyFor reads for a service's workloads (policies, their routes, the DestinationPolicy). */
  inboundResources(svc: string): readonly Resource[] {
    return this.res.inbound.get(svc) ?? [];
  }
  /** The workload (one agent's report of it) a node belongs to. */
  workload(key: string): InboundWorkload | undefined {
    return this.reg.workloads.get(key);
  }
  readyReplicas(svc: string): number {
    return this.reg.ready.get(svc) ?? 0;
  }
  endpoints(cluster: string): EndpointConfig[] {
    return this.reg.endpoints.get(cluster) ?? [];
  }
  portProtocol(namespace: string, service: string, port: string): Protocol | null {
    return this.reg.registry.portProtocol(namespace, service, port);
  }
  loadBalancer(namespace: string, service: string): LoadBalancerKind {
    return this.reg.registry.loadBalancer(namespace, service);
  }

  /** Input keys whose value differs from `prev` (appeared, disappeared or changed). Globals are compared apart (globalSig). */
  changedSince(prev: CompileInputs): Set<string> {
    const out = new Set<string>();
    if (prev.reg !== this.reg) {
      diffSigs(prev.reg.serviceSigs, this.reg.serviceSigs, inputKey.service, out);
      const a = prev.reg.endpoints;
      const b = this.reg.endpoints;
      for (const [name, list] of b) if (!sameEndpoints(a.get(name), list)) out.add(inputKey.endpoints(name));
      for (const name of a.keys()) if (!b.has(name)) out.add(inputKey.endpoints(name));
      diffSigs(prev.reg.workloadSigs, this.reg.workloadSigs, inputKey.workload, out);
      for (const [svc, n] of this.reg.ready) if (prev.reg.ready.get(svc) !== n) out.add(inputKey.ready(svc));
      for (const svc of prev.reg.ready.keys()) if (!this.reg.ready.has(svc)) out.add(inputKey.ready(svc));
    }
    if (prev.res !== this.res) diffSigs(prev.res.sigs, this.res.sigs, (k) => k, out);
    // Whoever iterated a kind of input (RecordingMap) read every key of it, present and future.
    for (const k of [...out]) out.add(`${k.slice(0, k.indexOf(':') + 1)}*`);
    return out;
  }
}

function diffSigs(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>, key: (k: string) => string, out: Set<string>): void {
  for (const [k, v] of b) if (a.get(k) !== v) out.add(key(k));
  for (const k of a.keys()) if (!b.has(k)) out.add(key(k));
}

/** Field by field (every field of an EndpointConfig is a primitive), so a field added later is compared too. */
function sameEndpoints(a: readonly EndpointConfig[] | undefined, b: readonly EndpointConfig[]): boolean {
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as unknown as Record<string, unknown>;
    const y = b[i] as unknown as Record<string, unknown>;
    if (x === y) continue;
    let n = 0;
    for (const k in x) {
      if (x[k] !== y[k]) return false;
      n++;
    }
    if (n !== Object.keys(y).length) return false;
  }
  return true;
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
