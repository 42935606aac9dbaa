/**
 * The HTTP/2 client side of the codec: one attempt of an exchange as one stream on a leased
 * session. It writes the forwarded head (with the stages' edits and what is left of a gRPC
 * deadline), the body and request trailers, and reports the response (head, data, trailers,
 * reset) to a ResponseHandler. Policy (retries, failover, timeouts) belongs to stages.
 */
import http2 from 'node:http2';
import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { ProxyReason } from '../../errors.js';
import type { Clock } from '../clock/clock.js';
import type { BodySink } from '../pipeline/body.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { Http2Lease } from '../pipeline/lease.js';
import type { LocalReply, ResponseHandler, UpstreamAttempt } from '../pipeline/service.js';
import { GrpcStatus, readGrpcStatus } from '../grpc/grpc-status.js';
import { formatGrpcTimeout } from '../grpc/grpc-timeout.js';
import { applyEdits } from './head-edits.js';
import { forwardRequestHeaders } from './headers.js';

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_REFUSED_STREAM } = http2.constants;

function ignore(): void {}

/** A failure of the upstream stream, with the RST_STREAM code it ended with (0: none). */
export interface StreamFailure extends LocalReply {
  readonly resetCode: number;
}

export class Http2Attempt implements UpstreamAttempt, BodySink {
  status = 0;
  endStream = false;
  grpcStatus: number | undefined = undefined;
  /** The response head as received. */
  headers: IncomingHttpHeaders | null = null;
  /** The upstream refused the stream before doing anything (REFUSED_STREAM, or it could not be opened). */
  unsent = false;
  private up: ClientHttp2Stream | null = null;
  private trailers: IncomingHttpHeaders | null = null;
  private requestTrailers: unknown = null;
  private ended = false;
  private over = false;
  private readonly onDrain = (): void => {
    if (!this.over) this.ex.body.drained();
  };

  constructor(
    private readonly ex: Exchange,
    private readonly lease: Http2Lease,
    private readonly handler: ResponseHandler,
    private readonly clock: Clock,
  ) {}

  get peer(): string {
    return this.lease.peer;
  }

  header(name: string): string | undefined {
    const v = this.headers?.[name];
    return Array.isArray(v) ? v[0] : v;
  }

  start(): void {
    const ex = this.ex;
    const head = this.forwardedHead();
    if (head === null) return;
    const body = ex.body;
    const endStream = body.ended && body.received === 0;
    let up: ClientHttp2Stream;
    try {
      up = this.lease.session.request(head, { endStream, waitForTrailers: !endStream });
    } catch (err) {
      // The session went away (GOAWAY, closed) between the lease and now: nothing was sent.
      this.unsent = true;
      this.fail({ status: 503, reason: ProxyReason.ConnectFailed, message: (err as Error).message, resetCode: 0 });
      return;
    }
    this.up = up;
    up.on('error', ignore);
    up.once('response', this.onResponse);
    up.on('data', this.onData);
    up.once('trailers', this.onTrailers);
    up.once('end', this.onEnd);
    up.once('close', this.onClose);
    if (!endStream) {
      up.once('wantTrailers', this.onWantTrailers);
      body.attach(this);
    }
  }

  /** The head for the upstream, or null when the deadline has already passed (then the handler was told). */
  private forwardedHead(): OutgoingHttpHeaders | null {
    const ex = this.ex;
    const head = forwardRequestHeaders(ex.wire as IncomingHttpHeaders, undefined, undefined);
    if (ex.requestEdits !== null) applyEdits(head, ex.requestEdits, true);
    if (ex.deadline > 0 && ex.grpc) {
      const left = ex.deadline - this.clock.now();
      if (left <= 0) {
        this.fail({ status: 504, reason: ProxyReason.RequestTimeout, message: 'the request deadline passed', grpcStatus: GrpcStatus.DeadlineExceeded, resetCode: 0 });
        return null;
      }
      // The next hop gets only what is left of the caller's deadline.
      head['grpc-timeout'] = formatGrpcTimeout(left);
    }
    return head;
  }

  // ---- request body (BodySink) ---------------------------------------------------------------

  writeBody(chunk: Buffer): boolean {
    const up = this.up;
    if (up === null || this.over || up.destroyed) return true;
    if (up.write(chunk)) return true;
    up.once('drain', this.onDrain);
    return false;
  }

  endBody(trailers: unknown): void {
    const up = this.up;
    if (up === null || this.over || up.destroyed) return;
    this.requestTrailers = trailers;
    if (!up.writableEnded) up.end();
  }

  private readonly onWantTrailers = (): void => {
    const up = this.up!;
    // Request trailers are rare but legal (and used by some gRPC clients).
    up.sendTrailers((this.requestTrailers as OutgoingHttpHeaders | null) ?? {});
  };

  // ---- response --------------------------------------------------------------------------------

  private readonly onResponse = (head: IncomingHttpHeaders, flags: number): void => {
    if (this.over) return;
    this.headers = head;
    this.status = Number(head[':status'] ?? 0);
    this.endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    if (this.endStream && this.ex.grpc) this.grpcStatus = readGrpcStatus(head);
    this.lease.onResponseHead(this.status);
    this.handler.onHead(this.ex, this);
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.over) return;
    this.ex.responseBodyBytes += chunk.length;
    this.handler.onData(this.ex, chunk);
  };

  private readonly onTrailers = (t: IncomingHttpHeaders): void => {
    this.trailers = t;
    const s = readGrpcStatus(t);
    if (s !== undefined) this.grpcStatus = s;
  };

  private readonly onEnd = (): void => {
    this.ended = true;
  };

  private readonly onClose = (): void => {
    if (this.over) return;
    const up = this.up!;
    const code = up.rstCode ?? 0;
    if (this.headers === null) {
      // Closed before any response head: REFUSED_STREAM means the upstream did nothing.
      if (code === NGHTTP2_REFUSED_STREAM) this.unsent = true;
      this.fail({ status: 502, reason: ProxyReason.UpstreamReset, message: `upstream ${this.lease.peer} reset the stream (code ${code})`, resetCode: code });
      return;
    }
    if (!this.ended || code !== 0) {
      this.fail({ status: 502, reason: ProxyReason.UpstreamReset, message: `upstream ${this.lease.peer} reset the stream mid-response (code ${code})`, resetCode: code || NGHTTP2_CANCEL });
      return;
    }
    this.over = true;
    this.ex.body.detach(this);
    this.lease.release(false, false, this.grpcStatus);
    this.handler.onEnd(this.ex, this.trailers);
  };

  private fail(f: StreamFailure): void {
    if (this.over) return;
    this.over = true;
    this.ex.body.detach(this);
    const up = this.up;
    if (up !== null && !up.closed && !up.destroyed) up.close(NGHTTP2_CANCEL);
    this.lease.release(false, true, this.grpcStatus);
    this.handler.onLocal(this.ex, f);
  }

  pause(): void {
    this.up?.pause();
  }

  resume(): void {
    this.up?.resume();
  }

  abort(failed: boolean): void {
    if (this.over) return;
    this.over = true;
    this.ex.body.detach(this);
    const up = this.up;
    if (up !== null && !up.closed && !up.destroyed) up.close(NGHTTP2_CANCEL);
    this.lease.release(false, failed, this.grpcStatus);
    this.handler.onAborted?.(this.ex, this);
  }
}
