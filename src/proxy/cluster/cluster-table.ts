import type { ClusterConfig } from '../../api/snapshot.js';
import { DEFAULT_RTT_MS, newLoadRecord } from '../balancer/peak-ewma.js';
import { defaultBalancerDeps } from '../balancer/registry.js';
import type { BalancerDeps } from '../balancer/types.js';
import type { Clock } from '../clock/clock.js';
import type { Http1PoolOptions } from '../pool/http1-pool.js';
import { compileRouteTable } from '../routing/index.js';
import type { RouteTable } from '../routing/index.js';
import { Cluster } from './cluster.js';
import { Endpoint, endpointKey } from './endpoint.js';
import type { EndpointConnectorFactory } from './endpoint.js';
import { SnapshotError } from './snapshot-error.js';
import type { SnapshotProblem } from './snapshot-error.js';
import { validateClusterPolicy } from './validate-policy.js';

export { Cluster, UNAVAILABLE_AVOID_MS } from './cluster.js';
export { SnapshotError } from './snapshot-error.js';
export type { SnapshotProblem } from './snapshot-error.js';

export interface ClusterTableDeps {
  connector: EndpointConnectorFactory;
  /** Randomness and the monotonic clock of balancers, outlier detection, budgets and health checks. */
  balancer?: BalancerDeps;
  pool?: Http1PoolOptions;
  /** Timers of the request path (the circuit breaker's queue waits). */
  clock?: Clock;
}

/**
 * name -> Cluster, rebuilt from each accepted snapshot. Clusters and endpoints that stay keep
 * their objects (pools, EWMA, breakers, budgets, ejections); removed endpoints are closed
 * gracefully (in-flight requests finish). Lookups are by name on every request, so listeners
 * never hold a stale Cluster.
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

  /**
   * Applies a snapshot's clusters whole. Every route table and policy is compiled and checked
   * first; if anything is wrong a SnapshotError lists every problem and nothing changes.
   */
  apply(configs: readonly ClusterConfig[]): void {
    const routes = compileAll(configs);
    const balancerDeps = this.deps.balancer ?? defaultBalancerDeps;
    const next = new Map<string, Cluster>();
    const oldEndpoints = new Map<string, Endpoint>();
    for (const c of this.clusters.values()) for (const e of c.endpoints) oldEndpoints.set(`${c.name}|${e.key}`, e);
    const kept = new Set<Endpoint>();

    configs.forEach((config, i) => {
      let cluster = this.clusters.get(config.name);
      if (cluster === undefined) cluster = new Cluster(config, balancerDeps, this.deps.clock);
      const endpoints: Endpoint[] = [];
      for (const ec of config.endpoints) {
        const old = oldEndpoints.get(`${config.name}|${endpointKey(ec)}`);
        if (old !== undefined && !kept.has(old)) {
          old.setConnectTimeout(config.connectTimeoutMs);
          kept.add(old);
          endpoints.push(old);
        } else {
          // The latency prior decays from now on the balancer's clock (balancer/rtt-estimate.ts).
          const load = newLoadRecord(DEFAULT_RTT_MS, balancerDeps.now());
          endpoints.push(new Endpoint(ec, this.deps.connector, config.connectTimeoutMs, this.deps.pool, cluster.limits, load));
        }
      }
      cluster.setEndpoints(endpoints);
      cluster.configure(config, routes[i] ?? null);
      next.set(config.name, cluster);
    });
    for (const e of oldEndpoints.values()) if (!kept.has(e)) e.close();
    for (const [name, c] of this.clusters) if (!next.has(name)) c.close();
    this.clusters = next;
  }

  close(): void {
    for (const c of this.clusters.values()) {
      c.close();
      for (const e of c.endpoints) e.close();
    }
    this.clusters = new Map();
  }
}

/**
 * Every cluster's route table as the proxy compiles it when it applies a snapshot (null for a
 * cluster without routes), same order; throws SnapshotError listing every problem. Exported
 * for `trellis why` (src/control/why), which must route exactly as the proxy does.
 */
export function compileClusterRoutes(configs: readonly ClusterConfig[]): (RouteTable | null)[] {
  return compileAll(configs);
}

/** Compiles every cluster's routes and checks its policy; throws SnapshotError listing all problems. */
function compileAll(configs: readonly ClusterConfig[]): (RouteTable | null)[] {
  const problems: SnapshotProblem[] = [];
  const knownClusters = new Set(configs.map((c) => c.name));
  const tables = configs.map((config, i) => {
    validateClusterPolicy(config, `clusters[${i}]`, problems);
    if (config.routes === undefined) return null;
    const r = compileRouteTable(config.routes, { knownClusters });
    if (r.ok) return r.table;
    for (const e of r.errors) problems.push({ path: `clusters[${i}].routes.${e.path}`, message: e.message });
    return null;
  });
  if (problems.length > 0) throw new SnapshotError(problems);
  return tables;
}
