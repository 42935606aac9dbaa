/**
 * The HTTP/1 client side of the codec: one attempt of an exchange on one leased upstream
 * connection. It writes the forwarded head (with the stages' edits) and the body, reads the
 * response head, body framing and end, and decides whether the connection can go back to the
 * pool. It reports to a ResponseHandler (the endpoint stage) and never decides policy: retries,
 * failover and timeouts belong to stages.
 *
 * Upstream sockets get this module's listeners once for their life (a pooled socket serves many
 * attempts): the listeners dispatch to the socket's current owner, so an attempt adds and
 * removes no listeners and allocates no closures.
 */
import type { Duplex } from 'node:stream';
import { ProxyReason } from '../../errors.js';
import type { BodySink } from '../pipeline/body.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { Http1Lease } from '../pipeline/lease.js';
import type { ResponseHandler, UpstreamAttempt } from '../pipeline/service.js';
import { localReply } from '../pipeline/service.js';
import { ChunkedScanner } from './chunked.js';
import { HeadReader, readResponseHead } from './head-reader.js';
import type { RequestHead, ResponseHead } from './parser.js';
import { serializeForwardedRequest } from './serialize.js';
import type { Http1Limits } from './types.js';

const OWNER = Symbol('trellis.http1.owner');
const READER = Symbol('trellis.http1.reader');
type UpSocket = Duplex & { [OWNER]?: Http1Attempt | null; [READER]?: HeadReader };

/**
 * The response reader of an upstream socket, made once for its life and reused by each attempt
 * on it (a socket goes back to its pool only with nothing left unread, so it starts empty).
 */
function readerOf(up: UpSocket): HeadReader {
  let r = up[READER];
  if (r === undefined) {
    r = new HeadReader();
    up[READER] = r;
  }
  return r;
}

function upData(this: UpSocket, chunk: Buffer): void {
  const o = this[OWNER];
  if (o != null) o.onUpData(chunk);
  // Bytes on a socket between attempts (idle in a pool): it cannot be reused.
  else this.destroy();
}
function upEnd(this: UpSocket): void {
  this[OWNER]?.onUpEnd();
}
function upClose(this: UpSocket): void {
  this[OWNER]?.onUpGone();
}
function upError(this: UpSocket): void {
  this[OWNER]?.onUpGone();
}
function upDrain(this: UpSocket): void {
  this[OWNER]?.onUpDrain();
}

function hookUp(up: UpSocket, owner: Http1Attempt): void {
  if (up[OWNER] === undefined) {
    up.on('data', upData);
    up.on('end', upEnd);
    up.on('close', upClose);
    up.on('error', upError);
    up.on('drain', upDrain);
  }
  up[OWNER] = owner;
}

/** Takes the attempt listeners off for good (a tunnel pipes the socket itself). */
function unhookUp(up: UpSocket): void {
  if (up[OWNER] === undefined) return;
  up.removeListener('data', upData);
  up.removeListener('end', upEnd);
  up.removeListener('close', upClose);
  up.removeListener('error', upError);
  up.removeListener('drain', upDrain);
  delete up[OWNER];
}

function noop(): void {}

const enum Rs {
  Head,
  Body,
  Done,
}

/** Starts one HTTP/1 attempt of `ex` on `lease`; the handler hears of its response. */
export class Http1Attempt implements UpstreamAttempt, BodySink {
  status = 0;
  endStream = false;
  /** The final response head (null before it). */
  head: ResponseHead | null = null;
  /** The attempt failed on a pooled connection before any response byte: the peer had closed it. */
  unsent = false;
  private readonly up: Duplex;
  private readonly reader: HeadReader;
  /** Made only for a chunked response. */
  private scanner: ChunkedScanner | null = null;
  private rs: Rs = Rs.Head;
  private remaining = 0;
  private bytesSeen = false;
  /** The whole request body went out. */
  private requestSent = false;
  /** Bytes past the response: the connection cannot be reused. */
  private extra = false;
  private pausedByUs = false;
  private over = false;
  private tunnel = false;
  /** The handler took the whole body with the head (takeWholeBody). */
  private bodyTaken = false;

  constructor(
    private readonly ex: Exchange,
    readonly lease: Http1Lease,
    private readonly handler: ResponseHandler,
    private readonly limits: Http1Limits,
  ) {
    this.up = lease.socket;
    this.reader = readerOf(this.up as UpSocket);
    this.reader.takeAll();
  }

  get grpcStatus(): undefined {
    return undefined;
  }

  get peer(): string {
    return this.lease.peer;
  }

  header(name: string): string | undefined {
    const h = this.head?.headers;
    if (h === undefined) return undefined;
    for (let i = 0; i < h.length; i += 2) if (h[i] === name) return h[i + 1];
    return undefined;
  }

  start(): void {
    const up = this.up;
    hookUp(up as UpSocket, this);
    setNoDelay(up);
    up.resume();
    const ex = this.ex;
    const head = serializeForwardedRequest(ex.wire as RequestHead, ex.requestEdits);
    const body = ex.body;
    if (body.ended && body.received === 0) {
      // No body: one write, no cork.
      this.requestSent = true;
      up.write(head);
      return;
    }
    up.cork();
    up.write(head);
    body.attach(this);
    up.uncork();
  }

  // ---- request body (BodySink) ---------------------------------------------------------------

  writeBody(chunk: Buffer): boolean {
    if (this.over) return true;
    return this.up.write(chunk);
  }

  endBody(): void {
    this.requestSent = true;
    if (this.rs === Rs.Done) this.finish();
  }

  onUpDrain(): void {
    if (!this.requestSent && !this.over) this.ex.body.drained();
  }

  // ---- response ------------------------------------------------------------------------------

  onUpData(chunk: Buffer): void {
    this.bytesSeen = true;
    if (this.rs === Rs.Head) {
      this.reader.push(chunk);
      this.parseHead();
    } else if (this.rs === Rs.Body) {
      this.forwardBody(chunk);
    } else {
      this.extra = true;
    }
  }

  private parseHead(): void {
    const r = this.reader;
    const ex = this.ex;
    for (;;) {
      const parsed = readResponseHead(r, this.limits, ex.method);
      if (parsed.kind === 'incomplete') return;
      if (parsed.kind === 'error') {
        this.fail(ProxyReason.UpstreamBadResponse, parsed.message, 502);
        return;
      }
      const status = parsed.status;
      if (status === 101 && !ex.upgrade) {
        this.fail(ProxyReason.UpstreamBadResponse, '101 without an upgrade request', 502);
        return;
      }
      if (status < 200 && status !== 101) {
        this.handler.onInterim(ex, parsed);
        if (this.over || r.length === 0) return;
        continue;
      }
      this.onFinalHead(parsed);
      return;
    }
  }

  private onFinalHead(resp: ResponseHead): void {
    this.head = resp;
    this.status = resp.status;
    this.lease.onResponseHead(resp.status);
    const ex = this.ex;
    if (resp.status === 101 || (ex.method === 'CONNECT' && resp.status < 300)) {
      // The handler takes the socket over (takeTunnel) or aborts the attempt.
      this.tunnel = true;
      this.endStream = true;
      this.handler.onHead(ex, this);
      return;
    }
    const noBody = resp.framing === 'none' || (resp.framing === 'length' && resp.contentLength === 0);
    this.endStream = noBody;
    this.rs = Rs.Body;
    this.remaining = resp.contentLength;
    if (resp.framing === 'chunked') (this.scanner ??= new ChunkedScanner()).reset();
    this.handler.onHead(ex, this);
    if (this.over) return;
    if (noBody || this.bodyTaken) {
      if (this.reader.length > 0) {
        this.reader.takeAll();
        this.extra = true;
      }
      this.responseDone();
      return;
    }
    if (this.reader.length > 0) this.forwardBody(this.reader.takeAll());
  }

  /**
   * For the handler, inside onHead: the whole body when it is framed by length, at most `max`
   * bytes, and already here (the common small response). The attempt then treats the body as
   * forwarded; the handler writes head and body at once.
   */
  takeWholeBody(max: number): Buffer | null {
    const resp = this.head;
    if (resp === null || resp.framing !== 'length' || this.rs !== Rs.Body) return null;
    const n = resp.contentLength;
    if (n === 0 || n > max || this.reader.length < n) return null;
    const body = this.reader.take(n);
    this.remaining = 0;
    this.ex.responseBodyBytes = n;
    if (this.reader.length > 0) {
      this.reader.takeAll();
      this.extra = true;
    }
    // responseDone() runs when onHead returns.
    this.bodyTaken = true;
    return body;
  }

  private forwardBody(chunk: Buffer): void {
    const resp = this.head!;
    let used: number;
    let done: boolean;
    if (resp.framing === 'length') {
      used = chunk.length < this.remaining ? chunk.length : this.remaining;
      this.remaining -= used;
      done = this.remaining === 0;
    } else if (resp.framing === 'chunked') {
      const scanner = this.scanner!;
      const r = scanner.push(chunk, 0);
      if (r < 0) {
        this.fail(ProxyReason.UpstreamBadResponse, scanner.error ?? 'bad chunked response body', 502);
        return;
      }
      used = r;
      done = scanner.done;
    } else {
      used = chunk.length;
      done = false;
    }
    if (used > 0) {
      this.ex.responseBodyBytes += used;
      this.handler.onData(this.ex, used === chunk.length ? chunk : chunk.subarray(0, used));
      if (this.over) return;
    }
    if (done) {
      if (used < chunk.length) this.extra = true;
      this.responseDone();
    }
  }

  private responseDone(): void {
    this.rs = Rs.Done;
    if (this.requestSent) {
      this.finish();
      return;
    }
    // The response came before the whole request: the connection is mid-message, never reused.
    this.extra = true;
    this.finish();
  }

  /** The response is complete: the lease goes back, then the handler hears of it. */
  private finish(): void {
    if (this.over) return;
    this.over = true;
    const resp = this.head;
    const reusable = resp !== null && resp.keepAlive && this.requestSent && !this.extra && this.reader.length === 0;
    this.ex.body.detach(this);
    this.detach();
    if (!reusable) this.destroySocket();
    this.lease.release(reusable, false);
    this.handler.onEnd(this.ex, null);
  }

  onUpEnd(): void {
    if (this.rs === Rs.Body && this.head !== null && this.head.framing === 'close') {
      this.extra = true; // the connection is over: not reusable
      this.responseDone();
      return;
    }
    this.onUpGone();
  }

  /** The upstream closed or failed before the response was complete. */
  onUpGone(): void {
    if (this.over || this.rs === Rs.Done || this.tunnel) return;
    if (this.head === null && this.lease.reused && !this.bytesSeen) this.unsent = true;
    const message = this.head === null ? 'upstream closed the connection before a response' : 'upstream closed the connection mid-response';
    this.fail(ProxyReason.UpstreamReset, message, 502);
  }

  private fail(reason: ProxyReason, message: string, status: number): void {
    if (this.over) return;
    this.over = true;
    this.ex.body.detach(this);
    this.detach();
    this.destroySocket();
    this.lease.release(false, true);
    this.handler.onLocal(this.ex, localReply(status, reason, message));
  }

  pause(): void {
    if (!this.pausedByUs && !this.over) {
      this.pausedByUs = true;
      this.up.pause();
    }
  }

  resume(): void {
    if (this.pausedByUs) {
      this.pausedByUs = false;
      this.up.resume();
    }
  }

  abort(failed: boolean): void {
    if (this.over) return;
    this.over = true;
    this.ex.body.detach(this);
    this.detach();
    this.destroySocket();
    this.lease.release(false, failed);
    this.handler.onAborted?.(this.ex, this);
  }

  /**
   * For the handler, inside onHead of a 101 or a 2xx to CONNECT: the socket and the bytes that
   * came after the head, for a raw tunnel. The lease stays held (the open tunnel counts as load
   * on its endpoint) until `tunnelClosed`.
   */
  takeTunnel(): { socket: Duplex; pending: Buffer } {
    this.over = true;
    this.ex.body.detach(this);
    const up = this.up;
    this.detach();
    unhookUp(up as UpSocket);
    return { socket: up, pending: this.reader.takeAll() };
  }

  /** The tunnel is over: the socket is gone, the lease goes back. */
  tunnelClosed(): void {
    this.up.on('error', noop);
    this.up.destroy();
    this.lease.release(false, false);
  }

  private detach(): void {
    const up = this.up as UpSocket;
    if (up[OWNER] === this) up[OWNER] = null;
    if (this.pausedByUs) {
      this.pausedByUs = false;
      up.resume();
    }
  }

  private destroySocket(): void {
    this.reader.takeAll();
    this.up.on('error', noop);
    this.up.destroy();
  }
}

/**
 * A proxy relays small writes it cannot merge (a head now, its body a moment later): with
 * Nagle on, the second waits for the peer's delayed ACK (~40 ms). Cached by Node, so cheap.
 */
export function setNoDelay(s: Duplex): void {
  const sock = s as Duplex & { setNoDelay?: (on: boolean) => unknown };
  if (typeof sock.setNoDelay === 'function') sock.setNoDelay(true);
}
