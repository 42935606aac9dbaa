import { ProxyReason } from '../../errors.js';
import type { ClusterTable } from '../cluster/cluster-table.js';
import { percentHit, pickBackend } from '../routing/backend.js';
import { redirectLocation } from '../routing/rewrite.js';
import type { CompiledRule, RouteMatch } from '../routing/types.js';
import { planOf } from './plan.js';
import type { LocalReply, RequestPlan, RetryPolicy } from './plan.js';
import { firstHeader } from '../../util/flat-headers.js';

/**
 * Plans requests sent to one service (the outbound listener's cluster, the GAMMA "parent"):
 * its route table picks a rule, the rule's filters and weighted backends decide what happens.
 * Without routes every request goes to the parent cluster unchanged.
 *
 * Route tables are compiled per snapshot (Cluster.routes), so everything derived from a rule
 * is cached on the rule object and dies with it. A plan that depends on nothing random (no
 * fault, no partial mirror, one backend) is built once per rule and shared by its requests.
 */
export class ServicePlanner<U> {
  /** Plans that never change for a given upstream: keyed by cluster name. */
  private readonly direct = new Map<string, RequestPlan<U>>();
  private readonly upstreams = new Map<string, U>();
  private readonly shared = new WeakMap<CompiledRule, RequestPlan<U>>();
  private readonly retries = new WeakMap<CompiledRule, RetryPolicy | undefined>();

  /** The planner as a function, for `Http1ServerOptions.planner` / `StreamForwardOptions.planner`. */
  readonly plan = (method: string, target: string, headers: readonly string[]): RequestPlan<U> =>
    this.planRequest(method, target, headers);

  constructor(
    private readonly clusters: ClusterTable,
    private readonly parent: string,
    /** The upstream that sends to one cluster (e.g. a ClusterHttp1Upstream); called once per name. */
    private readonly upstreamFor: (cluster: string) => U,
    private readonly random: () => number = Math.random,
  ) {}

  planRequest(method: string, target: string, headers: readonly string[]): RequestPlan<U> {
    const cluster = this.clusters.get(this.parent);
    const table = cluster?.routes ?? null;
    if (table === null) return this.directPlan(this.parent);
    const match = table.route(method, target, headers);
    if (match === null) return this.localPlan(undefined, { status: 404, reason: ProxyReason.NoRoute, message: `no route of ${this.parent} matches ${method} ${pathOf(target)}` });
    const rule = match.rule;
    const filters = match.filters;
    if (filters.redirect !== undefined) {
      const location = redirectLocation(target, firstHeader(headers, 'host'), filters.redirect, match);
      return this.localPlan(match.route, { status: filters.redirect.statusCode, reason: ProxyReason.Redirect, message: `redirected to ${location}`, headers: ['location', location] });
    }
    let delayMs = 0;
    const fault = filters.fault;
    if (fault !== undefined) {
      if (fault.abort !== undefined && percentHit(fault.abort.percent, this.random)) {
        return this.localPlan(match.route, { status: fault.abort.status, reason: ProxyReason.FaultInjected, message: `fault injected by ${match.route}` });
      }
      if (fault.delay !== undefined && percentHit(fault.delay.percent, this.random)) delayMs = fault.delay.ms;
    }
    const cached = this.shared.get(rule);
    if (cached !== undefined && delayMs === 0) return cached;
    const backend = pickBackend(rule, this.random);
    if (backend === null || !backend.valid) {
      const why = backend === null ? 'has no backend with weight' : `sends to ${backend.cluster}, which is not a known service`;
      return this.localPlan(match.route, { status: 500, reason: ProxyReason.NoBackend, message: `route ${match.route} rule ${rule.index} ${why}` });
    }
    let mirrorsRandom = false;
    const mirrors: U[] = [];
    for (const m of filters.mirrors) {
      if (m.percent < 100) mirrorsRandom = true;
      if (this.clusters.get(m.cluster) !== undefined && percentHit(m.percent, this.random)) mirrors.push(this.upstream(m.cluster));
    }
    const plan = this.forwardPlan(match, backend.cluster, delayMs, mirrors);
    // Shareable when nothing in it was rolled: one backend, no fault, mirrors always or never.
    if (fault === undefined && !mirrorsRandom && rule.backends.length === 1) this.shared.set(rule, plan);
    return plan;
  }

  private forwardPlan(match: RouteMatch, backend: string, delayMs: number, mirrors: readonly U[]): RequestPlan<U> {
    const rule = match.rule;
    const filters = match.filters;
    const retry = this.retryPolicy(rule);
    return {
      local: null,
      upstream: this.upstream(backend),
      route: match.route,
      backend,
      requestHeaders: filters.requestHeaders,
      rewrite: filters.rewrite === undefined ? undefined : { rewrite: filters.rewrite, matchedPrefix: match.matchedPrefix },
      responseHeaders: filters.responseHeaders,
      delayMs,
      requestTimeoutMs: rule.timeouts.requestMs,
      tryTimeoutMs: rule.timeouts.backendRequestMs,
      retry,
      budget: retry === undefined ? undefined : this.clusters.get(backend)?.retryBudget,
      mirrors,
    };
  }

  private retryPolicy(rule: CompiledRule): RetryPolicy | undefined {
    if (this.retries.has(rule)) return this.retries.get(rule);
    const r = rule.retry;
    const policy: RetryPolicy | undefined =
      r === undefined || r.attempts <= 0
        ? undefined
        : { attempts: r.attempts, backoffMs: r.backoffMs, httpCodes: new Set(r.codes), grpcCodes: new Set(r.grpcCodes ?? []) };
    this.retries.set(rule, policy);
    return policy;
  }

  private upstream(cluster: string): U {
    let u = this.upstreams.get(cluster);
    if (u === undefined) {
      u = this.upstreamFor(cluster);
      this.upstreams.set(cluster, u);
    }
    return u;
  }

  private directPlan(cluster: string): RequestPlan<U> {
    let plan = this.direct.get(cluster);
    if (plan === undefined) {
      plan = planOf(this.upstream(cluster), { backend: cluster });
      this.direct.set(cluster, plan);
    }
    return plan;
  }

  private localPlan(route: string | undefined, local: LocalReply): RequestPlan<U> {
    return planOf<U>(null, { local, route });
  }
}

function pathOf(target: string): string {
  const q = target.indexOf('?');
  const p = q < 0 ? target : target.slice(0, q);
  return p.length > 200 ? `${p.slice(0, 200)}...` : p;
}
