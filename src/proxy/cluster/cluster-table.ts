import type { ClusterConfig } from '../../api/snapshot.js';
import { createBalancer, defaultBalancerDeps } from '../balancer/registry.js';
import type { Balancer, BalancerDeps } from '../balancer/types.js';
import type { Http1PoolOptions } from '../pool/http1-pool.js';
import { Endpoint, endpointKey } from './endpoint.js';
import type { EndpointConnectorFactory } from './endpoint.js';

/** How long an endpoint whose peer proxy answered app-unavailable / draining is avoided. */
export const UNAVAILABLE_AVOID_MS = 2_000;

export class Cluster {
  endpoints: Endpoint[] = [];
  balancer: Balancer;
  /** Latest `avoidUntil` of any endpoint: while now is before it, pick() skips avoided ones. */
  private avoiding = 0;

  constructor(
    public config: ClusterConfig,
    private readonly deps: BalancerDeps,
  ) {
    this.balancer = createBalancer(config.loadBalancer, deps);
  }

  get name(): string {
    return this.config.name;
  }

  pick(exclude?: ReadonlySet<Endpoint>): Endpoint | undefined {
    if (this.avoiding !== 0) return this.pickAvoiding(exclude);
    return this.balancer.pick(this.endpoints, exclude);
  }

  /** The endpoint's peer proxy could not reach its app: prefer others for `ms`. */
  markUnavailable(ep: Endpoint, ms = UNAVAILABLE_AVOID_MS): void {
    const until = this.deps.now() + ms;
    ep.avoidUntil = until;
    if (until > this.avoiding) this.avoiding = until;
  }

  /** Slow path, only while some endpoint is avoided: avoided ones are picked only if nothing else is left. */
  private pickAvoiding(exclude?: ReadonlySet<Endpoint>): Endpoint | undefined {
    const now = this.deps.now();
    if (now >= this.avoiding) {
      this.avoiding = 0;
      return this.balancer.pick(this.endpoints, exclude);
    }
    const skip = new Set<Endpoint>(exclude);
    for (const e of this.endpoints) if (e.avoidUntil > now) skip.add(e);
    return this.balancer.pick(this.endpoints, skip) ?? this.balancer.pick(this.endpoints, exclude);
  }
}

export interface ClusterTableDeps {
  connector: EndpointConnectorFactory;
  balancer?: BalancerDeps;
  pool?: Http1PoolOptions;
}

/**
 * name -> Cluster, rebuilt from each accepted snapshot. Endpoints that stay keep their
 * objects (pools, EWMA); removed ones are closed gracefully (in-flight requests finish).
 * Lookups are by name on every request, so listeners never hold a stale Cluster.
 */
export class ClusterTable {
  private clusters = new Map<string, Cluster>();

  constructor(private readonly deps: ClusterTableDeps) {}

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  names(): string[] {
    return [...this.clusters.keys()];
  }

  endpointCounts(): Map<string, number> {
    return new Map([...this.clusters].map(([n, c]) => [n, c.endpoints.length]));
  }

  apply(configs: readonly ClusterConfig[]): void {
    const balancerDeps = this.deps.balancer ?? defaultBalancerDeps;
    const next = new Map<string, Cluster>();
    const oldEndpoints = new Map<string, Endpoint>();
    for (const c of this.clusters.values()) for (const e of c.endpoints) oldEndpoints.set(`${c.name}|${e.key}`, e);
    const kept = new Set<Endpoint>();

    for (const config of configs) {
      let cluster = this.clusters.get(config.name);
      if (cluster === undefined || cluster.config.loadBalancer !== config.loadBalancer) {
        const fresh = new Cluster(config, balancerDeps);
        cluster = fresh;
      }
      cluster.config = config;
      const endpoints: Endpoint[] = [];
      for (const ec of config.endpoints) {
        const old = oldEndpoints.get(`${config.name}|${endpointKey(ec)}`);
        if (old !== undefined && !kept.has(old)) {
          old.setConnectTimeout(config.connectTimeoutMs);
          kept.add(old);
          endpoints.push(old);
        } else {
          endpoints.push(new Endpoint(ec, this.deps.connector, config.connectTimeoutMs, this.deps.pool));
        }
      }
      cluster.endpoints = endpoints;
      next.set(config.name, cluster);
    }
    for (const e of oldEndpoints.values()) if (!kept.has(e)) e.close();
    this.clusters = next;
  }

  close(): void {
    for (const c of this.clusters.values()) for (const e of c.endpoints) e.close();
    this.clusters = new Map();
  }
}
