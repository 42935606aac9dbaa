import type { PortSpec } from '../../api/registry.js';
import type { Resource } from '../../api/resources.js';
import type {
  AuthorizationPolicyConfig,
  AuthorizationRuleConfig,
  DefaultAction,
  GrpcRouteMatchConfig,
  HttpRouteMatchConfig,
  InboundPolicyConfig,
  RateConfig,
  RateLimitConfig,
  RouteConfig,
} from '../../api/snapshot.js';
import { defaultBurst, headerOfKey } from '../../config/resources/policy-schema.js';
import type { AuthorizationPolicySpec, DestinationPolicySpec, GRPCRouteSpec, HTTPRouteSpec, PolicyTargetRef, RateLimitPolicySpec } from '../../config/resources/schema.js';
import { globalShare } from './global-split.js';
import { createdAt, policyWinners, serviceKey } from '../resources/refs.js';
import type { ServicePorts } from '../resources/refs.js';

/**
 * What the compiler knows about one proxy's workload and the mesh when it builds that proxy's
 * snapshot: the inputs of `inboundPolicyFor`.
 */
export interface InboundPolicyInputs {
  /** Every stored resource (the compiler's list); AuthorizationPolicy, RateLimitPolicy, HTTPRoute, GRPCRoute and DestinationPolicy are read. */
  resources: readonly Resource[];
  /** `namespace/name` -> ports of every registered service (as the compiler indexes them). */
  services: ServicePorts;
  /** The workload the proxy belongs to. */
  workload: {
    namespace: string;
    /**
     * Every service whose endpoints are this workload's replicas, its own first, then the
     * label-selected services that pick it (names in `namespace`). A policy on any of them
     * applies here: the replica is where requests to all of them arrive.
     */
    services: readonly string[];
    /** Its ports: the proxy's inbound listeners. */
    ports: readonly PortSpec[];
  };
  /** The mesh file's `spec.authorization.defaultAction`. */
  meshDefaultAction: DefaultAction;
  /**
   * Ready replicas of a service (`namespace/name`) now: global rate limits are split over them
   * (global-split.ts). Called only for the targets of global limits that apply here; the
   * compiler records the calls, so a change of the count recompiles exactly these proxies.
   */
  readyReplicas(service: string): number;
}

export interface InboundPolicyResult {
  /** One entry per port of the workload, sorted by port name: `ProxySnapshot.inbound`. */
  inbound: InboundPolicyConfig[];
  /** Things an operator should know (a policy with no effect, a route target not found); for the control-plane log and `trellis why`. */
  warnings: string[];
}

const RESTRICTIVENESS: Record<DefaultAction, number> = { allow: 0, authenticated: 1, deny: 2 };
const ROUTABLE = new Set(['http', 'http2', 'grpc']);

interface Targeted<S> {
  resource: Resource;
  spec: S;
  /** Ports of this workload the policy applies to. */
  ports: Set<string>;
  /** The route it is limited to (route targets). */
  route?: RouteConfig;
}

/**
 * The inbound policies of one proxy, ready for its snapshot. Pure: the same inputs give the
 * same output (sorted), so unchanged proxies keep their snapshot version.
 *
 * - A policy applies here when its `targetRef` (in the policy's namespace) is one of the
 *   workload's services (all ports, or the port `sectionName` names), or an HTTPRoute /
 *   GRPCRoute with a rule that sends to one of them: then it applies to the requests the
 *   route's rules that send here select, on every http, http2 and grpc port.
 * - `defaultAction`: from AuthorizationPolicies that set one on these services; one for the
 *   port beats one for the whole service; among equals the most restrictive wins (deny,
 *   then authenticated, then allow). Otherwise the mesh file's.
 * - Global rate limits: this replica's share of the rate and burst (`globalShare`): the whole
 *   split over the target service's ready replicas. `readyReplicas` is called only for the
 *   targets of global limits that apply here: the compiler records those calls as the
 *   proxy's inputs, so a replica coming or going recompiles exactly the proxies that share.
 * - Health checks: the DestinationPolicy health checks of the workload's services, exempt
 *   from every policy on the proxy.
 */
export function inboundPolicyFor(inp: InboundPolicyInputs): InboundPolicyResult {
  const ns = inp.workload.namespace;
  const mine = new Set(inp.workload.services.map((s) => `${ns}/${s}`));
  const ports = [...inp.workload.ports].sort((a, b) => cmp(a.name, b.name));
  const warnings: string[] = [];
  const routes = new Map<string, Resource>();
  for (const r of inp.resources) if (r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute') routes.set(`${r.kind}/${r.metadata.namespace}/${r.metadata.name}`, r);

  const target = <S extends { targetRef: PolicyTargetRef }>(r: Resource): Targeted<S> | null => {
    const spec = r.spec as unknown as S;
    const t = spec.targetRef;
    if (r.metadata.namespace !== ns) return null;
    if (t.kind === 'Service') {
      if (!mine.has(`${ns}/${t.name}`)) return null;
      const on = ports.filter((p) => t.sectionName === undefined || p.name === t.sectionName).map((p) => p.name);
      return on.length === 0 ? null : { resource: r, spec, ports: new Set(on) };
    }
    if (t.kind === 'ExternalService') return null;
    const route = routes.get(`${t.kind}/${ns}/${t.name}`);
    if (route === undefined) return null;
    const predicate = routePredicate(route, mine);
    if (predicate === null) return null;
    return { resource: r, spec, ports: new Set(ports.filter((p) => ROUTABLE.has(p.protocol)).map((p) => p.name)), route: predicate };
  };

  const byName = (a: Resource, b: Resource): number => cmp(a.metadata.namespace, b.metadata.namespace) || cmp(a.metadata.name, b.metadata.name);
  const authz = inp.resources.filter((r) => r.kind === 'AuthorizationPolicy').sort(byName).map((r) => target<AuthorizationPolicySpec>(r)).filter((t) => t !== null);
  const limits = inp.resources.filter((r) => r.kind === 'RateLimitPolicy').sort(byName).map((r) => target<RateLimitPolicySpec>(r)).filter((t) => t !== null);
  const healthCheck = healthChecks(inp.resources, mine);

  const inbound = ports.map((port): InboundPolicyConfig => {
    const here = <S>(list: Targeted<S>[]): Targeted<S>[] => list.filter((t) => t.ports.has(port.name));
    const { action: defaultAction, from: defaultFrom } = defaultFor(here(authz), port.name, inp.meshDefaultAction);
    const authorization = here(authz)
      .filter((t) => t.spec.action !== undefined && t.spec.rules !== undefined)
      .map((t): AuthorizationPolicyConfig => ({
        namespace: t.resource.metadata.namespace,
        name: t.resource.metadata.name,
        action: t.spec.action as AuthorizationPolicyConfig['action'],
        rules: (t.spec.rules ?? []).map(ruleConfig),
        ...(t.route !== undefined ? { route: t.route } : {}),
      }));
    for (const a of authorization) {
      if (a.action === 'ALLOW' && defaultAction === 'allow') {
        warnings.push(`AuthorizationPolicy ${a.namespace}/${a.name} (ALLOW) changes nothing on port ${port.name}: its defaultAction is allow (${defaultFrom}); set defaultAction deny or authenticated to make ALLOW policies restrict callers`);
      }
    }
    const rateLimits = here(limits).map((t) => rateLimitConfig(t, inp));
    const out: InboundPolicyConfig = { port: port.name, defaultAction, defaultFrom, authorization, rateLimits };
    if (healthCheck !== null) out.healthCheck = healthCheck;
    return out;
  });
  for (const r of inp.resources) {
    if ((r.kind !== 'AuthorizationPolicy' && r.kind !== 'RateLimitPolicy') || r.metadata.namespace !== ns) continue;
    const t = (r.spec as { targetRef: PolicyTargetRef }).targetRef;
    // ExternalService targets are egress policies (src/control/compiler/egress.ts), not inbound ones.
    if (t.kind !== 'Service' && t.kind !== 'ExternalService' && !routes.has(`${t.kind}/${ns}/${t.name}`)) warnings.push(`${r.kind} ${ns}/${r.metadata.name}: ${t.kind} ${ns}/${t.name} not found`);
  }
  return { inbound, warnings: [...new Set(warnings)] };
}

/** Port-level beats service-level; then the most restrictive; then the first by name. */
function defaultFor(list: Targeted<AuthorizationPolicySpec>[], port: string, mesh: DefaultAction): { action: DefaultAction; from: string } {
  let best: { action: DefaultAction; from: string; portLevel: boolean } | null = null;
  for (const t of list) {
    const action = t.spec.defaultAction;
    if (action === undefined) continue;
    const portLevel = t.spec.targetRef.sectionName === port;
    const better =
      best === null ||
      (portLevel && !best.portLevel) ||
      (portLevel === best.portLevel && RESTRICTIVENESS[action] > RESTRICTIVENESS[best.action]);
    if (better) best = { action, from: `${t.resource.metadata.namespace}/${t.resource.metadata.name}`, portLevel };
  }
  return best === null ? { action: mesh, from: 'mesh' } : { action: best.action, from: best.from };
}

export function ruleConfig(r: NonNullable<AuthorizationPolicySpec['rules']>[number]): AuthorizationRuleConfig {
  const out: AuthorizationRuleConfig = {};
  if (r.from !== undefined) out.from = r.from.map((f) => ({ source: { ...f.source } }));
  if (r.to !== undefined) out.to = r.to.map((t) => ({ operation: { ...t.operation } }));
  if (r.when !== undefined) {
    out.when = r.when.map((w) => ({
      header: headerOfKey(w.key) ?? w.key,
      ...(w.values !== undefined ? { values: w.values } : {}),
      ...(w.notValues !== undefined ? { notValues: w.notValues } : {}),
    }));
  }
  return out;
}

function rateLimitConfig(t: Targeted<RateLimitPolicySpec>, inp: InboundPolicyInputs): RateLimitConfig {
  const s = t.spec;
  const rate = (r: { requestsPerSecond: number; burst?: number | undefined }): RateConfig => ({ requestsPerSecond: r.requestsPerSecond, burst: r.burst ?? defaultBurst(r.requestsPerSecond) });
  const out: RateLimitConfig = { namespace: t.resource.metadata.namespace, name: t.resource.metadata.name, mode: s.mode };
  if (t.route !== undefined) out.route = t.route;
  if (s.total !== undefined) {
    const whole = rate(s.total);
    if (s.total.global) {
      out.total = globalShare(whole, inp.readyReplicas(globalTarget(t.spec.targetRef, inp.workload)));
    } else {
      out.total = whole;
    }
  }
  if (s.perIdentity !== undefined) out.perIdentity = rate(s.perIdentity);
  if (s.overrides !== undefined) out.overrides = s.overrides.map((o) => ({ principal: o.principal, ...rate(o) }));
  return out;
}

/**
 * The service whose ready replicas share a global limit: the targeted Service, or for a route
 * target this workload's own service (the replicas that route's requests arrive at).
 */
function globalTarget(t: PolicyTargetRef, w: InboundPolicyInputs['workload']): string {
  return `${w.namespace}/${t.kind === 'Service' ? t.name : (w.services[0] ?? '')}`;
}

/**
 * A route as a predicate: its rules that send to one of the workload's services, with their
 * matches and the route's hostnames (backends are placeholders: nothing is sent anywhere).
 * null when no rule sends here.
 */
function routePredicate(route: Resource, mine: ReadonlySet<string>): RouteConfig | null {
  const rns = route.metadata.namespace;
  const placeholder = [{ cluster: `${rns}/${route.metadata.name}:policy` }];
  const meta = { namespace: rns, name: route.metadata.name, createdAt: createdAt(route) };
  const sendsHere = (refs: { name: string; namespace?: string | undefined }[] | undefined): boolean => (refs ?? []).some((b) => mine.has(serviceKey(b, rns)));
  if (route.kind === 'HTTPRoute') {
    const spec = route.spec as unknown as HTTPRouteSpec;
    const rules = spec.rules
      .filter((r) => sendsHere(r.backendRefs))
      .map((r) => ({
        matches: r.matches.map((m): HttpRouteMatchConfig => ({
          path: { type: m.path.type, value: m.path.value },
          ...(m.headers !== undefined ? { headers: m.headers.map((h) => ({ type: h.type, name: h.name, value: h.value })) } : {}),
          ...(m.queryParams !== undefined ? { queryParams: m.queryParams.map((q) => ({ type: q.type, name: q.name, value: q.value })) } : {}),
          ...(m.method !== undefined ? { method: m.method } : {}),
        })),
        backends: placeholder,
      }));
    if (rules.length === 0) return null;
    return { kind: 'HTTPRoute', ...meta, ...(spec.hostnames !== undefined ? { hostnames: spec.hostnames } : {}), rules };
  }
  const spec = route.spec as unknown as GRPCRouteSpec;
  const rules = spec.rules
    .filter((r) => sendsHere(r.backendRefs))
    .map((r) => ({
      ...(r.matches !== undefined
        ? {
            matches: r.matches.map((m): GrpcRouteMatchConfig => ({
              ...(m.method !== undefined
                ? { method: { type: m.method.type, ...(m.method.service !== undefined ? { service: m.method.service } : {}), ...(m.method.method !== undefined ? { method: m.method.method } : {}) } }
                : {}),
              ...(m.headers !== undefined ? { headers: m.headers.map((h) => ({ type: h.type, name: h.name, value: h.value })) } : {}),
            })),
          }
        : {}),
      backends: placeholder,
    }));
  if (rules.length === 0) return null;
  return { kind: 'GRPCRoute', ...meta, ...(spec.hostnames !== undefined ? { hostnames: spec.hostnames } : {}), rules };
}

/** The health checks callers run against these services (their DestinationPolicies), or null. */
function healthChecks(resources: readonly Resource[], mine: ReadonlySet<string>): { httpPaths: string[]; grpc: boolean } | null {
  const httpPaths = new Set<string>();
  let grpc = false;
  for (const [service, p] of policyWinners(resources)) {
    if (!mine.has(service)) continue;
    const hc = (p.spec as unknown as DestinationPolicySpec).healthCheck;
    if (hc?.http !== undefined) httpPaths.add(hc.http.path);
    if (hc?.grpc !== undefined) grpc = true;
  }
  return httpPaths.size === 0 && !grpc ? null : { httpPaths: [...httpPaths].sort(), grpc };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
