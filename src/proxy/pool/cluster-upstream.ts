import { ProxyReason } from '../../errors.js';
import type { Cluster, ClusterTable } from '../cluster/cluster-table.js';
import type { Endpoint } from '../cluster/endpoint.js';
import type { Http1Upstream, RequestInfo, UpstreamFailure, UpstreamLease } from '../http1/types.js';
import { connectWithFailover, failure } from './failover.js';
import type { Http1Pool, PooledSocket } from './http1-pool.js';

/** A pooled socket lent for one exchange, feeding the endpoint's load record back to the balancer. */
class BalancedLease implements UpstreamLease {
  private done = false;
  private readonly reusedAtLease: boolean;
  private readonly started: number;

  constructor(
    private readonly pooled: PooledSocket,
    private readonly endpoint: Endpoint,
    private readonly cluster: Cluster,
    private readonly now: () => number,
  ) {
    this.started = now();
    this.reusedAtLease = pooled.reused;
  }

  get failoverKey(): object {
    return this.endpoint;
  }

  unavailable(): void {
    this.cluster.markUnavailable(this.endpoint);
  }

  get socket(): UpstreamLease['socket'] {
    return this.pooled.socket;
  }

  get reused(): boolean {
    return this.reusedAtLease;
  }

  get peer(): string {
    return this.endpoint.config.identity;
  }

  onResponseHead(): void {
    const now = this.now();
    this.endpoint.load.rtt.observe(now - this.started, now);
  }

  release(reusable: boolean, failed: boolean): void {
    if (this.done) return;
    this.done = true;
    this.endpoint.load.pending--;
    if (failed) {
      const now = this.now();
      this.endpoint.load.rtt.observe(now - this.started, now);
    }
    this.pooled.release(reusable && !failed);
  }
}

/** Outbound h1: balancer + per-endpoint mTLS pools of one cluster, looked up per request. */
export class ClusterHttp1Upstream implements Http1Upstream {
  constructor(
    private readonly table: ClusterTable,
    private readonly clusterName: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  acquire(req: RequestInfo, cb: (failure: UpstreamFailure | null, lease: UpstreamLease | null) => void): void {
    const cluster = this.table.get(this.clusterName);
    if (cluster === undefined) {
      cb(failure(503, ProxyReason.UnknownCluster, `unknown cluster ${this.clusterName}`), null);
      return;
    }
    let first: Endpoint | undefined;
    if (req.exclude === undefined && req.fresh !== true) {
      // Fast path (nearly every request under load): the picked endpoint has an idle socket.
      // No failover bookkeeping, no closures; a connect goes the general way, starting there.
      first = cluster.pick();
      const pooled = first !== undefined ? first.http1().takeIdle() : null;
      if (pooled !== null) {
        first!.load.pending++;
        cb(null, new BalancedLease(pooled, first!, cluster, this.now));
        return;
      }
    }
    connectWithFailover<PooledSocket>(
      cluster,
      (ep, done) => ep.http1().acquire(done, req.fresh === true),
      (f, pooled, ep) => {
        if (f !== null || pooled === null || ep === null) cb(f, null);
        else cb(null, new BalancedLease(pooled, ep, cluster, this.now));
      },
      req.exclude,
      first,
    );
  }
}

class AppLease implements UpstreamLease {
  readonly reused: boolean;
  constructor(
    private readonly pooled: PooledSocket,
    readonly peer: string,
  ) {
    this.reused = pooled.reused;
  }
  get socket(): UpstreamLease['socket'] {
    return this.pooled.socket;
  }
  release(reusable: boolean, failed: boolean): void {
    this.pooled.release(reusable && !failed);
  }
}

/** Inbound h1: a keep-alive pool of plain TCP sockets to the local app. */
export class AppHttp1Upstream implements Http1Upstream {
  constructor(
    private readonly pool: Http1Pool,
    private readonly appLabel: string,
  ) {}

  acquire(req: RequestInfo, cb: (failure: UpstreamFailure | null, lease: UpstreamLease | null) => void): void {
    if (req.fresh !== true) {
      const pooled = this.pool.takeIdle();
      if (pooled !== null) {
        cb(null, new AppLease(pooled, this.appLabel));
        return;
      }
    }
    this.pool.acquire((f, pooled) => {
      if (f !== null || pooled === null) {
        cb(failure(503, ProxyReason.AppUnavailable, `app ${this.appLabel}: ${f?.message ?? 'no connection'}`), null);
        return;
      }
      cb(null, new AppLease(pooled, this.appLabel));
    }, req.fresh === true);
  }

  close(): void {
    this.pool.close();
  }
}
