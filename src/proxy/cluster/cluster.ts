import { DEFAULT_RETRY_BUDGET } from '../../api/snapshot.js';
import type { ClusterConfig } from '../../api/snapshot.js';
import { ProxyReason } from '../../errors.js';
import { compileHashPolicy, requestHash } from '../balancer/hash-key.js';
import type { HashPolicy, RequestHash } from '../balancer/hash-key.js';
import { createBalancer } from '../balancer/registry.js';
import type { Balancer, BalancerDeps } from '../balancer/types.js';
import type { Clock } from '../clock/clock.js';
import { ClusterLimits } from '../pool/cluster-limits.js';
import { HealthChecker } from '../resilience/health-check.js';
import type { HealthTarget } from '../resilience/health-check.js';
import { OutlierDetector } from '../resilience/outlier.js';
import { ClusterRetryBudget } from '../resilience/retry-budget.js';
import type { RouteTable } from '../routing/index.js';
import type { Endpoint } from './endpoint.js';

/** How long an endpoint whose peer proxy answered app-unavailable / draining is avoided. */
export const UNAVAILABLE_AVOID_MS = 2_000;

/**
 * One upstream service port: its endpoints, balancer, route table and resilience state
 * (circuit breaker, outlier detection, retry budget, health checks). The object lives as long
 * as the cluster is in the snapshot; a new snapshot reconfigures it in place, so counters,
 * budgets and ejections carry over.
 */
export class Cluster implements HealthTarget {
  endpoints: Endpoint[] = [];
  balancer: Balancer;
  /** Compiled routes of this service (null: every request goes to this cluster). */
  routes: RouteTable | null = null;
  readonly retryBudget: ClusterRetryBudget;
  readonly limits: ClusterLimits;
  /** Null when outlier detection is off (the per-response report is then one comparison). */
  outlier: OutlierDetector | null = null;
  /** Where the consistent-hash key comes from; null for other balancers. */
  hashPolicy: HashPolicy | null = null;
  private health: HealthChecker | null = null;
  /** Latest avoidUntil / ejectedUntil of any endpoint: while now is before it, pick() filters. */
  private avoiding = 0;
  /** Endpoints failing their health checks. */
  private unhealthy = 0;

  constructor(
    public config: ClusterConfig,
    private readonly deps: BalancerDeps,
    clock?: Clock,
  ) {
    this.balancer = createBalancer(config.loadBalancer, deps);
    this.retryBudget = new ClusterRetryBudget(config.retryBudget ?? DEFAULT_RETRY_BUDGET, deps.now);
    this.limits = new ClusterLimits(config.name, clock);
    this.configure(config, null, true);
  }

  get name(): string {
    return this.config.name;
  }

  get service(): string {
    return this.config.service;
  }

  /** Applies a validated config (same name) from a new snapshot. */
  configure(config: ClusterConfig, routes: RouteTable | null, initial = false): void {
    const old = this.config;
    this.config = config;
    this.routes = routes;
    if (!initial && (old.loadBalancer !== config.loadBalancer || !sameJson(old.hashOn, config.hashOn))) {
      this.balancer = createBalancer(config.loadBalancer, this.deps); // endpoints (pools, EWMA) stay
    }
    this.hashPolicy = config.loadBalancer === 'consistent-hash' ? compileHashPolicy(config.hashOn) : null;
    this.limits.configure(config.connectionPool);
    if (!initial) this.retryBudget.reconfigure(config.retryBudget ?? DEFAULT_RETRY_BUDGET);
    if (config.outlierDetection === undefined) {
      if (this.outlier !== null) for (const e of this.endpoints) e.outlier.reset();
      this.outlier = null;
    } else if (this.outlier === null) {
      this.outlier = new OutlierDetector(config.outlierDetection, this.deps.now);
    } else {
      this.outlier.config = config.outlierDetection;
    }
    if (initial || !sameJson(old.healthCheck, config.healthCheck)) this.restartHealthChecks();
  }

  /** Installs the endpoint list of a new snapshot (kept endpoints keep their state). */
  setEndpoints(endpoints: Endpoint[]): void {
    this.endpoints = endpoints;
    if (this.health === null) for (const e of endpoints) e.health.reset();
    this.countUnhealthy();
    let avoiding = 0;
    for (const e of endpoints) avoiding = Math.max(avoiding, e.avoidUntil, e.outlier.ejectedUntil);
    this.avoiding = avoiding;
  }

  /**
   * Picks an endpoint not in `exclude`; `hash` is the request's consistent-hash key. Avoided,
   * ejected and unhealthy endpoints are skipped while others are left. Fast path (nothing of
   * that going on): straight to the balancer, no allocation.
   */
  pick(exclude?: ReadonlySet<Endpoint>, hash?: number): Endpoint | undefined {
    if (this.avoiding === 0 && this.unhealthy === 0) return this.balancer.pick(this.endpoints, exclude, hash);
    return this.pickFiltered(exclude, hash);
  }

  /** Whether pick() would consider `ep` now (not avoided, not ejected, healthy or panic). */
  usable(ep: Endpoint, now = this.deps.now()): boolean {
    return ep.avoidUntil <= now && ep.outlier.ejectedUntil <= now && (ep.health.healthy || this.unhealthy >= this.endpoints.length);
  }

  /** The consistent-hash key of a request (only when hashPolicy is set). */
  requestHash(headers: readonly string[]): RequestHash {
    return requestHash(this.hashPolicy!, headers, this.deps.random);
  }

  /** The endpoint's peer proxy could not reach its app: prefer others for `ms`. */
  markUnavailable(ep: Endpoint, ms = UNAVAILABLE_AVOID_MS): void {
    const until = this.deps.now() + ms;
    ep.avoidUntil = until;
    if (until > this.avoiding) this.avoiding = until;
  }

  /** A response from `ep` ended; `failed`: 5xx, a reset, or a failing grpc-status. */
  reportResponse(ep: Endpoint, failed: boolean): void {
    if (this.outlier === null) return;
    const until = this.outlier.onResponse(ep, failed, this.endpoints);
    if (until > this.avoiding) this.avoiding = until;
  }

  /**
   * A connect (or pool acquire) to `ep` succeeded or failed. A failure also costs the endpoint
   * in the balancer (EndpointLoad.observeFailure), with or without outlier detection.
   */
  reportConnect(ep: Endpoint, ok: boolean): void {
    if (!ok) ep.load.observeFailure(this.deps.now());
    if (this.outlier === null) return;
    const until = this.outlier.onConnect(ep, ok, this.endpoints);
    if (until > this.avoiding) this.avoiding = until;
  }

  /** Endpoints ejected by outlier detection right now. */
  ejected(): Endpoint[] {
    const now = this.deps.now();
    return this.endpoints.filter((e) => e.outlier.ejectedUntil > now);
  }

  /** Endpoints failing their health checks. */
  unhealthyEndpoints(): Endpoint[] {
    return this.endpoints.filter((e) => !e.health.healthy);
  }

  /** Called by the health checker when an endpoint flips. */
  healthChanged(): void {
    this.countUnhealthy();
  }

  /** The cluster left the snapshot: checks stop, waiters get an answer. */
  close(): void {
    this.health?.stop();
    this.health = null;
    this.limits.rejectAll({ status: 503, reason: ProxyReason.UnknownCluster, message: `cluster ${this.name} was removed` });
  }

  private pickFiltered(exclude: ReadonlySet<Endpoint> | undefined, hash: number | undefined): Endpoint | undefined {
    const now = this.deps.now();
    if (this.avoiding !== 0 && now >= this.avoiding) {
      this.avoiding = 0;
      if (this.unhealthy === 0) return this.balancer.pick(this.endpoints, exclude, hash);
    }
    const skip = new Set<Endpoint>(exclude);
    for (const e of this.endpoints) if (!this.usable(e, now)) skip.add(e);
    // Nothing else left: better an avoided, ejected or unhealthy endpoint than none.
    return this.balancer.pick(this.endpoints, skip, hash) ?? this.balancer.pick(this.endpoints, exclude, hash);
  }

  private restartHealthChecks(): void {
    this.health?.stop();
    this.health = null;
    const hc = this.config.healthCheck;
    if (hc === undefined) {
      for (const e of this.endpoints) e.health.reset();
      this.countUnhealthy();
      return;
    }
    this.health = new HealthChecker(hc, this, this.deps.random);
    this.health.start();
  }

  private countUnhealthy(): void {
    let n = 0;
    for (const e of this.endpoints) if (!e.health.healthy) n++;
    this.unhealthy = n;
  }
}

function sameJson(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
