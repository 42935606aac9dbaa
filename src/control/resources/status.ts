import type { PortSpec } from '../../api/registry.js';
import type { Condition, Resource, ResourceStatus, RouteParentStatus } from '../../api/resources.js';
import { backendCluster, parentPorts, serviceKey, type ParentRefLike, type ServicePorts, type ServiceRef } from './refs.js';

export const CONTROLLER_NAME = 'trellis.dev/control-plane';

/** What status is computed against: registered services with their ports, FaultInjections, policies in effect. */
export interface StatusInputs {
  /** `namespace/name` -> ports. */
  services: ServicePorts;
  /** `namespace/name` of every FaultInjection. */
  faults: ReadonlySet<string>;
  /** Target service `namespace/name` -> the DestinationPolicy in effect there (see refs.ts policyWinners). */
  policyWinners?: ReadonlyMap<string, Resource>;
  /** ISO time the status is computed at (status is computed on read, not stored). */
  now: string;
  /** `<kind>/<namespace>/<name>` of every HTTPRoute, GRPCRoute and ExternalService (policies may target them). */
  routes?: ReadonlySet<string>;
}

interface RuleLike {
  backendRefs?: ServiceRef[];
  filters?: FilterLike[];
}
interface FilterLike {
  type: string;
  requestMirror?: { backendRef: ServiceRef };
  extensionRef?: { group: string; kind: string; name: string };
}

/** Problems of one route's references, collected over the parent ports it attaches to. */
interface RefProblems {
  backends: Set<string>;
  invalidKinds: Set<string>;
  faults: Set<string>;
}

/**
 * Kubernetes-style status for one resource. Routes: per parentRef, `Accepted` (the parent
 * Service is registered and has a port the ref attaches to, see refs.ts) and `ResolvedRefs`
 * (every backend, mirror backend and FaultInjection resolves). DestinationPolicy: `Accepted`
 * (target registered, and the oldest policy for it).
 */
export function statusOf(r: Resource, inp: StatusInputs): ResourceStatus {
  const ns = r.metadata.namespace;
  const generation = r.metadata.generation ?? 1;
  const cond = (type: string, ok: boolean, reason: string, message: string): Condition => ({
    type,
    status: ok ? 'True' : 'False',
    reason,
    message,
    observedGeneration: generation,
    lastTransitionTime: inp.now,
  });

  if (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute') {
    const spec = r.spec as { parentRefs: (ParentRefLike & { group: string; kind: string })[]; rules: RuleLike[] };
    const parents: RouteParentStatus[] = spec.parentRefs.map((p) => {
      const attached = parentPorts(p, ns, inp.services);
      const problems = refProblems(spec.rules, ns, attached.ports, inp);
      const resolved =
        problems.backends.size > 0
          ? cond('ResolvedRefs', false, 'BackendNotFound', `${[...problems.backends].join('; ')} (requests for those backends are answered 500)`)
          : problems.invalidKinds.size > 0
            ? cond('ResolvedRefs', false, 'InvalidKind', `filter kind(s) not supported: ${[...problems.invalidKinds].join(', ')}; the rules that use them answer 500`)
            : problems.faults.size > 0
              ? cond('ResolvedRefs', false, 'FilterNotFound', `FaultInjection(s) not found: ${[...problems.faults].join(', ')}; the rules that use them answer 500`)
              : cond('ResolvedRefs', true, 'ResolvedRefs', 'all references resolved');
      const accepted =
        attached.ports.length > 0
          ? cond('Accepted', true, 'Accepted', `attached to service ${attached.service} port(s) ${attached.ports.map((q) => q.name).join(', ')}`)
          : cond('Accepted', false, 'NoMatchingParent', `${attached.why ?? `service ${attached.service} not found`}: the route is not attached`);
      return {
        parentRef: { group: p.group, kind: p.kind, name: p.name, namespace: p.namespace ?? ns, ...(p.port !== undefined ? { port: p.port } : {}) },
        controllerName: CONTROLLER_NAME,
        conditions: [accepted, resolved],
      };
    });
    return { parents };
  }
  if (r.kind === 'DestinationPolicy') {
    const target = serviceKey((r.spec as { targetRef: ServiceRef }).targetRef, ns);
    if (!inp.services.has(target)) return { conditions: [cond('Accepted', false, 'TargetNotFound', `service ${target} is not registered: the policy is not attached`)] };
    const winner = inp.policyWinners?.get(target);
    if (winner !== undefined && (winner.metadata.namespace !== ns || winner.metadata.name !== r.metadata.name)) {
      const w = `${winner.metadata.namespace}/${winner.metadata.name}`;
      return { conditions: [cond('Accepted', false, 'Conflicted', `service ${target} already has DestinationPolicy ${w} (the oldest wins): this one is not applied`)] };
    }
    return { conditions: [cond('Accepted', true, 'Accepted', `applies to service ${target}`)] };
  }
  if (r.kind === 'AuthorizationPolicy' || r.kind === 'RateLimitPolicy') {
    const t = (r.spec as { targetRef: { kind: string; name: string; sectionName?: string } }).targetRef;
    const problem = policyTargetProblem(t, ns, inp);
    if (problem !== undefined) return { conditions: [cond('Accepted', false, 'TargetNotFound', `${problem}: the policy applies to nothing`)] };
    if (t.kind === 'ExternalService') return { conditions: [cond('Accepted', true, 'Accepted', `applies to ExternalService ${ns}/${t.name}, on the egress side of its callers`)] };
    const what = t.kind === 'Service' ? `service ${ns}/${t.name}${t.sectionName !== undefined ? ` port ${t.sectionName}` : ''}` : `${t.kind} ${ns}/${t.name}`;
    return { conditions: [cond('Accepted', true, 'Accepted', `applies to ${what}, on the inbound side of its replicas`)] };
  }
  if (r.kind === 'ExternalService') {
    const e = r.spec as { hostname: string; port: number; protocol: string };
    return { conditions: [cond('Accepted', true, 'Accepted', `${e.protocol} ${e.hostname}:${e.port}, through the egress listeners of port ${e.port} (mesh file spec.outbound.ports)`)] };
  }
  return { conditions: [cond('Accepted', true, 'Accepted', 'valid; takes effect where an HTTPRoute filter references it')] };
}

/** Why an AuthorizationPolicy's or RateLimitPolicy's target does not resolve, or undefined. */
function policyTargetProblem(t: { kind: string; name: string; sectionName?: string }, ns: string, inp: StatusInputs): string | undefined {
  if (t.kind !== 'Service') return inp.routes === undefined || inp.routes.has(`${t.kind}/${ns}/${t.name}`) ? undefined : `${t.kind} ${ns}/${t.name} not found`;
  const ports = inp.services.get(`${ns}/${t.name}`);
  if (ports === undefined) return `service ${ns}/${t.name} is not registered`;
  if (t.sectionName !== undefined && !ports.some((p) => p.name === t.sectionName)) return `service ${ns}/${t.name} has no port named "${t.sectionName}"`;
  return undefined;
}

/** Backends are resolved for every attached parent port; for a parent not attached, by service only. */
function refProblems(rules: RuleLike[], ns: string, ports: PortSpec[], inp: StatusInputs): RefProblems {
  const out: RefProblems = { backends: new Set(), invalidKinds: new Set(), faults: new Set() };
  const backend = (ref: ServiceRef): void => {
    if (ports.length === 0) {
      const key = serviceKey(ref, ns);
      if (!inp.services.has(key)) out.backends.add(`service ${key} is not registered`);
      return;
    }
    for (const port of ports) {
      const b = backendCluster(ref, ns, port, inp.services);
      if (!b.found && b.why !== undefined) out.backends.add(b.why);
    }
  };
  for (const rule of rules) {
    for (const f of rule.filters ?? []) {
      if (f.requestMirror !== undefined) backend(f.requestMirror.backendRef);
      const ext = f.extensionRef;
      if (ext === undefined) continue;
      if (ext.group !== 'trellis.dev' || ext.kind !== 'FaultInjection') out.invalidKinds.add(`${ext.group}/${ext.kind}`);
      else if (!inp.faults.has(`${ns}/${ext.name}`)) out.faults.add(`${ns}/${ext.name}`);
    }
    for (const b of rule.backendRefs ?? []) backend(b);
  }
  return out;
}
