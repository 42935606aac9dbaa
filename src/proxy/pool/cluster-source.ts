import type http2 from 'node:http2';
import { ProxyReason } from '../../errors.js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Cluster, ClusterTable } from '../cluster/cluster-table.js';
import type { Endpoint } from '../cluster/endpoint.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { Http1Lease, Http2Lease, LeaseCallback, LeaseRequest, LeaseSource, Permit } from '../pipeline/lease.js';
import type { LocalReply } from '../pipeline/service.js';
import { isGrpcFailure } from '../resilience/outlier.js';
import type { ConnectionWaiter } from './cluster-limits.js';
import { connectWithFailover, failure } from './failover.js';
import type { PooledSocket } from './http1-pool.js';

/**
 * Outbound connections: for each exchange, the cluster it goes to (the routed backend, else the
 * listener's), its circuit breaker, its balancer's pick, and a connection from that endpoint's
 * pool (an idle HTTP/1 socket, the HTTP/2 session) or a new one, with connect failover across
 * endpoints. At maxConnections a request waits for a released socket or a free slot.
 *
 * The lease feeds what happened back: latency to the balancer's EWMA, the outcome to outlier
 * detection, the endpoint's pending count (which the balancer weighs) held for as long as the
 * exchange (or its tunnel, or its stream) is open.
 */
export class ClusterLeases implements LeaseSource {
  constructor(
    private readonly table: ClusterTable,
    private readonly clock: Clock,
  ) {}

  admit(ex: Exchange): Permit | LocalReply {
    const name = ex.backend ?? ex.site.cluster;
    const cluster = this.table.get(name);
    if (cluster === undefined) return failure(503, ProxyReason.UnknownCluster, `unknown cluster ${name}`);
    return cluster.limits.admit();
  }

  acquire(ex: Exchange, want: LeaseRequest, cb: LeaseCallback): (() => void) | undefined {
    const name = ex.backend ?? ex.site.cluster;
    const cluster = this.table.get(name);
    if (cluster === undefined) {
      cb(failure(503, ProxyReason.UnknownCluster, `unknown cluster ${name}`), null);
      return undefined;
    }
    let hash: number | undefined;
    let responseHeaders: readonly string[] | undefined;
    if (cluster.hashPolicy !== null) {
      const h = cluster.requestHash(ex.headers);
      hash = h.hash;
      responseHeaders = h.responseHeaders;
    }
    const req: Http1Request = { cluster, want, cb, hash, responseHeaders };
    return ex.protocol === 'http1' ? this.http1(req, null) : this.http2(req, null);
  }

  /** Reuse an idle socket of the pick, wait at the connection limit, or connect. */
  http1(r: Http1Request, waiter: Http1Waiter | null): (() => void) | undefined {
    const { cluster, want, hash } = r;
    const exclude = want.exclude as ReadonlySet<Endpoint> | undefined;
    const first = cluster.pick(exclude, hash);
    if (first !== undefined && !want.fresh) {
      // Fast path (nearly every request under load): the picked endpoint has an idle socket.
      const pooled = first.http1().takeIdle();
      if (pooled !== null) {
        this.lendHttp1(pooled, first, r);
        return undefined;
      }
    }
    const limits = cluster.limits;
    if (first !== undefined && limits.atConnectionLimit) {
      // No new connection allowed: any idle socket of a usable endpoint will do (unless the
      // request must stick to its hashed endpoint or needs a fresh connection), else wait.
      if (hash === undefined && !want.fresh) {
        for (const ep of cluster.endpoints) {
          if (ep === first || exclude?.has(ep) === true || !cluster.usable(ep)) continue;
          const pooled = ep.http1().takeIdle();
          if (pooled !== null) {
            this.lendHttp1(pooled, ep, r);
            return undefined;
          }
        }
      }
      return limits.wait(waiter ?? new Http1Waiter(this, r, hash !== undefined ? first : undefined));
    }
    connectWithFailover<PooledSocket>(
      cluster,
      (ep, done) => ep.http1().acquire(done, want.fresh),
      (f, pooled, ep) => {
        if (f !== null || pooled === null || ep === null) r.cb(f ?? failure(503, ProxyReason.ConnectFailed, 'no connection'), null);
        else r.cb(null, new Http1ClusterLease(pooled, ep, cluster, this.clock, r.responseHeaders));
      },
      exclude,
      first,
      hash,
    );
    return undefined;
  }

  /** Lends a socket already taken from `ep`'s idle pool. */
  lendHttp1(pooled: PooledSocket, ep: Endpoint, r: Http1Request): void {
    ep.load.pending++;
    r.cb(null, new Http1ClusterLease(pooled, ep, r.cluster, this.clock, r.responseHeaders));
  }

  /** Share the pick's session, wait for a connection slot, or connect. */
  http2(r: Http1Request, waiter: Http2Waiter | null): (() => void) | undefined {
    const { cluster, want, hash } = r;
    const exclude = want.exclude as ReadonlySet<Endpoint> | undefined;
    let first = cluster.pick(exclude, hash);
    const limits = cluster.limits;
    if (first !== undefined && limits.atConnectionLimit && !first.http2().ready) {
      // No new session allowed: share another usable endpoint's session, unless the stream
      // must stick to its hashed endpoint; else wait for a slot.
      const shared = hash === undefined ? cluster.endpoints.find((ep) => ep.http2().ready && cluster.usable(ep) && exclude?.has(ep) !== true) : undefined;
      if (shared !== undefined) first = shared;
      else return limits.wait(waiter ?? new Http2Waiter(this, r));
    }
    const started = this.clock.now();
    connectWithFailover<http2.ClientHttp2Session>(
      cluster,
      (ep, done) => ep.http2().get(done),
      (f, session, ep) => {
        if (f !== null || session === null || ep === null) r.cb(f ?? failure(503, ProxyReason.ConnectFailed, 'no session'), null);
        else r.cb(null, new Http2ClusterLease(session, ep, cluster, started, this.clock, r.responseHeaders));
      },
      exclude,
      first,
      hash,
    );
    return undefined;
  }
}

/** One lease request while it is being served (kept by a waiter at the connection limit). */
interface Http1Request {
  readonly cluster: Cluster;
  readonly want: LeaseRequest;
  readonly cb: LeaseCallback;
  readonly hash: number | undefined;
  readonly responseHeaders: readonly string[] | undefined;
}

/** What both protocols' leases report to the endpoint's balancer and the cluster's outlier detection. */
abstract class ClusterLease {
  private done = false;
  /** Final response status (0: no response head yet). */
  protected status = 0;

  constructor(
    protected readonly endpoint: Endpoint,
    protected readonly cluster: Cluster,
    protected readonly clock: Clock,
    protected readonly started: number,
    readonly responseHeaders: readonly string[] | undefined,
  ) {}

  get failoverKey(): object {
    return this.endpoint;
  }

  get peer(): string {
    return this.endpoint.config.identity;
  }

  unavailable(): void {
    this.cluster.markUnavailable(this.endpoint);
  }

  onResponseHead(status: number): void {
    const now = this.clock.now();
    this.endpoint.load.rtt.observe(now - this.started, now);
    if (status >= 200 || status === 101) this.status = status;
  }

  release(reusable: boolean, failed: boolean, grpcStatus?: number): void {
    if (this.done) return;
    this.done = true;
    const { endpoint, cluster } = this;
    endpoint.load.pending--;
    // The outcome: the final status decides (and a failing grpc-status); a failure before any
    // head counts as a 5xx (reset). A lease given back unused or abandoned by its client (no
    // head, not failed) says nothing about the endpoint.
    if (this.status !== 0 || failed) {
      const bad = failed || this.status >= 500 || (grpcStatus !== undefined && isGrpcFailure(grpcStatus));
      // A failure weighs on the balancer as a slow answer would, so a replica that fails fast
      // never looks cheaper than a healthy one.
      if (bad) {
        const now = this.clock.now();
        endpoint.load.observeFailure(now, now - this.started);
      }
      if (cluster.outlier !== null) cluster.reportResponse(endpoint, bad);
    }
    this.released(reusable && !failed);
  }

  protected abstract released(keep: boolean): void;
}

/** A pooled HTTP/1 socket lent for one attempt; a reusable one may go straight to a waiting request. */
class Http1ClusterLease extends ClusterLease implements Http1Lease {
  private readonly reusedAtLease: boolean;

  constructor(
    private readonly pooled: PooledSocket,
    endpoint: Endpoint,
    cluster: Cluster,
    clock: Clock,
    responseHeaders: readonly string[] | undefined,
  ) {
    super(endpoint, cluster, clock, clock.now(), responseHeaders);
    this.reusedAtLease = pooled.reused;
  }

  get socket(): Http1Lease['socket'] {
    return this.pooled.socket;
  }

  get reused(): boolean {
    return this.reusedAtLease;
  }

  protected released(keep: boolean): void {
    this.pooled.release(keep);
    if (keep && this.cluster.limits.pendingRequests > 0) this.cluster.limits.released(this.endpoint);
  }
}

/** One stream on an endpoint's session. */
class Http2ClusterLease extends ClusterLease implements Http2Lease {
  readonly reused = false;

  constructor(
    readonly session: http2.ClientHttp2Session,
    endpoint: Endpoint,
    cluster: Cluster,
    started: number,
    clock: Clock,
    responseHeaders: readonly string[] | undefined,
  ) {
    super(endpoint, cluster, clock, started, responseHeaders);
  }

  protected released(): void {}
}

/** An HTTP/1 request waiting for a connection to its cluster (maxConnections reached). */
class Http1Waiter implements ConnectionWaiter {
  timer: TimerHandle | null = null;
  private queued = true;
  private pooled: PooledSocket | null = null;

  constructor(
    private readonly source: ClusterLeases,
    private readonly r: Http1Request,
    /** The endpoint the hash chose: only its sockets keep the request sticky. */
    private readonly sticky: Endpoint | undefined,
  ) {}

  /** Client gone before a connection came: leave the queue. */
  readonly cancel = (): void => {
    if (!this.queued) return;
    this.queued = false;
    this.r.cluster.limits.remove(this);
  };

  accepts(endpoint: object): boolean {
    const ep = endpoint as Endpoint;
    const want = this.r.want;
    if (want.fresh || want.exclude?.has(ep) === true) return false;
    return this.sticky !== undefined ? ep === this.sticky : this.r.cluster.usable(ep);
  }

  takeOver(endpoint: object): boolean {
    const ep = endpoint as Endpoint;
    const pooled = ep.http1().takeIdle();
    if (pooled === null) return false;
    this.queued = false;
    this.pooled = pooled;
    // Delivered in a later microtask, not inside the releasing attempt's call.
    queueMicrotask(() => this.source.lendHttp1(this.pooled!, ep, this.r));
    return true;
  }

  grant(): void {
    this.queued = false;
    this.source.http1(this.r, this);
  }

  reject(f: LocalReply): void {
    this.queued = false;
    this.r.cb(f, null);
  }

  requeue(): void {
    this.queued = true;
  }
}

/** An HTTP/2 stream waiting for a connection slot (sessions are shared, not handed over). */
class Http2Waiter implements ConnectionWaiter {
  timer: TimerHandle | null = null;
  private queued = true;

  constructor(
    private readonly source: ClusterLeases,
    private readonly r: Http1Request,
  ) {}

  readonly cancel = (): void => {
    if (!this.queued) return;
    this.queued = false;
    this.r.cluster.limits.remove(this);
  };

  accepts(): boolean {
    return false;
  }

  takeOver(): boolean {
    return false;
  }

  grant(): void {
    this.queued = false;
    this.source.http2(this.r, this);
  }

  reject(f: LocalReply): void {
    this.queued = false;
    this.r.cb(f, null);
  }

  requeue(): void {
    this.queued = true;
  }
}
