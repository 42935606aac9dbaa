import type http2 from 'node:http2';
import { ProxyReason } from '../../errors.js';
import type { Cluster, ClusterTable } from '../cluster/cluster-table.js';
import type { Endpoint } from '../cluster/endpoint.js';
import type { UpstreamFailure } from '../http1/types.js';
import type { Http2Upstream, StreamLease, StreamRequestInfo } from '../http2/types.js';
import { isGrpcFailure } from '../resilience/outlier.js';
import type { ConnectionWaiter } from './cluster-limits.js';
import { connectWithFailover, failure } from './failover.js';
import type { H2SessionPool } from './h2-session-pool.js';

type StreamCallback = (failure: UpstreamFailure | null, lease: StreamLease | null) => void;
const NO_HEADERS: readonly string[] = [];

/** One stream on an endpoint's session: latency to the balancer, outcome to outlier detection. */
class BalancedStreamLease implements StreamLease {
  private done = false;
  private status = 0;

  constructor(
    readonly session: http2.ClientHttp2Session,
    private readonly endpoint: Endpoint,
    private readonly cluster: Cluster,
    private readonly started: number,
    private readonly now: () => number,
    readonly responseHeaders: readonly string[] | undefined,
  ) {}

  get peer(): string {
    return this.endpoint.config.identity;
  }

  onResponseHead(status: number): void {
    const now = this.now();
    this.endpoint.load.rtt.observe(now - this.started, now);
    this.status = status;
  }

  release(failed: boolean, grpcStatus?: number): void {
    if (this.done) return;
    this.done = true;
    this.endpoint.load.pending--;
    this.cluster.limits.activeRequests--;
    if (this.cluster.outlier !== null) {
      const bad = failed || this.status >= 500 || (grpcStatus !== undefined && isGrpcFailure(grpcStatus));
      this.cluster.reportResponse(this.endpoint, bad);
    }
  }
}

/** A stream waiting for a connection slot (maxConnections reached and no session to share). */
class Http2Waiter implements ConnectionWaiter {
  timer: NodeJS.Timeout | null = null;
  private queued = true;

  constructor(
    private readonly upstream: ClusterHttp2Upstream,
    private readonly cluster: Cluster,
    private readonly cb: StreamCallback,
    private readonly hash: number | undefined,
    private readonly responseHeaders: readonly string[] | undefined,
  ) {}

  readonly cancel = (): void => {
    if (!this.queued) return;
    this.queued = false;
    if (this.cluster.limits.remove(this)) this.cluster.limits.activeRequests--;
  };

  accepts(): boolean {
    return false; // h2 waits for slots only: sessions are shared, not handed over
  }

  takeOver(): boolean {
    return false;
  }

  grant(): void {
    this.queued = false;
    this.upstream.start(this.cluster, this.cb, this.hash, this.responseHeaders, this);
  }

  reject(f: UpstreamFailure): void {
    this.queued = false;
    this.cluster.limits.activeRequests--;
    this.cb(f, null);
  }

  requeue(): void {
    this.queued = true;
  }
}

/**
 * Outbound h2/grpc: one endpoint per stream, picked by the cluster's balancer, behind the
 * cluster's circuit breaker. Returns a cancel function when the stream waits for a connection.
 */
export class ClusterHttp2Upstream implements Http2Upstream {
  constructor(
    private readonly table: ClusterTable,
    private readonly clusterName: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  acquire(cb: StreamCallback, req?: StreamRequestInfo): (() => void) | undefined {
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
    if (cluster.hashPolicy === null) return this.start(cluster, cb, undefined, undefined, null);
    const h = cluster.requestHash(req?.headers ?? NO_HEADERS);
    return this.start(cluster, cb, h.hash, h.responseHeaders, null);
  }

  /** After admission: share a session, wait for a connection slot, or connect. */
  start(
    cluster: Cluster,
    cb: StreamCallback,
    hash: number | undefined,
    responseHeaders: readonly string[] | undefined,
    waiter: Http2Waiter | null,
  ): (() => void) | undefined {
    let first = cluster.pick(undefined, hash);
    const limits = cluster.limits;
    if (first !== undefined && limits.atConnectionLimit && !first.http2().ready) {
      // No new session allowed: share another usable endpoint's session, unless the stream
      // must stick to its hashed endpoint; else wait for a slot.
      const shared = hash === undefined ? cluster.endpoints.find((ep) => ep.http2().ready && cluster.usable(ep)) : undefined;
      if (shared !== undefined) {
        first = shared;
      } else {
        return limits.wait(waiter ?? new Http2Waiter(this, cluster, cb, hash, responseHeaders));
      }
    }
    const started = this.now();
    connectWithFailover<http2.ClientHttp2Session>(
      cluster,
      (ep, done) => ep.http2().get(done),
      (f, session, ep) => {
        if (f !== null || session === null || ep === null) {
          limits.activeRequests--;
          cb(f, null);
          return;
        }
        cb(null, new BalancedStreamLease(session, ep, cluster, started, this.now, responseHeaders));
      },
      undefined,
      first,
      hash,
    );
    return undefined;
  }
}

/** Inbound h2/grpc: the h2c session to the local app. */
export class AppHttp2Upstream implements Http2Upstream {
  constructor(
    private readonly pool: H2SessionPool,
    private readonly appLabel: string,
  ) {}

  acquire(cb: (failure: UpstreamFailure | null, lease: StreamLease | null) => void): void {
    this.pool.get((f, session) => {
      if (f !== null || session === null) {
        cb(failure(503, ProxyReason.AppUnavailable, `app ${this.appLabel}: ${f?.message ?? 'no session'}`), null);
        return;
      }
      cb(null, { session, peer: this.appLabel, release: () => {} });
    });
  }

  close(): void {
    this.pool.close();
  }
}
