/**
 * The HTTP/1 server side of the codec: owns one downstream connection for its life, frames its
 * requests (strictly one at a time, pipelined ones held back), hands each to the listener's
 * pipeline as an Exchange, and writes what comes back (it is the pipeline's last
 * ResponseHandler). Framing, backpressure, keep-alive and tunnels are all it knows; routing,
 * retries, timeouts, identity and telemetry are stages.
 *
 * Nothing here awaits and nothing throws out of a socket callback: bad input becomes a response
 * with a `trellis-reason` header (and a record: the pipeline's finishers see it), socket errors
 * end the exchange, and a client that leaves cancels its exchange so every resource held for it
 * upstream (a connection, a queue place, a circuit-breaker permit) is given back.
 */
import type { Duplex } from 'node:stream';
import { ProxyReason } from '../../errors.js';
import { NO_BODY, StreamedBody } from '../pipeline/body.js';
import type { BodySource } from '../pipeline/body.js';
import { Exchange } from '../pipeline/exchange.js';
import { CancelReason, localReply } from '../pipeline/service.js';
import type { LocalReply, ResponseHandler, UpstreamAttempt } from '../pipeline/service.js';
import { BodyFramer } from './body-framer.js';
import type { Http1Attempt } from './client.js';
import { setNoDelay } from './client.js';
import { ConnectionTimer, Watch } from './conn-timer.js';
import { HeadReader, readRequestHead } from './head-reader.js';
import type { RequestHead, ResponseHead } from './parser.js';
import { localReply as localReplyBytes } from './local-reply.js';
import { responseBytes } from './response-bytes.js';
import { serializeResponseHead } from './serialize.js';
import { tunnelThrough } from './tunnel.js';
import type { Http1ConnectionHandle, Http1ServerOptions } from './types.js';

export type { Http1ConnectionHandle, Http1ServerOptions } from './types.js';

const enum St {
  /** Reading a request head. */
  Head,
  /** An exchange is in the pipeline; its body may still be arriving. */
  Serving,
  /** Upgraded or CONNECT: raw bytes both ways. */
  Tunnel,
  Closed,
}

/** A response body up to this size that came with its head leaves in one Buffer with the head. */
const MERGE_BODY_BYTES = 16 * 1024;

/** Serve HTTP/1.1 on one accepted downstream connection until it closes. */
export function serveHttp1(socket: Duplex, options: Http1ServerOptions): Http1ConnectionHandle {
  const c = new Http1Connection(socket, options);
  c.start();
  return c;
}

class Http1Connection implements Http1ConnectionHandle, ResponseHandler, BodySource {
  private state: St = St.Head;
  private readonly reader = new HeadReader();
  private readonly framer = new BodyFramer();
  private readonly timer: ConnectionTimer;
  private readonly clientAddress: string | undefined;
  private looping = false;
  private again = false;

  // The exchange in flight (all reset by beginExchange).
  private ex: Exchange | null = null;
  private req: RequestHead | null = null;
  private body: StreamedBody | null = null;
  private reqDone = true;
  private attempt: Http1Attempt | null = null;
  private closeAfter = false;
  private bodyPaused = false;
  private upPaused = false;
  private corked = false;
  /** Monotonic ms of the current head's first byte (-1: none yet). */
  private headStart = -1;

  constructor(
    private readonly down: Duplex,
    private readonly opts: Http1ServerOptions,
  ) {
    const l = opts.limits;
    this.timer = new ConnectionTimer(opts.clock, l.idleTimeoutMs, l.headTimeoutMs, l.bodyIdleTimeoutMs, (what) => {
      if (what === Watch.Body) {
        if (this.state === St.Serving && !this.reqDone) this.refuseBody('request body timeout: no body bytes for too long', 408);
      } else if (what !== Watch.None && this.state === St.Head) {
        this.destroyAll();
      }
    });
    this.clientAddress = (down as Duplex & { remoteAddress?: string }).remoteAddress;
    this.onDownData = this.onDownData.bind(this);
    this.onDownEnd = this.onDownEnd.bind(this);
    this.onDownGone = this.onDownGone.bind(this);
    this.onDownDrain = this.onDownDrain.bind(this);
    this.uncork = this.uncork.bind(this);
  }

  start(): void {
    const d = this.down;
    // A client's end is ours to handle (onDownEnd), not Node's to answer with our own end.
    d.allowHalfOpen = true;
    setNoDelay(d);
    d.on('data', this.onDownData);
    d.on('end', this.onDownEnd);
    d.on('close', this.onDownGone);
    d.on('error', this.onDownGone);
    d.on('drain', this.onDownDrain);
    this.timer.arm(Watch.Idle);
  }

  get busy(): boolean {
    return this.state === St.Serving || this.state === St.Tunnel;
  }

  // ---- downstream bytes -------------------------------------------------------------------------

  private onDownData(chunk: Buffer): void {
    switch (this.state) {
      case St.Head:
        this.reader.push(chunk);
        this.next();
        return;
      case St.Serving:
        if (!this.reqDone) {
          this.forwardBody(chunk);
          return;
        }
        // The next pipelined request while this one is served: hold a bounded amount, then
        // stop reading. Reading on meanwhile lets a client's reset end the exchange at once.
        this.reader.push(chunk);
        if (this.reader.length >= this.opts.limits.maxHeadBytes) this.down.pause();
        return;
      default:
    }
  }

  /**
   * The client closed its sending side. Between requests that ends the connection. With an
   * exchange in flight it is taken as the client going away, as Envoy (half-close off, its
   * default) and nginx (proxy_ignore_client_abort off) take it: TCP cannot tell a half-close
   * from a client that timed out and closed, and waiting on would hold the upstream request,
   * its connection and its circuit-breaker permit for a response nobody reads.
   */
  private onDownEnd(): void {
    if (this.state === St.Head) this.closeDown();
    else if (this.state === St.Serving) this.destroyAll();
  }

  private onDownGone(): void {
    if (this.state !== St.Closed && this.state !== St.Tunnel) this.destroyAll();
  }

  private onDownDrain(): void {
    if (this.upPaused) {
      this.upPaused = false;
      this.attempt?.resume();
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
      this.readHead();
    } while (this.again && this.state === St.Head);
    this.looping = false;
  }

  private readHead(): void {
    const r = this.reader;
    r.skipLeadingEmptyLines();
    if (r.length === 0) {
      this.headStart = -1;
      this.timer.arm(Watch.Idle);
      this.down.resume();
      return;
    }
    if (this.headStart < 0) this.headStart = this.opts.clock.now();
    const parsed = readRequestHead(r, this.opts.limits);
    if (parsed.kind === 'incomplete') {
      this.timer.arm(Watch.Head);
      this.down.resume();
      return;
    }
    this.timer.disarm();
    if (parsed.kind === 'error') {
      r.takeAll();
      this.refuseHead(localReply(parsed.status, parsed.reason, parsed.message));
      return;
    }
    this.beginExchange(parsed);
  }

  // ---- an exchange --------------------------------------------------------------------------------

  private beginExchange(req: RequestHead): void {
    const hasBody = this.framer.begin(req);
    const body = hasBody ? new StreamedBody(this) : null;
    const ex = new Exchange({
      site: this.opts.site,
      protocol: 'http1',
      peer: this.opts.peer,
      clientAddress: this.clientAddress,
      method: req.method,
      target: req.target,
      headers: req.headers,
      authority: req.host,
      wire: req,
      grpc: false,
      upgrade: req.upgrade || req.method === 'CONNECT',
      body: body ?? NO_BODY,
      start: this.headStart,
      startedAt: this.opts.clock.epochMs(),
    });
    this.ex = ex;
    this.req = req;
    this.body = body;
    this.reqDone = !hasBody;
    this.attempt = null;
    this.bodyPaused = false;
    this.upPaused = false;
    this.closeAfter = !req.keepAlive || (this.opts.isDraining !== undefined && this.opts.isDraining());
    this.state = St.Serving;
    if (hasBody) {
      this.timer.arm(Watch.Body, true);
      // Body bytes that came with the head are framed (and a chunked body validated) before any
      // stage sees the request: a smuggling attempt in one packet never reaches an upstream.
      if (this.reader.length > 0) this.forwardBody(this.reader.takeAll());
      if (this.state !== St.Serving) return;
    }
    if (this.reqDone && this.reader.length >= this.opts.limits.maxHeadBytes) this.down.pause();
    try {
      this.opts.pipeline.service.call(ex, this);
    } catch (err) {
      // A stage's bug: answer for it and keep the connection's other exchanges going.
      if (this.ex === ex) this.onLocal(ex, localReply(500, ProxyReason.InternalError, `internal error: ${(err as Error).message}`));
    }
  }

  /** Frames request body bytes into the exchange's body; what follows the body waits in the reader. */
  private forwardBody(chunk: Buffer): void {
    const f = this.framer;
    if (!f.push(chunk)) {
      this.refuseBody(f.error!);
      return;
    }
    const used = f.used;
    const body = this.body!;
    if (used > 0) body.push(used === chunk.length ? chunk : chunk.subarray(0, used));
    if (!f.done) {
      this.timer.arm(Watch.Body, true);
      return;
    }
    this.timer.disarm();
    if (used < chunk.length) this.reader.push(chunk.subarray(used));
    this.reqDone = true;
    body.end(null);
    if (this.bodyPaused) {
      this.bodyPaused = false;
      this.down.resume();
    }
    if (this.reader.length >= this.opts.limits.maxHeadBytes) this.down.pause();
  }

  /** A malformed (or stalled) body: nothing more of it goes anywhere; 400 (or a cut) and close. */
  private refuseBody(message: string, status = 400): void {
    const ex = this.ex!;
    this.reader.takeAll();
    ex.cancel(CancelReason.Client);
    if (ex.headSent) {
      ex.reason = status === 408 ? ProxyReason.BodyTimeout : ProxyReason.BadRequest;
      this.destroyAll();
      return;
    }
    this.closeAfter = true;
    this.writeLocal(ex, localReply(status, status === 408 ? ProxyReason.BodyTimeout : ProxyReason.BadRequest, message));
  }

  /** A head refused before it parsed (400/431/501/505): answered, recorded, closed. */
  private refuseHead(reply: LocalReply): void {
    const ex = new Exchange({
      site: this.opts.site, protocol: 'http1', peer: this.opts.peer, clientAddress: this.clientAddress,
      method: '', target: '', headers: [], authority: undefined, wire: null, grpc: false, upgrade: false,
      body: NO_BODY, start: this.headStart < 0 ? this.opts.clock.now() : this.headStart, startedAt: this.opts.clock.epochMs(),
    });
    this.ex = ex;
    this.req = null;
    this.state = St.Serving;
    this.closeAfter = true;
    this.writeLocal(ex, reply);
  }

  // ---- BodySource: the pipeline holds the client back ------------------------------------------------

  pauseBody(): void {
    if (this.state !== St.Serving || this.reqDone || this.bodyPaused) return;
    this.bodyPaused = true;
    // The client is held back by us, not stalled: its body timer waits too.
    this.timer.disarm();
    this.down.pause();
  }

  resumeBody(): void {
    if (!this.bodyPaused) return;
    this.bodyPaused = false;
    if (this.state === St.Serving && !this.reqDone) {
      this.timer.arm(Watch.Body, true);
      this.down.resume();
    }
  }

  // ---- ResponseHandler: what comes back from the pipeline ------------------------------------------

  onInterim(ex: Exchange, head: unknown): void {
    // Interim (100 Continue, 103 Early Hints...) go to HTTP/1.1 clients only.
    if (ex !== this.ex || this.req === null || this.req.versionMinor !== 1) return;
    this.down.write(serializeResponseHead(head as ResponseHead, { close: false, keepAliveHeader: false, upgrade: false }));
  }

  onHead(ex: Exchange, attempt: UpstreamAttempt): void {
    if (ex !== this.ex) return;
    const a = attempt as Http1Attempt;
    const resp = a.head!;
    const req = this.req!;
    ex.status = resp.status;
    ex.upstreamPeer = a.peer;
    if (ex.upstreamMs === undefined) ex.upstreamMs = this.opts.clock.now() - ex.start;
    ex.headSent = true;
    if (resp.status === 101 || (req.method === 'CONNECT' && resp.status < 300)) {
      this.tunnel(ex, a, resp);
      return;
    }
    this.attempt = a;
    // An unfinished request body now means we cannot find where the next request starts once
    // this response is over: close after it.
    if (resp.framing === 'close' || !this.reqDone || (this.opts.isDraining !== undefined && this.opts.isDraining())) this.closeAfter = true;
    const close = this.closeAfter;
    const headOpts = { close, keepAliveHeader: !close && req.versionMinor === 0, upgrade: false };
    const whole = a.endStream ? null : a.takeWholeBody(MERGE_BODY_BYTES);
    if (a.endStream || whole !== null) {
      this.down.write(responseBytes(resp, headOpts, ex.responseEdits, whole));
      return;
    }
    // Head and the body bytes that come with it (onData, in this same tick) leave in one writev.
    this.down.cork();
    this.corked = true;
    process.nextTick(this.uncork);
    this.down.write(serializeResponseHead(resp, headOpts, ex.responseEdits));
  }

  onData(ex: Exchange, chunk: Buffer): void {
    if (ex !== this.ex) return;
    if (!this.down.write(chunk) && !this.upPaused) {
      this.upPaused = true;
      this.attempt?.pause();
    }
  }

  onEnd(ex: Exchange): void {
    if (ex !== this.ex) return;
    this.finishExchange();
  }

  onLocal(ex: Exchange, reply: LocalReply): void {
    if (ex !== this.ex) return;
    if (ex.headSent) {
      // Part of the response is out: all that is left is to cut the connection.
      ex.reason = reply.reason;
      this.destroyAll();
      return;
    }
    if (!this.reqDone) this.closeAfter = true;
    this.writeLocal(ex, reply);
  }

  private uncork(): void {
    if (this.corked) {
      this.corked = false;
      this.down.uncork();
    }
  }

  /** Writes a mesh-made response (trellis-reason, short text body, none for HEAD) and ends the exchange. */
  private writeLocal(ex: Exchange, reply: LocalReply): void {
    ex.status = reply.status;
    ex.reason = reply.reason;
    ex.headSent = true;
    if (!this.down.destroyed) {
      this.down.write(localReplyBytes(reply.status, reply.reason, reply.message, reply.headers, this.closeAfter, ex.method === 'HEAD'));
    }
    this.finishExchange();
  }

  private tunnel(ex: Exchange, attempt: Http1Attempt, resp: ResponseHead): void {
    ex.upgraded = true;
    const down = this.down;
    down.removeListener('data', this.onDownData);
    down.removeListener('end', this.onDownEnd);
    down.removeListener('drain', this.onDownDrain);
    this.state = St.Tunnel;
    this.timer.stop();
    tunnelThrough(down, attempt, serializeResponseHead(resp, { close: false, keepAliveHeader: false, upgrade: resp.status === 101 }, ex.responseEdits), this.reader.takeAll(), () => {
      this.state = St.Closed;
      this.finishRecord(ex);
    });
  }

  // ---- ends of exchanges -------------------------------------------------------------------------

  /** The exchange is over: report it, then serve the next request or close. */
  private finishExchange(): void {
    const ex = this.ex!;
    this.finishRecord(ex);
    this.ex = null;
    this.req = null;
    this.body = null;
    this.attempt = null;
    this.headStart = -1;
    if (this.upPaused) this.upPaused = false;
    if (this.bodyPaused) {
      this.bodyPaused = false;
      this.down.resume();
    }
    if (this.closeAfter || !this.reqDone) {
      this.closeDown();
      return;
    }
    this.state = St.Head;
    this.next();
  }

  private finishRecord(ex: Exchange): void {
    ex.durationMs = this.opts.clock.now() - ex.start;
    this.opts.pipeline.finish(ex);
  }

  private closeDown(): void {
    this.state = St.Closed;
    this.timer.stop();
    this.uncork();
    this.down.end();
  }

  /** Tears everything down (socket error, timeout, a response failing half-sent, the client gone). */
  private destroyAll(): void {
    if (this.state === St.Closed) return;
    const ex = this.ex;
    this.state = St.Closed;
    this.timer.stop();
    this.down.destroy();
    if (ex !== null) {
      this.ex = null;
      // Whatever the exchange holds upstream is given back; a client that left is never an
      // endpoint failure.
      ex.cancel(CancelReason.Client);
      this.finishRecord(ex);
    }
  }
}
