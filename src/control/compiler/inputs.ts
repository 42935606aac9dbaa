import type { Protocol } from '../../api/common.js';
import type { PortSpec, WorkloadView } from '../../api/registry.js';
import type { Resource } from '../../api/resources.js';
import type { EndpointConfig, LoadBalancerKind, TracingConfig } from '../../api/snapshot.js';
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
 * Trust domain, trust bundle and tracing are in every snapshot: they are not indexed, a change
 * of one recompiles everything.
 */
export const inputKey = {
  service: (svc: string): string => `svc:${svc}`,
  endpoints: (cluster: string): string => `ep:${cluster}`,
  policy: (svc: string): string => `policy:${svc}`,
  routes: (svc: string): string => `routes:${svc}`,
  fault: (name: string): string => `fault:${name}`,
};

/** What every snapshot carries besides its clusters. */
export interface GlobalInputs {
  trustDomain: string;
  trustBundlePem: string[];
  tracing: TracingConfig | undefined;
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

  constructor(readonly registry: Registry, readonly generation: number) {
    for (const [service, w] of registry.servedWorkloads()) {
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
  }
}

/** The resources' part of the inputs. */
class ResourceFacts {
  readonly routesByParent = new Map<string, Resource[]>();
  readonly faults = new Map<string, FaultInjectionSpec>();
  readonly policies = new Map<string, PolicyFields>();
  readonly sigs = new Map<string, string>();

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
    return new CompileInputs(reg, res, global, JSON.stringify([global.trustDomain, global.trustBundlePem, global.tracing ?? null]));
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
