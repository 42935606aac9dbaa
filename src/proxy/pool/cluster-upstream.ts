import { ProxyReason } from '../../errors.js';
import type { Cluster, ClusterTable } from '../cluster/cluster-table.js';
import type { Endpoint } from '../cluster/endpoint.js';
import type { Http1Upstream, RequestInfo, UpstreamFailure, UpstreamLease } from '../http1/types.js';
import type { ConnectionWaiter } from './cluster-limits.js';
import { connectWithFailover, failure } from './failover.js';
import type { Http1Pool, PooledSocket } from './http1-pool.js';

type AcquireCallback = (failure: UpstreamFailure | null, lease: UpstreamLease | null) => void;

/**
 * A pooled socket lent for one exchange. Feeds the endpoint's load record back to the
 * balancer, the response status to outlier detection, and gives the cluster's in-flight count
 * back (and a reusable socket to a request waiting for one) on release.
 */
class BalancedLease implements UpstreamLease {
  private done = false;
  private readonly reusedAtLease: boolean;
  private readonly started: number;
  /** Final response status (0: no response head yet). */
  private status = 0;

  constructor(
    private readonly pooled: PooledSocket,
    private readonly endpoint: Endpoint,
    private readonly cluster: Cluster,
    private readonly now: () => number,
    readonly responseHeaders: readonly string[] | undefined,
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

  onResponseHead(status: number): void {
    const now = this.now();
    this.endpoint.load.rtt.observe(now - this.started, now);
    if (status >= 200 || status === 101) this.status = status;
  }

  release(reusable: boolean, failed: boolean): void {
    if (this.done) return;
    this.done = true;
    const { endpoint, cluster } = this;
    endpoint.load.pending--;
    cluster.limits.activeRequests--;
    if (failed) {
      const now = this.now();
      endpoint.load.rtt.observe(now - this.started, now);
    }
    // Outlier detection: the final status decides; a failure before any head counts as a 5xx
    // (reset); a lease given back unused (client gone) says nothing about the endpoint.
    if (cluster.outlier !== null && (this.status !== 0 || failed)) cluster.reportResponse(endpoint, this.status === 0 || this.status >= 500);
    const keep = reusable && !failed;
    this.pooled.release(keep);
    if (keep && cluster.limits.pendingRequests > 0) cluster.limits.released(endpoint);
  }
}

/** One request waiting for a connection to its cluster (maxConnections reached). */
class Http1Waiter implements ConnectionWaiter {
  timer: NodeJS.Timeout | null = null;
  /** queued -> done (granted, handed a socket, rejected or cancelled). */
  private state: 'queued' | 'done' = 'queued';
  private pooled: PooledSocket | null = null;

  constructor(
    private readonly upstream: ClusterHttp1Upstream,
    private readonly cluster: Cluster,
    private readonly req: RequestInfo,
    private readonly cb: AcquireCallback,
    private readonly hash: number | undefined,
    private readonly responseHeaders: readonly string[] | undefined,
    /** The endpoint the hash chose: only its sockets keep the request sticky. */
    private readonly sticky: Endpoint | undefined,
  ) {}

  /** Client gone before a connection came: leave the queue, give the in-flight count back. */
  readonly cancel = (): void => {
    if (this.state !== 'queued') return;
    this.state = 'done';
    if (this.cluster.limits.remove(this)) this.cluster.limits.activeRequests--;
  };

  accepts(endpoint: object): boolean {
    const ep = endpoint as Endpoint;
    if (this.req.fresh === true || this.req.exclude?.has(ep) === true) return false;
    return this.sticky !== undefined ? ep === this.sticky : this.cluster.usable(ep);
  }

  takeOver(endpoint: object): boolean {
    const ep = endpoint as Endpoint;
    const pooled = ep.http1().takeIdle();
    if (pooled === null) return false;
    this.state = 'done';
    this.pooled = pooled;
    queueMicrotask(() => this.deliver(ep));
    return true;
  }

  grant(): void {
    this.state = 'done';
    this.upstream.start(this.cluster, this.req, this.cb, this.hash, this.responseHeaders, this);
  }

  reject(f: UpstreamFailure): void {
    this.state = 'done';
    this.cluster.limits.activeRequests--;
    this.cb(f, null);
  }

  /** Back in the queue (granted a slot that another request took first). */
  requeue(): void {
    this.state = 'queued';
  }

  private deliver(ep: Endpoint): void {
    this.upstream.lend(this.pooled!, ep, this.cluster, this.cb, this.responseHeaders);
  }
}

/**
 * Outbound h1: balancer + per-endpoint mTLS pools of one cluster, looked up per request, with
 * the cluster's circuit breaker in front. Returns a cancel function when the request waits
 * for a connection (call it when the client goes away); undefined otherwise.
 */
export class ClusterHttp1Upstream implements Http1Upstream {
  constructor(
    private readonly table: ClusterTable,
    private readonly clusterName: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  acquire(req: RequestInfo, cb: AcquireCallback): (() => void) | undefined {
    const cluster = this.table.get(this.clusterName);
    if (cluster === undefined) {
      cb(failure(503, ProxyReason.UnknownCluster, `unknown cluster ${this.clusterName}`), null);
      return undefined;
    }
    const refused = cluster.limits.admit();
    if (refused !== null) {
      cb(refused, null);
      return undefined;
    }
    if (cluster.hashPolicy === null) return this.start(cluster, req, cb, undefined, undefined, null);
    const h = cluster.requestHash(req.headers);
    return this.start(cluster, req, cb, h.hash, h.responseHeaders, null);
  }

  /** After admission (the in-flight count includes this request): reuse, wait or connect. */
  start(
    cluster: Cluster,
    req: RequestInfo,
    cb: AcquireCallback,
    hash: number | undefined,
    responseHeaders: readonly string[] | undefined,
    waiter: Http1Waiter | null,
  ): (() => void) | undefined {
    const exclude = req.exclude as ReadonlySet<Endpoint> | undefined;
    const first = cluster.pick(exclude, hash);
    if (first !== undefined && req.fresh !== true) {
      // Fast path (nearly every request under load): the picked endpoint has an idle socket.
      const pooled = first.http1().takeIdle();
      if (pooled !== null) {
        this.lend(pooled, first, cluster, cb, responseHeaders);
        return undefined;
      }
    }
    const limits = cluster.limits;
    if (first !== undefined && limits.atConnectionLimit) {
      // No new connection allowed: any idle socket of a usable endpoint will do (unless the
      // request must stick to its hashed endpoint or needs a fresh connection), else wait.
      if (hash === undefined && req.fresh !== true) {
        for (const ep of cluster.endpoints) {
          if (ep === first || exclude?.has(ep) === true || !cluster.usable(ep)) continue;
          const pooled = ep.http1().takeIdle();
          if (pooled !== null) {
            this.lend(pooled, ep, cluster, cb, responseHeaders);
            return undefined;
          }
        }
      }
      return limits.wait(waiter ?? new Http1Waiter(this, cluster, req, cb, hash, responseHeaders, hash !== undefined ? first : undefined));
    }
    connectWithFailover<PooledSocket>(
      cluster,
      (ep, done) => ep.http1().acquire(done, req.fresh === true),
      (f, pooled, ep) => {
        if (f !== null || pooled === null || ep === null) {
          limits.activeRequests--;
          cb(f, null);
        } else {
          cb(null, new BalancedLease(pooled, ep, cluster, this.now, responseHeaders));
        }
      },
      exclude,
      first,
      hash,
    );
    return undefined;
  }

  /** Lends a socket already taken from `ep`'s idle pool. */
  lend(pooled: PooledSocket, ep: Endpoint, cluster: Cluster, cb: AcquireCallback, responseHeaders: readonly string[] | undefined): void {
    ep.load.pending++;
    cb(null, new BalancedLease(pooled, ep, cluster, this.now, responseHeaders));
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
