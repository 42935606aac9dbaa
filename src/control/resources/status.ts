import type { Condition, Resource, ResourceStatus, RouteParentStatus } from '../../api/resources.js';

export const CONTROLLER_NAME = 'trellis.dev/control-plane';

/** What status is computed against: `namespace/name` of known services and FaultInjections. */
export interface StatusInputs {
  services: ReadonlySet<string>;
  faults: ReadonlySet<string>;
  /** ISO time the status is computed at (status is computed on read, not stored). */
  now: string;
}

interface Ref {
  name: string;
  namespace?: string | undefined;
}

interface RuleLike {
  backendRefs?: (Ref & { filters?: FilterLike[] })[];
  filters?: FilterLike[];
}
interface FilterLike {
  type: string;
  requestMirror?: { backendRef: Ref };
  extensionRef?: { name: string };
}

/**
 * Kubernetes-style status for one resource. Routes: per parentRef, `Accepted` (the parent
 * Service is registered) and `ResolvedRefs` (every backendRef, mirror backend and
 * FaultInjection it names exists). DestinationPolicy: `Accepted` (target Service registered).
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
  const svc = (ref: Ref): string => `${ref.namespace ?? ns}/${ref.name}`;

  if (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute') {
    const spec = r.spec as { parentRefs: (Ref & { port?: number; group: string; kind: string })[]; rules: RuleLike[] };
    const missingBackends = new Set<string>();
    const missingFaults = new Set<string>();
    const filterRefs = (filters: FilterLike[] | undefined): void => {
      for (const f of filters ?? []) {
        if (f.requestMirror !== undefined && !inp.services.has(svc(f.requestMirror.backendRef))) missingBackends.add(svc(f.requestMirror.backendRef));
        if (f.extensionRef !== undefined && !inp.faults.has(`${ns}/${f.extensionRef.name}`)) missingFaults.add(`${ns}/${f.extensionRef.name}`);
      }
    };
    for (const rule of spec.rules) {
      filterRefs(rule.filters);
      for (const b of rule.backendRefs ?? []) {
        if (!inp.services.has(svc(b))) missingBackends.add(svc(b));
        filterRefs(b.filters);
      }
    }
    const resolved =
      missingBackends.size > 0
        ? cond('ResolvedRefs', false, 'BackendNotFound', `backend service(s) not registered: ${[...missingBackends].join(', ')}`)
        : missingFaults.size > 0
          ? cond('ResolvedRefs', false, 'FilterNotFound', `FaultInjection(s) not found: ${[...missingFaults].join(', ')}`)
          : cond('ResolvedRefs', true, 'ResolvedRefs', 'all references resolved');
    const parents: RouteParentStatus[] = spec.parentRefs.map((p) => {
      const target = svc(p);
      const found = inp.services.has(target);
      return {
        parentRef: { group: p.group, kind: p.kind, name: p.name, namespace: p.namespace ?? ns, ...(p.port !== undefined ? { port: p.port } : {}) },
        controllerName: CONTROLLER_NAME,
        conditions: [
          found ? cond('Accepted', true, 'Accepted', `attached to service ${target}`) : cond('Accepted', false, 'NoMatchingParent', `service ${target} is not registered: the route is not attached`),
          resolved,
        ],
      };
    });
    return { parents };
  }
  if (r.kind === 'DestinationPolicy') {
    const target = svc((r.spec as { targetRef: Ref }).targetRef);
    const found = inp.services.has(target);
    return { conditions: [found ? cond('Accepted', true, 'Accepted', `applies to service ${target}`) : cond('Accepted', false, 'TargetNotFound', `service ${target} is not registered: the policy is not attached`)] };
  }
  return { conditions: [cond('Accepted', true, 'Accepted', 'valid; takes effect where an HTTPRoute filter references it')] };
}
