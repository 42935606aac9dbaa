import http2 from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { ProxyReason } from '../../errors.js';
import type { LocalReply, Planner, RequestPlan } from '../traffic/plan.js';
import { Attempt } from './attempt.js';
import type { AttemptOwner } from './attempt.js';
import { GrpcStatus, readGrpcStatus } from './grpc-status.js';
import { formatGrpcTimeout, parseGrpcTimeout } from './grpc-timeout.js';
import { appendFields, flatRequestHeaders, modifyHead, replaceTraceFields, rewriteHead, shadowAuthority } from './head-edits.js';
import { forwardRequestHeaders, forwardResponseHeaders, isGrpc } from './headers.js';
import { mirrorRequest } from './mirror.js';
import { respondProxyError } from './reply.js';
import { RequestBody } from './request-body.js';
import type { UpstreamFailure } from '../http1/types.js';
import { hopHeaders } from '../../telemetry/tracing/hop.js';
import type { Hop } from '../../telemetry/tracing/hop.js';
import { setTraceFields } from '../tracing/types.js';
import type { RequestTracer } from '../tracing/types.js';
import type { Http2Upstream, StreamLease, StreamRecord, StreamRequestInfo } from './types.js';

export { respondProxyError } from './reply.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

export interface StreamForwardOptions {
  /** Where streams go when there is no planner. */
  upstream: Http2Upstream;
  /** Traffic policy (src/proxy/traffic): when set, each stream is planned and goes to the plan's upstream. */
  planner?: Planner<Http2Upstream>;
  stripRequestHeaders?: ReadonlySet<string>;
  /** Flat [name, value, ...] added after stripping. */
  addRequestHeaders?: readonly string[];
  onStream?(record: StreamRecord): void;
  /**
   * Tracing (src/proxy/tracing): while `enabled`, each stream continues or starts a trace, the
   * forwarded head carries this hop's trace fields instead of the caller's, and the record gets
   * the ids. Retries of one stream share its hop (one span).
   */
  tracer?: RequestTracer;
  now(): number;
  /** [0, 1) for retry backoff jitter; Math.random by default. */
  random?(): number;
}

/** Methods a reset stream may be sent again for (RFC 9110 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

function ignore(): void {}

/** Placeholder until the forwarded head is built (never written to: saves an object per stream). */
const NO_HEAD: OutgoingHttpHeaders = Object.freeze({});

/**
 * Forwards one HTTP/2 stream: request head and body to an upstream stream, response head,
 * body and trailers back (trailers-only responses stay trailers-only), RST_STREAM and
 * cancellation in both directions, gRPC deadlines (grpc-timeout). With a planner, the stream
 * is planned once and the plan carried out: local replies, fault delay, header and URL
 * rewrites, timeouts, retries with a budget, mirrors.
 */
export function forwardStream(down: ServerHttp2Stream, headers: IncomingHttpHeaders, options: StreamForwardOptions): void {
  new ForwardedStream(down, headers, options).start();
}

/** The state of one forwarded stream, across its attempts. */
class ForwardedStream implements AttemptOwner {
  private readonly rec: StreamRecord;
  private readonly started: number;
  private readonly grpc: boolean;
  private plan: RequestPlan<Http2Upstream> | undefined = undefined;
  private upstream: Http2Upstream;
  private reqInfo: StreamRequestInfo | undefined = undefined;
  /** The forwarded request head, built once; grpc-timeout is rewritten per attempt. */
  private head: OutgoingHttpHeaders = NO_HEAD;
  /** Only when the plan can retry or mirror; otherwise the body is piped straight through. */
  private body: RequestBody | null = null;
  private requestTrailers: OutgoingHttpHeaders | null = null;
  private attempt: Attempt | null = null;
  /** Withdraws the acquire in progress, when the upstream queued it (circuit breaker). */
  private cancelAcquire: (() => void) | undefined = undefined;
  private retries = 0;
  /** The next acquire is a retry (counted when it is made, not when it is planned). */
  private retryPending = false;
  private hasDeadline = false;
  private deadlineAt = 0;
  private deadlineTimer: NodeJS.Timeout | undefined = undefined;
  /** Fault delay or retry backoff. */
  private waitTimer: NodeJS.Timeout | undefined = undefined;
  /** The response is decided (forwarded or proxy-made) or the stream is gone: no more attempts. */
  private over = false;
  private finished = false;

  constructor(
    private readonly down: ServerHttp2Stream,
    private readonly headers: IncomingHttpHeaders,
    private readonly options: StreamForwardOptions,
  ) {
    this.started = options.now();
    this.grpc = isGrpc(headers);
    this.upstream = options.upstream;
    this.rec = {
      method: String(headers[':method'] ?? ''),
      target: String(headers[':path'] ?? ''),
      status: 0,
      reason: undefined,
      upstreamPeer: undefined,
      requestBodyBytes: 0,
      responseBodyBytes: 0,
      durationMs: 0,
      startedAt: Date.now(),
    };
  }

  start(): void {
    const { down, headers, options } = this;
    down.on('error', ignore);
    down.once('close', this.onDownClose);
    // Listen before the (possibly async) upstream acquire: trailers may arrive meanwhile.
    down.once('trailers', this.onRequestTrailers);
    // Before planning, so that local replies are traced too.
    let hop: Hop | null = null;
    const tracer = options.tracer;
    if (tracer !== undefined && tracer.enabled) {
      hop = tracer.beginFromRecord(headers);
      setTraceFields(this.rec, hop);
    }
    const plan = options.planner === undefined ? undefined : this.planStream(options.planner);
    if (plan === null) return;
    this.head = forwardRequestHeaders(headers, options.stripRequestHeaders, options.addRequestHeaders);
    if (plan !== undefined) {
      if (plan.requestHeaders !== undefined) modifyHead(this.head, plan.requestHeaders);
      if (plan.rewrite !== undefined) rewriteHead(this.head, plan.rewrite.rewrite, plan.rewrite.matchedPrefix);
    }
    if (hop !== null) replaceTraceFields(this.head, hopHeaders(hop));
    this.startDeadline(plan?.requestTimeoutMs ?? 0);
    if (plan === undefined) {
      this.acquire();
      return;
    }
    plan.budget?.recordRequest();
    const canRetry = plan.retry !== undefined && plan.retry.attempts > 0 && plan.budget !== undefined;
    if (canRetry || plan.mirrors.length > 0) {
      this.body = new RequestBody(down);
      this.body.start(this.onRequestEnded);
    }
    if (plan.delayMs > 0) this.waitTimer = setTimeout(this.acquire, plan.delayMs);
    else this.acquire();
  }

  /** The plan, or null when the stream was answered locally. */
  private planStream(planner: Planner<Http2Upstream>): RequestPlan<Http2Upstream> | null {
    const flat = flatRequestHeaders(this.headers);
    let plan: RequestPlan<Http2Upstream>;
    try {
      plan = planner(this.rec.method, this.rec.target, flat);
    } catch (err) {
      this.answerLocally({ status: 500, reason: ProxyReason.NoBackend, message: `planning failed: ${(err as Error).message}` });
      return null;
    }
    this.plan = plan;
    this.rec.route = plan.route;
    this.rec.backend = plan.backend;
    if (plan.local !== null) {
      this.answerLocally(plan.local);
      return null;
    }
    if (plan.upstream === null) {
      this.answerLocally({ status: 500, reason: ProxyReason.NoBackend, message: 'the plan names no upstream' });
      return null;
    }
    this.upstream = plan.upstream;
    this.reqInfo = { headers: flat };
    return plan;
  }

  private answerLocally(local: LocalReply): void {
    // the request body is not wanted: read and drop it so flow control never stalls the client
    this.down.resume();
    this.fail(local.status, local.reason, local.message, undefined, local.headers);
  }

  /** The smaller of the client's grpc-timeout (gRPC only; malformed is ignored) and the route's request timeout. */
  private startDeadline(requestTimeoutMs: number): void {
    let timeout = requestTimeoutMs > 0 ? requestTimeoutMs : -1;
    if (this.grpc) {
      const value = this.headers['grpc-timeout'];
      if (typeof value === 'string') {
        const t = parseGrpcTimeout(value);
        if (t !== undefined && (timeout < 0 || t < timeout)) timeout = t;
      }
    }
    if (timeout < 0) return;
    this.hasDeadline = true;
    this.deadlineAt = this.started + timeout;
    this.deadlineTimer = setTimeout(this.onDeadline, timeout);
  }

  private readonly acquire = (): void => {
    this.waitTimer = undefined;
    if (this.over) return;
    if (this.retryPending) {
      this.retryPending = false;
      this.retries++;
    }
    const cancel = this.upstream.acquire(this.onLease, this.reqInfo);
    if (typeof cancel === 'function' && !this.over) this.cancelAcquire = cancel;
  };

  private readonly onLease = (failure: UpstreamFailure | null, lease: StreamLease | null): void => {
    this.cancelAcquire = undefined;
    if (lease !== null && (this.over || this.down.closed || this.down.destroyed)) {
      lease.release(false);
      return;
    }
    if (this.over) return;
    if (failure !== null || lease === null) {
      if (this.mayRetry()) {
        this.retryLater();
        return;
      }
      const f = failure ?? { status: 503, reason: ProxyReason.ConnectFailed, message: 'no upstream' };
      this.fail(f.status, f.reason, f.message);
      return;
    }
    this.open(lease);
  };

  private open(lease: StreamLease): void {
    const { down, head, body } = this;
    this.rec.upstreamPeer = lease.peer;
    if (this.hasDeadline && this.grpc) {
      const left = this.deadlineAt - this.options.now();
      if (left <= 0) {
        lease.release(false);
        this.onDeadline();
        return;
      }
      // the next hop gets only what is left of the caller's deadline
      head['grpc-timeout'] = formatGrpcTimeout(left);
    }
    let endStream: boolean;
    let waitForTrailers: boolean;
    if (body === null) {
      endStream = down.endAfterHeaders;
      // request trailers are rare but legal (and used by some gRPC clients): wait for them
      waitForTrailers = !endStream;
    } else {
      endStream = body.ended && body.chunks.length === 0 && this.requestTrailers === null;
      waitForTrailers = !endStream && (!body.ended || this.requestTrailers !== null);
    }
    let up: http2.ClientHttp2Stream;
    try {
      up = lease.session.request(head, { endStream, waitForTrailers });
    } catch (err) {
      lease.release(true);
      if (this.mayRetry()) this.retryLater();
      else this.fail(503, ProxyReason.ConnectFailed, (err as Error).message);
      return;
    }
    if (waitForTrailers) up.once('wantTrailers', () => up.sendTrailers(this.requestTrailers ?? {}));
    this.attempt = new Attempt(lease, up, this, this.plan?.tryTimeoutMs ?? 0);
    if (body !== null) {
      body.attach(up);
    } else {
      down.on('data', this.onRequestData);
      if (down.endAfterHeaders) down.resume();
      else down.pipe(up);
    }
  }

  onAttemptHead(attempt: Attempt, head: IncomingHttpHeaders, endStream: boolean): void {
    if (attempt !== this.attempt || this.over) return;
    const status = Number(head[':status'] ?? 0);
    attempt.lease.onResponseHead?.(status);
    let grpcStatus: number | undefined;
    if (endStream && this.grpc) {
      grpcStatus = readGrpcStatus(head);
      attempt.grpcStatus = grpcStatus;
    }
    const retry = this.plan?.retry;
    if (retry !== undefined) {
      // gRPC: only a trailers-only answer can be retried (a normal head is forwarded at once)
      const retryable = this.grpc ? grpcStatus !== undefined && retry.grpcCodes.has(grpcStatus) : retry.httpCodes.has(status);
      if (retryable && this.mayRetry()) {
        attempt.abort(NGHTTP2_CANCEL, false);
        this.retryLater();
        return;
      }
    }
    this.over = true;
    this.rec.status = status;
    if (grpcStatus !== undefined) this.rec.grpcStatus = grpcStatus;
    attempt.commitTo(this.down, this.responseHead(head, attempt.lease), endStream, this.rec);
  }

  onAttemptReset(attempt: Attempt, code: number): void {
    if (attempt !== this.attempt || this.over) return;
    this.body?.detach();
    // REFUSED_STREAM means the upstream did nothing; other resets may have had effects, so
    // only idempotent requests and gRPC (no response head: gRPC's transparent retry) go again
    const safe = code === NGHTTP2_REFUSED_STREAM || this.grpc || IDEMPOTENT.has(this.rec.method);
    if (safe && this.mayRetry()) {
      this.retryLater();
      return;
    }
    this.fail(502, ProxyReason.UpstreamReset, `upstream ${attempt.lease.peer} reset the stream (code ${code})`);
  }

  onAttemptTimeout(attempt: Attempt): void {
    if (attempt !== this.attempt || this.over) return;
    attempt.abort(NGHTTP2_CANCEL);
    this.body?.detach();
    if (this.mayRetry()) {
      this.retryLater();
      return;
    }
    if (this.hasDeadline && this.options.now() >= this.deadlineAt) {
      this.onDeadline();
      return;
    }
    this.fail(504, ProxyReason.UpstreamTimeout, `upstream ${attempt.lease.peer} sent no response head in ${this.plan?.tryTimeoutMs ?? 0} ms`);
  }

  private responseHead(head: IncomingHttpHeaders, lease: StreamLease): OutgoingHttpHeaders {
    const out = forwardResponseHeaders(head);
    const mod = this.plan?.responseHeaders;
    if (mod !== undefined) modifyHead(out, mod);
    if (lease.responseHeaders !== undefined) appendFields(out, lease.responseHeaders);
    return out;
  }

  /** Attempts left, the whole body kept, deadline not passed, and the budget allows one more. */
  private mayRetry(): boolean {
    const plan = this.plan;
    if (plan === undefined || plan.retry === undefined || plan.budget === undefined) return false;
    if (this.retries + (this.retryPending ? 1 : 0) >= plan.retry.attempts) return false;
    if (this.body === null || !this.body.replayable) return false;
    if (this.down.closed || this.down.destroyed) return false;
    if (this.hasDeadline && this.options.now() >= this.deadlineAt) return false;
    return plan.budget.tryRetry();
  }

  private retryLater(): void {
    this.retryPending = true;
    this.attempt = null;
    const backoff = (this.plan?.retry?.backoffMs ?? 0);
    const jitter = backoff > 0 ? (this.options.random ?? Math.random)() * backoff : 0;
    this.waitTimer = setTimeout(this.acquire, backoff + jitter);
  }

  /** A proxy-made answer; for gRPC `grpcStatus` overrides the one mapped from `status`. */
  private fail(status: number, reason: ProxyReason, message: string, grpcStatus?: number, extra?: readonly string[]): void {
    this.over = true;
    if (this.waitTimer !== undefined) clearTimeout(this.waitTimer);
    this.rec.status = this.grpc ? 200 : status;
    this.rec.reason = reason;
    const sent = respondProxyError(this.down, this.grpc, status, reason, message, extra, grpcStatus);
    if (sent !== undefined) this.rec.grpcStatus = sent;
  }

  private readonly onDeadline = (): void => {
    this.deadlineTimer = undefined;
    if (this.finished) return;
    const attempt = this.attempt;
    attempt?.abort(NGHTTP2_CANCEL);
    this.body?.detach();
    if (!this.down.headersSent) {
      this.fail(504, ProxyReason.RequestTimeout, 'the request deadline passed', GrpcStatus.DeadlineExceeded);
      return;
    }
    // the response is under way: all that is left is to cut it off
    this.over = true;
    this.rec.reason = ProxyReason.RequestTimeout;
    if (!this.down.closed && !this.down.destroyed) this.down.close(NGHTTP2_CANCEL);
  };

  private readonly onRequestTrailers = (t: IncomingHttpHeaders): void => {
    this.requestTrailers = forwardResponseHeaders(t);
  };

  private readonly onRequestData = (chunk: Buffer): void => {
    this.rec.requestBodyBytes += chunk.length;
  };

  /** The whole request body is in (kept-body path only): mirrors get their copy now. */
  private readonly onRequestEnded = (): void => {
    const plan = this.plan;
    const body = this.body;
    if (plan === undefined || body === null || plan.mirrors.length === 0 || !body.replayable) return;
    const head: OutgoingHttpHeaders = { ...this.head };
    const authority = head[':authority'];
    if (typeof authority === 'string') head[':authority'] = shadowAuthority(authority);
    if (this.hasDeadline && this.grpc) head['grpc-timeout'] = formatGrpcTimeout(this.deadlineAt - this.options.now());
    for (const mirror of plan.mirrors) mirrorRequest(mirror, head, body.chunks, this.requestTrailers, this.reqInfo);
  };

  private readonly onDownClose = (): void => {
    this.over = true;
    if (this.cancelAcquire !== undefined) {
      // Still queued for a session (circuit breaker): give the place up now.
      const cancel = this.cancelAcquire;
      this.cancelAcquire = undefined;
      cancel();
    }
    if (this.waitTimer !== undefined) clearTimeout(this.waitTimer);
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    const code = this.down.rstCode;
    // cancellation from downstream: reset the upstream stream
    this.attempt?.cancel(code !== undefined && code !== 0 ? code : NGHTTP2_CANCEL);
    this.finished = true;
    const rec = this.rec;
    if (this.body !== null) rec.requestBodyBytes = this.body.received;
    if (this.plan !== undefined) rec.retries = this.retries;
    rec.durationMs = this.options.now() - this.started;
    this.options.onStream?.(rec);
  };
}
