import type { Duplex } from 'node:stream';
import type { ProxyReason } from '../../errors.js';
import type { RequestTracer, TraceFields } from '../tracing/types.js';
import type { Planner } from '../traffic/plan.js';

/**
 * The seam between the HTTP/1 forwarder (this folder: codec + per-connection state machine)
 * and whatever supplies upstream connections (a cluster's balancer and pool on the outbound
 * side, the local app's pool on the inbound side).
 */

export interface Http1Limits {
  /** Largest request or response head (start line + fields + CRLFs). Over it: 431 / 502. */
  maxHeadBytes: number;
  /** Most header fields in one head. Over it: 431 / 502. */
  maxHeaderCount: number;
  /** A downstream connection that has started a head must finish it within this time (slowloris). */
  headTimeoutMs: number;
  /** An idle keep-alive downstream connection is closed after this time. */
  idleTimeoutMs: number;
}

export const DEFAULT_HTTP1_LIMITS: Http1Limits = {
  maxHeadBytes: 64 * 1024,
  maxHeaderCount: 128,
  headTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
};

/** What the forwarder knows of a request when it asks for an upstream. */
export interface RequestInfo {
  method: string;
  /** Request target as received (origin-form or absolute-form). */
  target: string;
  /** Host header value, if any. */
  host: string | undefined;
  /** Flat [name, value, name, value, ...]; names lower-cased; as received (hop-by-hop included). */
  headers: readonly string[];
  /** True when the request asks for a protocol switch (Upgrade, e.g. WebSocket). */
  upgrade: boolean;
  /**
   * Set only when failing over after a mesh-made 503 (see `UpstreamLease.failoverKey`): the
   * keys of the endpoints already tried for this request, to be avoided.
   */
  exclude?: ReadonlySet<object> | undefined;
  /**
   * Set on the retry after a reused (pooled) connection died before any response byte: lend a
   * newly connected socket, not another idle one (the others may be dying the same way, e.g.
   * all connections of an app that was just killed).
   */
  fresh?: boolean | undefined;
}

/** A connected upstream socket lent to the forwarder for one exchange. */
export interface UpstreamLease {
  /** Connected net.Socket or tls.TLSSocket. */
  readonly socket: Duplex;
  /** True when the socket came from the idle pool (it may have been closed by the peer meanwhile). */
  readonly reused: boolean;
  /** For logs and the access log: endpoint address or SPIFFE ID. */
  readonly peer: string;
  /**
   * Called exactly once when the exchange is over. reusable=true: the socket is between
   * messages and keep-alive, so it may go back to the pool; false: destroy it.
   * `failed` says the exchange failed on the upstream side (for passive health / EWMA).
   */
  release(reusable: boolean, failed: boolean): void;
  /** Called when the response head arrives (the balancer measures latency from acquire). */
  onResponseHead?(statusCode: number): void;
  /**
   * Set by upstreams with several interchangeable endpoints (outbound clusters): identifies this
   * lease's endpoint. When set, a `503` carrying `trellis-reason: app-unavailable` or `draining`
   * (made by the peer's proxy: the request reached no app), or a `502 upstream-reset` to an
   * idempotent method, of a replayable request is not passed on: the forwarder calls `unavailable()`, releases the lease as failed and acquires
   * again with `RequestInfo.exclude` holding the keys tried (at most MAX_MESH_FAILOVERS times).
   */
  readonly failoverKey?: object;
  /** The endpoint answered a mesh-made 503: avoid it for a while. Called before release. */
  unavailable?(): void;
  /**
   * Fields the upstream side adds to the response sent downstream, flat [name, value, ...]
   * (e.g. the `set-cookie` of a consistent-hash cookie the proxy made up). Usually undefined.
   */
  readonly responseHeaders?: readonly string[];
}

export interface UpstreamFailure {
  status: number;
  reason: ProxyReason;
  message: string;
}

/** Source of upstream connections. May call back synchronously or later. */
export interface Http1Upstream {
  /**
   * May return a function that withdraws a request still waiting (e.g. queued for a connection
   * by a circuit breaker) when its client goes away; the callback is then never called.
   */
  acquire(req: RequestInfo, cb: (failure: UpstreamFailure | null, lease: UpstreamLease | null) => void): (() => void) | void;
}

/**
 * One finished request/response exchange, for access logs, metrics and spans. The trace
 * fields are set only when tracing was on for it.
 */
export interface ExchangeRecord extends TraceFields {
  method: string;
  target: string;
  host: string | undefined;
  /** Final status sent downstream (0 if the connection died before a status). */
  status: number;
  /** Set when the proxy produced the response itself or the exchange failed. */
  reason: ProxyReason | undefined;
  upstreamPeer: string | undefined;
  requestBodyBytes: number;
  responseBodyBytes: number;
  /** ms from first byte of the request head to the end of the response. */
  durationMs: number;
  /** ms from request head complete to response head received (upstream latency). */
  upstreamMs: number | undefined;
  upgraded: boolean;
  startedAt: number; // epoch ms
  /** `<namespace>/<name>` of the route that matched (RequestPlan.route), if routes applied. */
  route?: string | undefined;
  /** Route retries made (not counting connection-level replays). */
  retries?: number;
  /** Cluster the request was sent to (RequestPlan.backend), when a planner ran. */
  backend?: string | undefined;
}

export interface Http1ServerOptions {
  /** Where requests go when there is no planner. */
  upstream: Http1Upstream;
  /**
   * Traffic policy (src/proxy/traffic): when set, every request is planned first and goes to
   * the plan's upstream, with its rewrites, faults, timeouts, retries and mirrors.
   */
  planner?: Planner<Http1Upstream>;
  limits: Http1Limits;
  /** Request headers (lower-case names) to remove before forwarding, beyond hop-by-hop ones. */
  stripRequestHeaders?: ReadonlySet<string>;
  /** Request headers to add after stripping: flat [name, value, ...]. */
  addRequestHeaders?: readonly string[];
  /** Called once per finished exchange (hot path: keep it cheap). */
  onExchange?(record: ExchangeRecord): void;
  /**
   * Tracing (src/proxy/tracing): while `enabled`, each request head continues or starts a
   * trace, the forwarded head carries this hop's trace fields instead of the caller's, and the
   * record gets the ids. Retries, replays and failovers of one request share its hop (one span).
   */
  tracer?: RequestTracer;
  /** When true, the forwarder answers the current request and then closes the connection. */
  isDraining?(): boolean;
  /** Injected clock (ms, monotonic) for durations; defaults to performance.now. */
  now?(): number;
  /** Injected randomness in [0, 1) for retry backoff jitter; defaults to Math.random. */
  random?(): number;
}
