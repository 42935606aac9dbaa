import type {
  AuthorizationOperationConfig,
  AuthorizationPolicyConfig,
  AuthorizationRuleConfig,
  AuthorizationSourceConfig,
  InboundPolicyConfig,
  RateLimitConfig,
} from '../../api/snapshot.js';
import { compileRouteTable } from '../routing/compile.js';
import type { RouteTable } from '../routing/table.js';
import { Authorizer } from './authorizer.js';
import type { CompiledCondition, CompiledOperation, CompiledRule, CompiledSource, DefaultDecisions, HealthCheckExemption } from './authorizer.js';
import { Rate } from './gcra.js';
import { compileGlob } from './glob.js';
import type { Glob } from './glob.js';
import { InboundPolicy } from './inbound-policy.js';
import { LimiterState, RateLimiter } from './rate-limiter.js';
import { NO_COUNTER } from './types.js';
import type { AuthzDecision, AuthzVerdict, PolicyCounter, PolicyCounters } from './types.js';
import { validateInboundPolicies } from './validate.js';
import type { PolicyProblem } from './validate.js';
import { isPathRefusal, normalizePath } from '../stages/normalize/path.js';

export interface PolicyCompileDeps {
  /** Where decisions are counted (the proxy's metrics); absent: not counted (`trellis why`). */
  counters?: PolicyCounters;
  /**
   * Rate-limit buckets by `<namespace>/<name>`: found ones are used (kept across snapshots),
   * missing ones are made and added. Absent: fresh buckets.
   */
  limiterStates?: Map<string, LimiterState>;
  /** Per-identity callers remembered per RateLimitPolicy (identity-buckets.ts). */
  identityCapacity?: number;
}

export type PolicyCompileResult = { ok: true; byPort: Map<string, InboundPolicy> } | { ok: false; problems: PolicyProblem[] };

/**
 * Validates and compiles a snapshot's `inbound` policies, one InboundPolicy per port. Never
 * throws on bad input: every problem comes back with its field path, and then nothing is
 * compiled (the snapshot is refused whole).
 */
export function compileInboundPolicies(list: unknown, deps: PolicyCompileDeps = {}, at = 'inbound'): PolicyCompileResult {
  const problems = validateInboundPolicies(list, at);
  if (problems.length > 0) return { ok: false, problems };
  const configs = (list ?? []) as InboundPolicyConfig[];
  // Routes of route-targeted policies, compiled once per policy.
  const routes = new Map<object, RouteTable | null>();
  configs.forEach((c, i) => {
    const compileRoute = (p: { route?: AuthorizationPolicyConfig['route'] }, path: string): void => {
      if (p.route === undefined || routes.has(p)) return;
      const r = compileRouteTable({ routes: [p.route] });
      if (r.ok) routes.set(p, r.table);
      else for (const e of r.errors) problems.push({ path: `${path}.route.${e.path.replace(/^routes\[0\]\.?/, '')}`, message: e.message });
    };
    c.authorization.forEach((p, j) => compileRoute(p, `${at}[${i}].authorization[${j}]`));
    c.rateLimits.forEach((p, j) => compileRoute(p, `${at}[${i}].rateLimits[${j}]`));
  });
  if (problems.length > 0) return { ok: false, problems };
  const byPort = new Map<string, InboundPolicy>();
  const counters = deps.counters;
  const states = deps.limiterStates ?? new Map<string, LimiterState>();
  for (const c of configs) {
    const authorizer = compileAuthorizer(c, (p) => routes.get(p) ?? null, counters);
    const limiters = c.rateLimits.map((r) => compileLimiter(r, routes.get(r) ?? null, states, deps.identityCapacity, counters));
    byPort.set(c.port, new InboundPolicy(c, authorizer, limiters));
  }
  return { ok: true, byPort };
}

function counter(counters: PolicyCounters | undefined, label: string, verdict: AuthzVerdict): PolicyCounter {
  return counters?.authz(label, verdict) ?? NO_COUNTER;
}

function decision(d: Omit<AuthzDecision, 'counter'>, counters: PolicyCounters | undefined, verdict: AuthzVerdict): AuthzDecision {
  return Object.freeze({ ...d, counter: counter(counters, d.label, verdict) });
}

export function compileAuthorizer(c: InboundPolicyConfig, routeOf: (p: AuthorizationPolicyConfig) => RouteTable | null, counters?: PolicyCounters): Authorizer {
  const deny: CompiledRule[] = [];
  const allow: CompiledRule[] = [];
  const audits: CompiledRule[] = [];
  for (const p of c.authorization) {
    const label = `${p.namespace}/${p.name}`;
    const route = routeOf(p);
    p.rules.forEach((r, k) => {
      const to = compileOperations(r, c.port);
      if (to === 'never') return;
      const verdict: AuthzVerdict = p.action === 'DENY' ? 'denied' : p.action === 'ALLOW' ? 'allowed' : 'audited';
      const what = p.action === 'DENY' ? 'denied by DENY' : p.action === 'ALLOW' ? 'allowed by ALLOW' : 'matched by AUDIT';
      const rule: CompiledRule = {
        route,
        from: r.from === undefined ? null : r.from.map((f) => compileSource(f.source)),
        to,
        when: (r.when ?? []).map((w): CompiledCondition => ({ header: w.header, values: globs(w.values), notValues: globs(w.notValues) })),
        unknownMatchesNot: p.action !== 'ALLOW',
        decision: decision(
          { allowed: p.action !== 'DENY', source: 'policy', action: p.action, policy: label, rule: k, label, reason: `${what} policy ${label} (rule ${k})` },
          counters,
          verdict,
        ),
      };
      (p.action === 'DENY' ? deny : p.action === 'ALLOW' ? allow : audits).push(rule);
    });
  }
  const from = c.defaultFrom === 'mesh' ? 'the mesh default' : `set by ${c.defaultFrom}`;
  const none = `no DENY or ALLOW policy matched; defaultAction ${c.defaultAction} (${from})`;
  const mk = (allowed: boolean, reason: string): AuthzDecision =>
    decision({ allowed, source: 'default', action: undefined, policy: undefined, rule: undefined, label: 'default', reason }, counters, allowed ? 'allowed' : 'denied');
  let defaults: DefaultDecisions;
  if (c.defaultAction === 'allow') {
    const d = mk(true, none);
    defaults = { authenticated: d, anonymous: d };
  } else if (c.defaultAction === 'deny') {
    const d = mk(false, none);
    defaults = { authenticated: d, anonymous: d };
  } else {
    defaults = { authenticated: mk(true, `${none}, and the caller has a verified identity`), anonymous: mk(false, `${none}, and the caller has no verified identity`) };
  }
  const health = decision(
    { allowed: true, source: 'health-check', action: undefined, policy: undefined, rule: undefined, label: 'health-check', reason: "the mesh's own health check of this port is always allowed" },
    counters,
    'allowed',
  );
  return new Authorizer(deny, allow, audits, defaults, healthExemption(c), health);
}

function healthExemption(c: InboundPolicyConfig): HealthCheckExemption | null {
  const h = c.healthCheck;
  if (h === undefined || (h.httpPaths.length === 0 && !h.grpc)) return null;
  const http: { path: string; query: string }[] = [];
  for (const target of h.httpPaths) {
    // The probe sends the configured path as its request-target; compare it as the normalize stage will see it.
    const q = target.indexOf('?');
    const n = normalizePath(q < 0 ? target : target.slice(0, q));
    if (!isPathRefusal(n)) http.push({ path: n, query: q < 0 ? '' : target.slice(q + 1) });
  }
  return { http, grpc: h.grpc };
}

function globs(list: readonly string[] | undefined, paths = false): Glob[] | null {
  return list === undefined ? null : list.map((p) => compileGlob(p, paths));
}

function compileSource(s: AuthorizationSourceConfig): CompiledSource {
  return {
    principals: globs(s.principals),
    notPrincipals: globs(s.notPrincipals),
    namespaces: globs(s.namespaces),
    notNamespaces: globs(s.notNamespaces),
    serviceAccounts: globs(s.serviceAccounts),
    notServiceAccounts: globs(s.notServiceAccounts),
  };
}

/** The rule's operations that can apply on `port` (null: any); 'never' when none can. */
function compileOperations(r: AuthorizationRuleConfig, port: string): CompiledOperation[] | null | 'never' {
  if (r.to === undefined) return null;
  const out: CompiledOperation[] = [];
  for (const { operation: o } of r.to) {
    if (!onPort(o, port)) continue;
    out.push({
      methods: o.methods ?? null,
      notMethods: o.notMethods ?? null,
      paths: globs(o.paths, true),
      notPaths: globs(o.notPaths, true),
      grpcServices: globs(o.grpcServices),
      grpcMethods: globs(o.grpcMethods),
    });
  }
  return out.length === 0 ? 'never' : out;
}

function onPort(o: AuthorizationOperationConfig, port: string): boolean {
  if (o.ports !== undefined && !o.ports.includes(port)) return false;
  return o.notPorts === undefined || !o.notPorts.includes(port);
}

function compileLimiter(
  r: RateLimitConfig,
  route: RouteTable | null,
  states: Map<string, LimiterState>,
  identityCapacity: number | undefined,
  counters: PolicyCounters | undefined,
): RateLimiter {
  const label = `${r.namespace}/${r.name}`;
  let state = states.get(label);
  if (state === undefined) {
    state = new LimiterState(identityCapacity);
    states.set(label, state);
  }
  const rate = (c: { requestsPerSecond: number; burst: number } | undefined): Rate | null => (c === undefined ? null : new Rate(c.requestsPerSecond, c.burst));
  const overrides = r.overrides === undefined ? null : new Map(r.overrides.map((o) => [o.principal, new Rate(o.requestsPerSecond, o.burst)]));
  return new RateLimiter(
    label,
    r.mode,
    route,
    rate(r.total),
    rate(r.perIdentity),
    overrides,
    state,
    counters?.rateLimit(label, r.mode, 'admitted') ?? NO_COUNTER,
    counters?.rateLimit(label, r.mode, 'limited') ?? NO_COUNTER,
  );
}
