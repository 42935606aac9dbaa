/**
 * The HTTP/1 forwarder: owns one downstream connection for its life and relays its requests,
 * strictly one at a time, to upstream connections leased from options.upstream.
 *
 * One Http1Connection object per downstream connection holds all state; its handlers are bound
 * once, so a request allocates no closures. Nothing here awaits; nothing throws out of a socket
 * callback (bad input becomes a response with a `trellis-reason` header, socket errors end the
 * exchange). Bodies are forwarded as the Buffers received, with backpressure both ways.
 */
import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { ProxyReason, REASON_HEADER } from '../../errors.js';
import { ChunkedScanner } from './chunked.js';
import { HeadReader, readRequestHead, readResponseHead } from './head-reader.js';
import type { RequestHead, ResponseHead } from './parser.js';
import { localResponse, serializeRequestHead, serializeResponseHead, serializeResponseHeadString } from './serialize.js';
import type { Planner, RequestPlan } from '../traffic/plan.js';
import { plannedRequestHead, plannedResponseHead, tracedRequestHead } from './head-rewrite.js';
import { hopHeaders } from '../../telemetry/tracing/hop.js';
import type { Hop } from '../../telemetry/tracing/hop.js';
import { setTraceFields } from '../tracing/types.js';
import { localReply } from './local-reply.js';
import { sendMirrors } from './mirror.js';
import { PlanTimers } from './plan-timers.js';
import type { PlanTimerOwner } from './plan-timers.js';
import type {
  ExchangeRecord, Http1Limits, Http1ServerOptions, Http1Upstream, RequestInfo, UpstreamFailure, UpstreamLease,
} from './types.js';

const enum St {
  /** Reading a request head. */
  Head,
  /** Waiting for options.upstream.acquire. Downstream read ahead only up to maxHeadBytes. */
  Acquire,
  /** Streaming the request body upstream. */
  Body,
  /** Request sent; waiting for / streaming the response. Read ahead bounded as in Acquire. */
  Wait,
  /** Upgraded or CONNECT: raw bytes both ways. */
  Tunnel,
  Closed,
}

const enum Rs {
  Head,
  Body,
  Done,
}

const enum Timer {
  None,
  Idle,
  Head,
}

/** Failovers after a mesh-made 503 (app-unavailable / draining), beyond the first try. */
export const MAX_MESH_FAILOVERS = 2;
/**
 * A request body is kept (as references to the received Buffers, no copies) for a replay up to
 * this many bytes; a larger one is streamed on and not replayed.
 */
export const MAX_REPLAY_BODY_BYTES = 64 * 1024;

/** Idempotent methods (RFC 9110 §9.2.2): a client or proxy may resend them after a failed connection. */
function isIdempotent(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'PUT' || method === 'DELETE' || method === 'TRACE';
}

/**
 * Whether a 503/502 was made by a peer's proxy in a way that allows sending the request to
 * another endpoint: `503 app-unavailable` / `503 draining` (the peer reached no app: any
 * method), or `502 upstream-reset` for an idempotent method (the peer's app closed the
 * connection without a response byte, as a killed app does; RFC 9110 §9.2.2 allows a retry).
 */
function meshRetryable(resp: ResponseHead, method: string): boolean {
  const h = resp.headers;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] === REASON_HEADER) {
      const v = h[i + 1];
      if (resp.status === 503) return v === ProxyReason.AppUnavailable || v === ProxyReason.Draining;
      return v === ProxyReason.UpstreamReset && isIdempotent(method);
    }
  }
  return false;
}

function defaultNow(): number {
  return performance.now();
}

/** Acquire failures where nothing reached any upstream, so a route retry is always safe. */
function isConnectFailure(f: UpstreamFailure): boolean {
  return f.status === 503 && (f.reason === ProxyReason.ConnectFailed || f.reason === ProxyReason.PeerRefused);
}

/** A response body up to this size that came with its head leaves in one Buffer with the head. */
const MERGE_BODY_BYTES = 16 * 1024;

/**
 * Upstream sockets get the forwarder's listeners once for their life (a pooled socket serves
 * many exchanges, possibly of different downstream connections): the listeners are module
 * functions that dispatch to the socket's current owner, so an exchange adds and removes no
 * listeners and allocates no closures.
 */
const OWNER = Symbol('trellis.http1.owner');
type UpSocket = Duplex & { [OWNER]?: Http1Connection | null };

function upData(this: UpSocket, chunk: Buffer): void {
  const o = this[OWNER];
  if (o != null) o.onUpData(chunk);
  // Bytes on a socket between exchanges (idle in a pool): it cannot be reused.
  else this.destroy();
}
function upEnd(this: UpSocket): void {
  const o = this[OWNER];
  if (o != null) o.onUpEnd();
}
function upClose(this: UpSocket): void {
  const o = this[OWNER];
  if (o != null) o.onUpClose();
}
function upError(this: UpSocket): void {
  const o = this[OWNER];
  if (o != null) o.onUpError();
}
function upDrain(this: UpSocket): void {
  const o = this[OWNER];
  if (o != null) o.onUpDrain();
}

function hookUp(up: UpSocket, owner: Http1Connection): void {
  if (up[OWNER] === undefined) {
    up.on('data', upData);
    up.on('end', upEnd);
    up.on('close', upClose);
    up.on('error', upError);
    up.on('drain', upDrain);
  }
  up[OWNER] = owner;
}

/** Takes the forwarder's listeners off (a tunnel pipes the socket itself). */
function unhookUp(up: UpSocket): void {
  if (up[OWNER] === undefined) return;
  up.removeListener('data', upData);
  up.removeListener('end', upEnd);
  up.removeListener('close', upClose);
  up.removeListener('error', upError);
  up.removeListener('drain', upDrain);
  delete up[OWNER];
}

/** What a listener needs to know of a served connection (drain closes idle ones). */
export interface Http1ConnectionHandle {
  /** An exchange is in flight (upstream asked for or leased, or a tunnel open). */
  readonly busy: boolean;
}

/** Serve HTTP/1.1 on one accepted downstream connection until it closes. */
export function serveHttp1(socket: Duplex, options: Http1ServerOptions): Http1ConnectionHandle {
  const c = new Http1Connection(socket, options);
  c.start();
  return c;
}

class Http1Connection implements Http1ConnectionHandle, PlanTimerOwner {
  private readonly down: Duplex;
  private readonly opts: Http1ServerOptions;
  private readonly limits: Http1Limits;
  private readonly now: () => number;
  private state: St = St.Head;
  private readonly reader = new HeadReader();
  private readonly upReader = new HeadReader();
  private readonly reqScanner = new ChunkedScanner();
  private readonly respScanner = new ChunkedScanner();

  /**
   * One timer per connection, created lazily and kept: arming sets `deadline` and `timerKind`
   * (no timer call while the running timer fires before the deadline); when it fires early it
   * re-arms for the rest. So a request costs one clock read, not a setTimeout/clearTimeout.
   */
  private timer: NodeJS.Timeout | null = null;
  /** When `timer` fires (ms, performance.now). */
  private timerAt = 0;
  private deadline = 0;
  private timerKind: Timer = Timer.None;
  private looping = false;
  private again = false;
  /** Fault delay, retry backoff and plan timeouts; made by the first planned request needing one. */
  private planTimers: PlanTimers | null = null;

  // Per exchange.
  private req: RequestHead | null = null;
  /** The head as forwarded: `req` itself unless a plan rewrites it. */
  private fwd: RequestHead | null = null;
  private plan: RequestPlan<Http1Upstream> | null = null;
  /** This request's place in its trace; null while tracing is off. */
  private hop: Hop | null = null;
  /** Route retries made (plan.retry), not counting failovers and stale-socket replays. */
  private retries = 0;
  private mirrored = false;
  private lease: UpstreamLease | null = null;
  private up: Duplex | null = null;
  private reqDone = false;
  private reqRemaining = 0;
  private reqBodyBytes = 0;
  private prescanned = 0;
  /** The forwarded request head, kept for a replay (retry on a fresh connection, failover). */
  private sentHead: Buffer | null = null;
  /** Body bytes forwarded so far (only while `bodyKept`); null when there were none. */
  private keptBody: Buffer[] | null = null;
  private keptBytes = 0;
  /** Every body byte forwarded so far is in keptBody (true for a request without a body). */
  private bodyKept = true;
  /** Writing a replay instead of a fresh head on the next lease. */
  private replaying = false;
  private retried = false;
  private failovers = 0;
  /** Withdraws the acquire in progress, when the upstream queued it (circuit breaker). */
  private cancelAcquire: (() => void) | null = null;
  /** failoverKeys of the endpoints that answered a mesh-made 503 (allocated only then). */
  private tried: Set<object> | null = null;
  private rs: Rs = Rs.Head;
  private resp: ResponseHead | null = null;
  private respRemaining = 0;
  private respBodyBytes = 0;
  private upBytesSeen = false;
  private finalHeadSent = false;
  private upExtraBytes = false;
  private upPausedByUs = false;
  private downPausedForUp = false;
  private closeAfter = false;
  private status = 0;
  private reason: ProxyReason | undefined = undefined;
  private headStart = -1;
  private startedAt = 0;
  private headDoneAt = 0;
  private upstreamMs: number | undefined = undefined;
  private upgraded = false;
  private tunnelEnded = false;
  /** The client half-closed: serve what is buffered, then close. */
  private downEnded = false;

  constructor(socket: Duplex, options: Http1ServerOptions) {
    this.down = socket;
    this.opts = options;
    this.limits = options.limits;
    this.now = options.now ?? defaultNow;
    this.onDownData = this.onDownData.bind(this);
    this.onDownEnd = this.onDownEnd.bind(this);
    this.onDownClose = this.onDownClose.bind(this);
    this.onDownError = this.onDownError.bind(this);
    this.onDownDrain = this.onDownDrain.bind(this);
    this.onAcquire = this.onAcquire.bind(this);
    this.onTimer = this.onTimer.bind(this);
    this.onTunnelClose = this.onTunnelClose.bind(this);
  }

  start(): void {
    const d = this.down;
    // A client may half-close after its request (RFC 9112 §9.6): keep our side writable until
    // the response is out; every path below ends or destroys the socket itself.
    d.allowHalfOpen = true;
    setNoDelay(d);
    d.on('data', this.onDownData);
    d.on('end', this.onDownEnd);
    d.on('close', this.onDownClose);
    d.on('error', this.onDownError);
    d.on('drain', this.onDownDrain);
    this.arm(Timer.Idle);
  }

  // ---- timers -------------------------------------------------------------------------------

  get busy(): boolean {
    return this.lease !== null || this.state === St.Acquire;
  }

  private arm(kind: Timer): void {
    // Re-arming the running kind keeps its deadline (the head timeout runs from a head's first byte).
    if (kind === this.timerKind) return;
    const ms = kind === Timer.Idle ? this.limits.idleTimeoutMs : this.limits.headTimeoutMs;
    if (ms <= 0) {
      this.timerKind = Timer.None;
      return;
    }
    const now = performance.now();
    this.timerKind = kind;
    this.deadline = now + ms;
    if (this.timer !== null && this.timerAt <= this.deadline) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(this.onTimer, ms);
    this.timerAt = this.deadline;
  }

  private disarm(): void {
    this.timerKind = Timer.None;
  }

  private stopTimer(): void {
    this.timerKind = Timer.None;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.planTimers !== null) this.planTimers.stop();
  }

  private timers(): PlanTimers {
    return (this.planTimers ??= new PlanTimers(this));
  }

  /** Waits `ms` in St.Acquire (fault delay, retry backoff), then acquires (again). */
  private waitThenAcquire(ms: number): void {
    this.state = St.Acquire;
    if (ms <= 0) {
      this.reacquire();
      return;
    }
    this.timers().wakeIn(ms);
  }

  /** A fault delay or retry backoff is over. */
  onWake(): void {
    if (this.state === St.Acquire && this.lease === null) this.reacquire();
  }

  private onTimer(): void {
    this.timer = null;
    if (this.timerKind === Timer.None || this.state === St.Closed) return;
    const now = performance.now();
    if (now < this.deadline) {
      // Re-armed since this timer was set: wait for the rest.
      this.timer = setTimeout(this.onTimer, this.deadline - now);
      this.timerAt = this.deadline;
      return;
    }
    this.timerKind = Timer.None;
    if (this.state === St.Head) this.destroyAll();
  }

  // ---- downstream ---------------------------------------------------------------------------

  private onDownData(chunk: Buffer): void {
    switch (this.state) {
      case St.Head:
        this.reader.push(chunk);
        this.next();
        return;
      case St.Body:
        this.forwardReqBody(chunk, -1);
        return;
      case St.Closed:
      case St.Tunnel:
        return;
      default:
        // Bytes after the request (the next pipelined one) while this one is served: hold a
        // bounded amount, then stop reading. Reading on meanwhile lets a client's reset or
        // close end the exchange (and the upstream request) at once.
        this.reader.push(chunk);
        if (this.reader.length >= this.limits.maxHeadBytes) this.down.pause();
    }
  }

  private onDownEnd(): void {
    if (this.state === St.Head) {
      // Client done sending; whatever we wrote still flushes.
      this.closeDown();
    } else if (this.state === St.Body) {
      this.destroyAll();
    } else {
      // Requests already buffered are still served; then the connection is closed.
      this.downEnded = true;
    }
  }

  private closeDown(): void {
    this.state = St.Closed;
    this.stopTimer();
    this.down.end();
  }

  private onDownError(): void {
    this.destroyAll();
  }

  private onDownClose(): void {
    if (this.state !== St.Closed && this.state !== St.Tunnel) this.destroyAll();
  }

  private onDownDrain(): void {
    if (this.upPausedByUs && this.up !== null) {
      this.upPausedByUs = false;
      this.up.resume();
    }
  }

  /** Processes buffered request bytes; a loop, so synchronous exchanges never recurse. */
  private next(): void {
    if (this.looping) {
      this.again = true;
      return;
    }
    this.looping = true;
    do {
      this.again = false;
      this.processHead();
    } while (this.again && this.state === St.Head);
    this.looping = false;
  }

  private processHead(): void {
    const r = this.reader;
    r.skipLeadingEmptyLines();
    if (r.length === 0) {
      if (this.downEnded) {
        this.closeDown();
        return;
      }
      this.headStart = -1;
      this.arm(Timer.Idle);
      this.down.resume();
      return;
    }
    if (this.headStart < 0) {
      this.headStart = this.now();
      this.startedAt = Date.now();
    }
    const parsed = readRequestHead(r, this.limits);
    if (parsed.kind === 'incomplete') {
      if (this.downEnded) {
        this.closeDown();
        return;
      }
      this.arm(Timer.Head);
      this.down.resume();
      return;
    }
    this.disarm();
    if (parsed.kind === 'error') {
      r.takeAll();
      this.respondLocal(parsed.status, parsed.reason, parsed.message, true);
      return;
    }
    this.startExchange(parsed);
  }

  private startExchange(req: RequestHead): void {
    this.req = req;
    const tracer = this.opts.tracer;
    if (tracer !== undefined && tracer.enabled) this.hop = tracer.begin(req.headers);
    this.headDoneAt = this.now();
    this.closeAfter = !req.keepAlive || (this.opts.isDraining !== undefined && this.opts.isDraining());
    this.reqDone = req.framing === 'none' || (req.framing === 'length' && req.contentLength === 0);
    this.reqRemaining = req.contentLength;
    this.reqScanner.reset();
    this.prescanned = 0;
    if (req.framing === 'chunked' && this.reader.length > 0) {
      // Validate the chunked bytes already here before any upstream sees the request:
      // a smuggling attempt in one packet never reaches an upstream.
      const r = this.reqScanner.push(this.reader.bytes, 0);
      if (r < 0) {
        this.reader.takeAll();
        this.respondLocal(400, ProxyReason.BadRequest, this.reqScanner.error ?? 'bad chunked body', true);
        return;
      }
      this.prescanned = r;
    }
    this.state = St.Acquire;
    if (this.reader.length >= this.limits.maxHeadBytes) this.down.pause();
    const planner = this.opts.planner;
    if (planner !== undefined) {
      this.startPlanned(req, planner);
      return;
    }
    this.fwd = this.hop === null ? req : tracedRequestHead(req, hopHeaders(this.hop));
    const info: RequestInfo = {
      method: req.method,
      target: req.target,
      host: req.host,
      headers: req.headers,
      upgrade: req.upgrade || req.method === 'CONNECT',
    };
    this.acquire(info);
  }

  /** Plans the request, then answers it locally or forwards it (after a fault delay). */
  private startPlanned(req: RequestHead, planner: Planner<Http1Upstream>): void {
    let plan: RequestPlan<Http1Upstream>;
    try {
      plan = planner(req.method, req.target, req.headers);
    } catch {
      this.respondBeforeBody(503, ProxyReason.ConnectFailed, 'request planning failed', undefined);
      return;
    }
    this.plan = plan;
    const local = plan.local;
    if (local !== null || plan.upstream === null) {
      if (local !== null) this.respondBeforeBody(local.status, local.reason, local.message, local.headers);
      else this.respondBeforeBody(503, ProxyReason.ConnectFailed, 'request plan has no upstream', undefined);
      return;
    }
    if (plan.budget !== undefined) plan.budget.recordRequest();
    this.fwd = plannedRequestHead(req, plan.requestHeaders, plan.rewrite);
    if (this.hop !== null) this.fwd = tracedRequestHead(this.fwd, hopHeaders(this.hop));
    if (plan.requestTimeoutMs > 0) this.timers().requestTimeoutIn(plan.requestTimeoutMs);
    this.waitThenAcquire(plan.delayMs);
  }

  /**
   * A local answer before any body byte was read: a body already buffered whole is skipped so
   * the connection can carry on; otherwise it is closed (we cannot find the next request).
   */
  private respondBeforeBody(status: number, reason: ProxyReason, message: string, headers: readonly string[] | undefined): void {
    const req = this.req!;
    if (!this.reqDone) {
      if (req.framing === 'length' && this.reader.length >= this.reqRemaining) {
        this.reader.skip(this.reqRemaining);
        this.reqBodyBytes = this.reqRemaining;
        this.reqRemaining = 0;
        this.reqDone = true;
      } else if (req.framing === 'chunked' && this.prescanned > 0 && this.reqScanner.done) {
        this.reader.skip(this.prescanned);
        this.reqBodyBytes = this.prescanned;
        this.reqDone = true;
      }
    }
    this.respondLocal(status, reason, message, !this.reqDone, headers);
  }

  /** Asks for an upstream; a throwing Http1Upstream becomes a 503, never an exception here. */
  private acquire(info: RequestInfo): void {
    try {
      const cancel = (this.plan !== null ? this.plan.upstream! : this.opts.upstream).acquire(info, this.onAcquire);
      if (typeof cancel === 'function' && this.state === St.Acquire && this.lease === null) this.cancelAcquire = cancel;
    } catch {
      if (this.state === St.Acquire && this.lease === null) {
        this.respondLocal(503, ProxyReason.ConnectFailed, 'upstream acquire failed', !this.reqDone);
      }
    }
  }

  private onAcquire(failure: UpstreamFailure | null, lease: UpstreamLease | null): void {
    this.cancelAcquire = null;
    if (this.state !== St.Acquire || this.lease !== null) {
      // Connection gone meanwhile (or a duplicate callback): hand the lease back unused.
      if (lease !== null && lease !== this.lease) lease.release(true, false);
      return;
    }
    if (failure !== null || lease === null) {
      const f = failure ?? { status: 503, reason: ProxyReason.ConnectFailed, message: 'no upstream connection' };
      // Nothing was sent: a route retry is safe for any method.
      if (this.plan !== null && isConnectFailure(f) && this.routeRetry()) return;
      this.respondLocal(f.status, f.reason, f.message, !this.reqDone);
      return;
    }
    this.lease = lease;
    const up = lease.socket;
    this.up = up;
    this.rs = Rs.Head;
    this.upBytesSeen = false;
    this.upExtraBytes = false;
    hookUp(up as UpSocket, this);
    setNoDelay(up);
    up.resume();
    if (this.plan !== null && this.plan.tryTimeoutMs > 0) this.timers().tryTimeoutIn(this.plan.tryTimeoutMs);

    if (this.replaying) {
      // Retry on another connection or endpoint: head and whole body are still in memory.
      this.replaying = false;
      up.cork();
      up.write(this.sentHead!);
      const kept = this.keptBody;
      if (kept !== null) for (let i = 0; i < kept.length; i++) up.write(kept[i]!);
      up.uncork();
      this.state = St.Wait;
      return;
    }
    const req = this.fwd!;
    const head = serializeRequestHead(req, {
      stripRequestHeaders: this.opts.stripRequestHeaders,
      addRequestHeaders: this.opts.addRequestHeaders,
      upgrade: req.upgrade,
    });
    this.sentHead = head;
    if (this.reqDone) {
      // No body: one write, no cork.
      this.state = St.Wait;
      up.write(head);
      if (this.plan !== null) this.mirror();
      return;
    }
    up.cork();
    up.write(head);
    this.state = St.Body;
    if (this.reader.length > 0) {
      const pending = this.reader.takeAll();
      const pre = this.prescanned;
      if (pre === 0) {
        this.forwardReqBody(pending, -1);
      } else if (pre === pending.length || this.reqScanner.done) {
        this.forwardReqBody(pending, pre);
      } else {
        this.forwardReqBody(pending.subarray(0, pre), pre);
        if (this.state === St.Body) this.forwardReqBody(pending.subarray(pre), -1);
      }
    }
    up.uncork();
    if (this.state === St.Body && !this.downPausedForUp) this.down.resume();
  }

  /** `scanned` >= 0: chunked bytes the scanner already walked (see startExchange). */
  private forwardReqBody(chunk: Buffer, scanned: number): void {
    const req = this.req!;
    let used: number;
    let done: boolean;
    if (req.framing === 'length') {
      used = chunk.length < this.reqRemaining ? chunk.length : this.reqRemaining;
      this.reqRemaining -= used;
      done = this.reqRemaining === 0;
    } else if (scanned >= 0) {
      used = scanned;
      done = this.reqScanner.done;
    } else {
      const r = this.reqScanner.push(chunk, 0);
      if (r < 0) {
        this.abortUpstream(false);
        this.reader.takeAll();
        this.respondLocal(400, ProxyReason.BadRequest, this.reqScanner.error ?? 'bad chunked body', true);
        return;
      }
      used = r;
      done = this.reqScanner.done;
    }
    this.reqBodyBytes += used;
    let ok = true;
    if (used > 0) {
      const part = used === chunk.length ? chunk : chunk.subarray(0, used);
      if (this.bodyKept) this.keep(part);
      ok = this.up!.write(part);
    }
    if (done) {
      if (used < chunk.length) this.reader.push(chunk.subarray(used));
      this.reqDone = true;
      if (this.plan !== null) this.mirror();
      this.state = St.Wait;
      if (this.reader.length >= this.limits.maxHeadBytes) this.down.pause();
      if (this.rs === Rs.Done) this.finishExchange();
    } else if (!ok) {
      this.downPausedForUp = true;
      this.down.pause();
    }
  }

  /** Keeps a forwarded body part for a replay, up to MAX_REPLAY_BODY_BYTES in all. */
  private keep(part: Buffer): void {
    const n = this.keptBytes + part.length;
    if (n > MAX_REPLAY_BODY_BYTES) {
      this.bodyKept = false;
      this.keptBody = null;
      return;
    }
    this.keptBytes = n;
    if (this.keptBody === null) this.keptBody = [part];
    else this.keptBody.push(part);
  }

  /** The whole request (head and body) is in memory and can be sent again. */
  private canReplay(): boolean {
    return this.reqDone && this.bodyKept && this.sentHead !== null;
  }

  /**
   * Asks for another upstream after the current lease was dropped (or for the first one after a
   * fault delay or a failed acquire); a request already sent is written again.
   */
  private reacquire(): void {
    this.state = St.Acquire;
    this.replaying = this.sentHead !== null;
    this.rs = Rs.Head;
    this.resp = null;
    this.status = 0;
    this.upstreamMs = undefined;
    const req = this.fwd!;
    this.acquire({
      method: req.method, target: req.target, host: req.host, headers: req.headers,
      upgrade: req.upgrade || req.method === 'CONNECT', exclude: this.tried ?? undefined, fresh: this.retried,
    });
  }

  /**
   * A route retry (plan.retry) if attempts remain, the request can be sent again whole (never an
   * upgrade, never once the body streamed past the replay buffer) and the budget allows: the
   * current lease is dropped as failed and the request goes out again after the backoff with
   * jitter. The caller has checked the trigger (status code, or idempotency for resets/timeouts).
   */
  private routeRetry(): boolean {
    const plan = this.plan!;
    const retry = plan.retry;
    const req = this.req!;
    if (retry === undefined || plan.budget === undefined || this.retries >= retry.attempts) return false;
    if (req.upgrade || req.method === 'CONNECT') return false;
    // sentHead === null: the first acquire failed, nothing was read past the head yet.
    if (this.sentHead !== null && !this.canReplay()) return false;
    if (!plan.budget.tryRetry()) return false;
    this.retries++;
    if (this.planTimers !== null) this.planTimers.clearTry();
    this.abortUpstream(true);
    const b = retry.backoffMs;
    this.waitThenAcquire(b > 0 ? b + (this.opts.random ?? Math.random)() * b : 0);
    return true;
  }

  /** Sends the mirror copies once the request is complete, if its whole body was kept. */
  private mirror(): void {
    const plan = this.plan!;
    if (plan.mirrors.length === 0 || this.mirrored || !this.bodyKept) return;
    const req = this.fwd!;
    if (req.upgrade || req.method === 'CONNECT') return;
    this.mirrored = true;
    sendMirrors(plan.mirrors, req, this.keptBody, {
      stripRequestHeaders: this.opts.stripRequestHeaders, addRequestHeaders: this.opts.addRequestHeaders, limits: this.limits,
    });
  }

  /**
   * A 503 from a peer's proxy that reached no app (app-unavailable, draining), or its 502
   * upstream-reset to an idempotent request: if the request can be replayed, discard the
   * response, mark the endpoint and try another. Only reached for status 502/503, so it costs
   * nothing otherwise.
   */
  private meshFailover(resp: ResponseHead): boolean {
    const lease = this.lease!;
    const key = lease.failoverKey;
    if (key === undefined || this.failovers >= MAX_MESH_FAILOVERS || !this.canReplay() || !meshRetryable(resp, this.req!.method)) {
      return false;
    }
    this.failovers++;
    (this.tried ??= new Set()).add(key);
    if (lease.unavailable !== undefined) lease.unavailable();
    // The 503's body (if any) is not read: the connection is dropped, not drained.
    this.abortUpstream(true);
    this.reacquire();
    return true;
  }

  // ---- upstream -----------------------------------------------------------------------------

  onUpDrain(): void {
    if (this.downPausedForUp) {
      this.downPausedForUp = false;
      if (this.state === St.Body) this.down.resume();
    }
  }

  onUpData(chunk: Buffer): void {
    this.upBytesSeen = true;
    if (this.rs === Rs.Head) {
      this.upReader.push(chunk);
      this.parseResponse();
    } else if (this.rs === Rs.Body) {
      this.forwardRespBody(chunk);
    } else {
      this.upExtraBytes = true;
    }
  }

  private parseResponse(): void {
    const r = this.upReader;
    const req = this.req!;
    for (;;) {
      const parsed = readResponseHead(r, this.limits, req.method);
      if (parsed.kind === 'incomplete') return;
      if (parsed.kind === 'error') {
        this.badResponse(parsed.message);
        return;
      }
      const status = parsed.status;
      if (status === 101) {
        if (!req.upgrade) {
          this.badResponse('101 without an upgrade request');
          return;
        }
        this.startTunnel(parsed);
        return;
      }
      if (status < 200) {
        // Interim (100 Continue, 103 Early Hints...): forward to HTTP/1.1 clients, keep waiting.
        if (req.versionMinor === 1) {
          this.down.write(serializeResponseHead(parsed, { close: false, keepAliveHeader: false, upgrade: false }));
        }
        if (r.length === 0) return;
        continue;
      }
      this.onFinalHead(parsed);
      return;
    }
  }

  private onFinalHead(resp: ResponseHead): void {
    if ((resp.status === 503 || resp.status === 502) && this.meshFailover(resp)) return;
    const plan = this.plan;
    let head = resp;
    const lease = this.lease!;
    if (plan !== null) {
      if (this.planTimers !== null) this.planTimers.clearTry();
      // The route owner asked for retries on this status: any method (the discarded response
      // was read no further; its connection is dropped as failed for passive health).
      if (plan.retry !== undefined && plan.retry.httpCodes.has(resp.status) && this.routeRetry()) return;
      head = plannedResponseHead(resp, plan.responseHeaders, lease.responseHeaders);
    } else if (lease.responseHeaders !== undefined) {
      head = plannedResponseHead(resp, undefined, lease.responseHeaders);
    }
    const req = this.req!;
    this.resp = resp;
    this.status = resp.status;
    this.upstreamMs = this.now() - this.headDoneAt;
    if (lease.onResponseHead !== undefined) lease.onResponseHead(resp.status);
    if (req.method === 'CONNECT' && resp.status < 300) {
      this.startTunnel(resp);
      return;
    }
    // An unfinished request body at this point means we cannot know where the next request
    // starts once this response is over: close after it.
    if (resp.framing === 'close' || !this.reqDone) this.closeAfter = true;
    const close = this.closeAfter;
    this.finalHeadSent = true;
    const down = this.down;
    const headOpts = { close, keepAliveHeader: !close && req.versionMinor === 0, upgrade: false };
    const noBody = resp.framing === 'none' || (resp.framing === 'length' && resp.contentLength === 0);
    const n = resp.contentLength;
    if (noBody || (resp.framing === 'length' && n <= MERGE_BODY_BYTES && this.upReader.length >= n)) {
      // The common case: the whole response is here. Head and body leave as one Buffer in one
      // write (one segment, no Nagle stall, no writev).
      const hs = serializeResponseHeadString(head, headOpts);
      this.rs = Rs.Body;
      this.respBodyBytes = 0;
      let out: Buffer;
      if (noBody) {
        out = Buffer.from(hs, 'latin1');
      } else {
        out = Buffer.allocUnsafe(hs.length + n);
        out.write(hs, 0, 'latin1');
        this.upReader.bytes.copy(out, hs.length, 0, n);
        this.upReader.skip(n);
        this.respBodyBytes = n;
      }
      if (this.upReader.length > 0) {
        this.upReader.takeAll();
        this.upExtraBytes = true;
      }
      down.write(out);
      this.respDone();
      return;
    }
    // Head and the body bytes that came with it leave in one writev (one segment, no Nagle stall).
    down.cork();
    const ok = down.write(serializeResponseHead(head, headOpts));
    this.rs = Rs.Body;
    this.respBodyBytes = 0;
    if (resp.framing === 'none' || (resp.framing === 'length' && resp.contentLength === 0)) {
      if (this.upReader.length > 0) {
        this.upReader.takeAll();
        this.upExtraBytes = true;
      }
      this.respDone();
    } else {
      this.respRemaining = resp.contentLength;
      this.respScanner.reset();
      if (this.upReader.length > 0) this.forwardRespBody(this.upReader.takeAll());
      else if (!ok) this.pauseUp();
    }
    down.uncork();
  }

  private pauseUp(): void {
    if (this.up !== null && !this.upPausedByUs) {
      this.upPausedByUs = true;
      this.up.pause();
    }
  }

  private forwardRespBody(chunk: Buffer): void {
    const resp = this.resp!;
    let used: number;
    let done: boolean;
    if (resp.framing === 'length') {
      used = chunk.length < this.respRemaining ? chunk.length : this.respRemaining;
      this.respRemaining -= used;
      done = this.respRemaining === 0;
    } else if (resp.framing === 'chunked') {
      const r = this.respScanner.push(chunk, 0);
      if (r < 0) {
        // Head already sent downstream: nothing to do but cut both connections.
        this.reason = ProxyReason.UpstreamBadResponse;
        this.abortUpstream(true);
        this.destroyAll();
        return;
      }
      used = r;
      done = this.respScanner.done;
    } else {
      used = chunk.length;
      done = false;
    }
    this.respBodyBytes += used;
    let ok = true;
    if (used > 0) ok = this.down.write(used === chunk.length ? chunk : chunk.subarray(0, used));
    if (done) {
      if (used < chunk.length) this.upExtraBytes = true;
      this.respDone();
    } else if (!ok) {
      this.pauseUp();
    }
  }

  private respDone(): void {
    this.rs = Rs.Done;
    if (this.reqDone) {
      this.finishExchange();
    } else {
      // Response complete before the request body: stop relaying it and close.
      this.closeAfter = true;
      this.finishExchange();
    }
  }

  onUpEnd(): void {
    if (this.rs === Rs.Body && this.resp !== null && this.resp.framing === 'close') {
      this.upExtraBytes = true; // the connection is over: not reusable
      this.respDone();
      return;
    }
    this.upstreamFailed();
  }

  onUpClose(): void {
    if (this.lease !== null) this.upstreamFailed();
  }

  onUpError(): void {
    if (this.lease !== null) this.upstreamFailed();
  }

  private badResponse(message: string): void {
    this.abortUpstream(true);
    if (!this.finalHeadSent) {
      this.respondLocal(502, ProxyReason.UpstreamBadResponse, message, true);
    } else {
      this.reason = ProxyReason.UpstreamBadResponse;
      this.destroyAll();
    }
  }

  /** The upstream closed or failed before the response was complete. */
  private upstreamFailed(): void {
    if (this.lease === null) return;
    if (this.rs === Rs.Done) return;
    if (this.finalHeadSent) {
      this.reason = ProxyReason.UpstreamReset;
      this.abortUpstream(true);
      this.destroyAll();
      return;
    }
    const lease = this.lease;
    if (lease.reused && !this.retried && !this.upBytesSeen && this.canReplay()) {
      // Stale pooled connection: the peer closed it while idle. Retry once on a fresh one.
      this.retried = true;
      this.abortUpstream(false);
      this.reacquire();
      return;
    }
    this.abortUpstream(true);
    if (this.plan !== null && isIdempotent(this.req!.method) && this.routeRetry()) return;
    this.respondLocal(502, ProxyReason.UpstreamReset, 'upstream closed the connection before a complete response', !this.reqDone);
  }

  /** plan.tryTimeoutMs ran out before the final response head. */
  onTryTimeout(): void {
    if (this.lease === null || this.finalHeadSent) return;
    this.abortUpstream(true);
    if (isIdempotent(this.req!.method) && this.routeRetry()) return;
    this.respondLocal(504, ProxyReason.UpstreamTimeout, 'upstream did not answer in time', !this.reqDone);
  }

  /** plan.requestTimeoutMs ran out (retries and backoffs included) before the response was complete. */
  onRequestTimeout(): void {
    if (this.req === null || this.state === St.Closed || this.state === St.Tunnel) return;
    if (this.finalHeadSent) {
      // Part of the response is out: nothing to do but cut both connections.
      this.reason = ProxyReason.RequestTimeout;
      this.destroyAll(true);
      return;
    }
    const timers = this.planTimers!;
    if (this.lease !== null) this.abortUpstream(true);
    // An acquire in flight would answer a later request of this connection: close instead
    // (its lease then finds the connection closed and is handed back).
    else if (this.state === St.Acquire && !timers.waiting) this.closeAfter = true;
    timers.clearWake();
    this.respondLocal(504, ProxyReason.RequestTimeout, 'request timeout', !this.reqDone);
  }

  private detachUp(): Duplex | null {
    const up = this.up;
    if (up !== null) {
      (up as UpSocket)[OWNER] = null;
      if (this.upPausedByUs) up.resume();
    }
    this.up = null;
    this.upPausedByUs = false;
    this.downPausedForUp = false;
    return up;
  }

  /** Ends the lease without reuse. */
  private abortUpstream(failed: boolean): void {
    const lease = this.lease;
    if (lease === null) return;
    const sock = lease.socket;
    this.detachUp();
    this.lease = null;
    this.upReader.takeAll();
    sock.on('error', noop);
    sock.destroy();
    lease.release(false, failed);
  }

  // ---- tunnel (101 Switching Protocols, CONNECT) -------------------------------------------

  private startTunnel(resp: ResponseHead): void {
    const lease = this.lease!;
    this.resp = resp;
    this.status = resp.status;
    this.upgraded = true;
    this.finalHeadSent = true;
    if (this.upstreamMs === undefined) this.upstreamMs = this.now() - this.headDoneAt;
    if (resp.status === 101 && lease.onResponseHead !== undefined) lease.onResponseHead(101);
    const up = this.detachUp()!;
    unhookUp(up as UpSocket);
    const down = this.down;
    down.removeListener('data', this.onDownData);
    down.removeListener('end', this.onDownEnd);
    down.removeListener('drain', this.onDownDrain);
    this.state = St.Tunnel;
    this.stopTimer();
    down.write(serializeResponseHead(resp, { close: false, keepAliveHeader: false, upgrade: resp.status === 101 }));
    if (this.upReader.length > 0) down.write(this.upReader.takeAll());
    if (this.reader.length > 0) up.write(this.reader.takeAll());
    up.on('error', this.onTunnelClose);
    up.on('close', this.onTunnelClose);
    down.on('close', this.onTunnelClose);
    // down's 'error' listener (onDownError) stays and ends the tunnel too.
    down.pipe(up);
    up.pipe(down);
    down.resume();
    up.resume();
  }

  private onTunnelClose(): void {
    if (this.tunnelEnded) return;
    this.tunnelEnded = true;
    const up = this.lease !== null ? this.lease.socket : null;
    if (up !== null) {
      up.removeListener('error', this.onTunnelClose);
      up.on('error', noop);
      up.destroy();
    }
    this.down.destroy();
    const lease = this.lease;
    this.lease = null;
    this.state = St.Closed;
    if (lease !== null) lease.release(false, false);
    this.record(lease !== null ? lease.peer : undefined);
  }

  // ---- ends of exchanges ----------------------------------------------------------------------

  private respondLocal(status: number, reason: ProxyReason, message: string, close: boolean, headers?: readonly string[]): void {
    this.status = status;
    this.reason = reason;
    if (close) this.closeAfter = true;
    const isHead = this.req !== null && this.req.method === 'HEAD';
    if (!this.down.destroyed) {
      this.down.write(this.plan === null
        ? localResponse(status, reason, message, this.closeAfter, isHead)
        : localReply(status, reason, message, headers, this.closeAfter, isHead));
    }
    this.finalHeadSent = true;
    this.rs = Rs.Done;
    this.finishExchange();
  }

  private finishExchange(): void {
    let peer: string | undefined;
    const lease = this.lease;
    if (lease !== null) {
      peer = lease.peer;
      const resp = this.resp;
      const reusable = resp !== null && resp.keepAlive && this.reqDone && this.rs === Rs.Done &&
        !this.upExtraBytes && this.upReader.length === 0 && !this.closeAfterUpstream();
      this.detachUp();
      this.lease = null;
      if (!reusable) {
        lease.socket.on('error', noop);
        lease.socket.destroy();
      }
      lease.release(reusable, false);
    }
    this.record(peer);
    this.resetExchange();
    if (this.closeAfter) {
      this.closeDown();
      return;
    }
    this.state = St.Head;
    this.next();
  }

  /** The request body was cut short (response came first): the upstream is mid-message. */
  private closeAfterUpstream(): boolean {
    return this.req !== null && !this.reqDone;
  }

  private record(peer: string | undefined): void {
    const cb = this.opts.onExchange;
    const req = this.req;
    // A head refused before it parsed (400/431/501/505) is recorded too, with an empty method
    // and target: untrusted input becomes a response, a log line and a counter.
    if (cb === undefined || (req === null && this.reason === undefined)) return;
    const end = this.now();
    const rec: ExchangeRecord = {
      method: req !== null ? req.method : '',
      target: req !== null ? req.target : '',
      host: req !== null ? req.host : undefined,
      status: this.status,
      reason: this.reason,
      upstreamPeer: peer,
      requestBodyBytes: this.reqBodyBytes,
      responseBodyBytes: this.respBodyBytes,
      durationMs: end - this.headStart,
      upstreamMs: this.upstreamMs,
      upgraded: this.upgraded,
      startedAt: this.startedAt,
      route: this.plan !== null ? this.plan.route : undefined,
      backend: this.plan !== null ? this.plan.backend : undefined,
      retries: this.retries,
    };
    if (this.hop !== null) setTraceFields(rec, this.hop);
    try {
      cb(rec);
    } catch {
      // An observer's failure must not break the connection.
    }
  }

  private resetExchange(): void {
    this.req = null;
    this.hop = null;
    if (this.plan !== null) {
      this.plan = null;
      this.retries = 0;
      this.mirrored = false;
      if (this.planTimers !== null) this.planTimers.clear();
    }
    this.fwd = null;
    this.resp = null;
    this.reqDone = false;
    this.reqRemaining = 0;
    this.reqBodyBytes = 0;
    this.sentHead = null;
    this.keptBody = null;
    this.keptBytes = 0;
    this.bodyKept = true;
    this.replaying = false;
    this.retried = false;
    this.failovers = 0;
    this.tried = null;
    this.rs = Rs.Head;
    this.respRemaining = 0;
    this.respBodyBytes = 0;
    this.upBytesSeen = false;
    this.finalHeadSent = false;
    this.upExtraBytes = false;
    this.status = 0;
    this.reason = undefined;
    this.headStart = -1;
    this.upstreamMs = undefined;
    this.upgraded = false;
  }

  /** Tears everything down (socket error, timeout, half-sent response failing). */
  private destroyAll(upstreamFailed = false): void {
    if (this.state === St.Closed) return;
    if (this.cancelAcquire !== null) {
      // Still queued for an upstream connection: give the place up now.
      const cancel = this.cancelAcquire;
      this.cancelAcquire = null;
      cancel();
    }
    const inExchange = this.req !== null;
    const peer = this.lease !== null ? this.lease.peer : undefined;
    if (this.lease !== null) this.abortUpstream(upstreamFailed);
    this.state = St.Closed;
    this.stopTimer();
    this.down.destroy();
    if (inExchange) {
      this.record(peer);
      this.resetExchange();
    }
  }
}

/**
 * A proxy relays small writes it cannot merge (a head now, its body a moment later): with
 * Nagle on, the second waits for the peer's delayed ACK (~40 ms). Cached by Node, so cheap.
 */
function setNoDelay(s: Duplex): void {
  const sock = s as Duplex & { setNoDelay?: (on: boolean) => unknown };
  if (typeof sock.setNoDelay === 'function') sock.setNoDelay(true);
}

function noop(): void {
  // Swallows errors of sockets being discarded.
}
