/**
 * The HTTP/2 server side of the codec: one downstream stream becomes one Exchange for the
 * listener's pipeline, and this object is the pipeline's last ResponseHandler: it sends the
 * response head, body and trailers (trailers-only responses stay trailers-only), resets the
 * stream when a response fails half-sent, and cancels the exchange when the client resets or
 * goes away, so nothing upstream is held for a stream nobody reads.
 */
import http2 from 'node:http2';
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { ProxyReason } from '../../errors.js';
import type { Clock } from '../clock/clock.js';
import { NO_BODY, StreamedBody } from '../pipeline/body.js';
import type { BodySource } from '../pipeline/body.js';
import { Exchange } from '../pipeline/exchange.js';
import type { ListenerSite } from '../pipeline/exchange.js';
import { CancelReason, localReply } from '../pipeline/service.js';
import type { LocalReply, ResponseHandler, UpstreamAttempt } from '../pipeline/service.js';
import type { Pipeline } from '../pipeline/stage.js';
import type { Http2Attempt, StreamFailure } from './client.js';
import { GrpcStatus, readGrpcStatus } from '../grpc/grpc-status.js';
import { applyEdits, flatRequestHeaders } from './head-edits.js';
import { forwardResponseHeaders, isGrpc } from './headers.js';
import { respondProxyError } from './reply.js';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;

export interface Http2StreamOptions {
  pipeline: Pipeline;
  site: ListenerSite;
  /** The caller's verified SPIFFE ID for every stream of this session, or null. */
  peer: string | null;
  /**
   * The client's address, from the accepted socket (under the field guard the session reads
   * through a JS stream that has none). Default: the session socket's.
   */
  clientAddress?: string | undefined;
  clock: Clock;
}

function ignore(): void {}

/** Serves one downstream stream through the pipeline. */
export function serveHttp2Stream(down: ServerHttp2Stream, headers: IncomingHttpHeaders, options: Http2StreamOptions): void {
  new ServedStream(down, headers, options).start();
}

class ServedStream implements ResponseHandler, BodySource {
  private ex: Exchange | null = null;
  private body: StreamedBody | null = null;
  private attempt: Http2Attempt | null = null;
  private trailers: OutgoingHttpHeaders | null = null;
  /** The response is complete (or answered locally): a close is not a cancel. */
  private answered = false;
  private finished = false;
  private waitingDrain = false;

  constructor(
    private readonly down: ServerHttp2Stream,
    private readonly headers: IncomingHttpHeaders,
    private readonly opts: Http2StreamOptions,
  ) {}

  start(): void {
    const { down, headers, opts } = this;
    const start = opts.clock.now();
    down.on('error', ignore);
    down.once('close', this.onClose);
    let body: StreamedBody | null = null;
    if (!down.endAfterHeaders) {
      body = new StreamedBody(this);
      this.body = body;
      down.on('data', this.onRequestData);
      down.once('trailers', this.onRequestTrailers);
      down.once('end', this.onRequestEnd);
    }
    const authority = headers[':authority'] ?? headers.host;
    const ex = new Exchange({
      site: opts.site,
      protocol: 'http2',
      peer: opts.peer,
      clientAddress: opts.clientAddress ?? down.session?.socket?.remoteAddress,
      method: String(headers[':method'] ?? ''),
      target: String(headers[':path'] ?? ''),
      headers: flatRequestHeaders(headers),
      authority: typeof authority === 'string' ? authority : undefined,
      wire: headers,
      grpc: isGrpc(headers),
      upgrade: false,
      body: body ?? NO_BODY,
      start,
      startedAt: opts.clock.epochMs(),
    });
    this.ex = ex;
    try {
      opts.pipeline.service.call(ex, this);
    } catch (err) {
      // A stage's bug: answer for it; the session's other streams carry on.
      this.onLocal(ex, localReply(500, ProxyReason.InternalError, `internal error: ${(err as Error).message}`, undefined, GrpcStatus.Internal));
    }
  }

  // ---- request body -------------------------------------------------------------------------------

  private readonly onRequestData = (chunk: Buffer): void => {
    this.body?.push(chunk);
  };

  private requestTrailers: OutgoingHttpHeaders | null = null;

  private readonly onRequestTrailers = (t: IncomingHttpHeaders): void => {
    this.requestTrailers = forwardResponseHeaders(t);
  };

  private readonly onRequestEnd = (): void => {
    this.body?.end(this.requestTrailers);
  };

  pauseBody(): void {
    this.down.pause();
  }

  resumeBody(): void {
    this.down.resume();
  }

  // ---- ResponseHandler --------------------------------------------------------------------------------

  onInterim(): void {
    // HTTP/2 interim responses are not relayed (node's client surfaces only 100 Continue).
  }

  onHead(ex: Exchange, attempt: UpstreamAttempt): void {
    if (ex !== this.ex || this.finished) return;
    const a = attempt as Http2Attempt;
    const down = this.down;
    ex.status = a.status;
    ex.upstreamPeer = a.peer;
    if (ex.upstreamMs === undefined) ex.upstreamMs = this.opts.clock.now() - ex.start;
    if (a.grpcStatus !== undefined) ex.grpcStatus = a.grpcStatus;
    ex.headSent = true;
    if (down.closed || down.destroyed) {
      a.abort(false);
      return;
    }
    const head = forwardResponseHeaders(a.headers!);
    if (ex.responseEdits !== null) applyEdits(head, ex.responseEdits, false);
    this.attempt = a;
    if (a.endStream) {
      this.answered = true;
      down.respond(head, { endStream: true });
      return;
    }
    down.respond(head, { waitForTrailers: true });
    down.once('wantTrailers', this.onWantTrailers);
  }

  onData(ex: Exchange, chunk: Buffer): void {
    if (ex !== this.ex || this.finished) return;
    if (!this.down.write(chunk) && !this.waitingDrain) {
      this.waitingDrain = true;
      this.attempt?.pause();
      this.down.once('drain', this.onDrain);
    }
  }

  onEnd(ex: Exchange, trailers: unknown): void {
    if (ex !== this.ex || this.finished) return;
    this.answered = true;
    if (trailers !== null && trailers !== undefined) {
      const t = trailers as IncomingHttpHeaders;
      this.trailers = forwardResponseHeaders(t);
      const s = readGrpcStatus(t);
      if (s !== undefined) ex.grpcStatus = s;
    }
    if (!this.down.closed && !this.down.destroyed) this.down.end();
  }

  onLocal(ex: Exchange, reply: LocalReply): void {
    if (ex !== this.ex || this.finished) return;
    this.answered = true;
    ex.reason = reply.reason;
    const down = this.down;
    if (ex.headSent) {
      // Part of the response is out: reset the stream, with the upstream's own code if it reset,
      // CANCEL when the mesh gave up on it (a deadline), INTERNAL_ERROR otherwise.
      const code = (reply as Partial<StreamFailure>).resetCode;
      const fallback = reply.reason === ProxyReason.RequestTimeout ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR;
      if (!down.closed && !down.destroyed) down.close(code !== undefined && code !== 0 ? code : fallback);
      return;
    }
    ex.headSent = true;
    // The request body is not wanted: read and drop it so flow control never stalls the client.
    down.resume();
    ex.status = ex.grpc ? 200 : reply.status;
    const sent = respondProxyError(down, ex.grpc, reply.status, reply.reason, reply.message, reply.headers, reply.grpcStatus);
    if (sent !== undefined) ex.grpcStatus = sent;
  }

  private readonly onWantTrailers = (): void => {
    this.down.sendTrailers(this.trailers ?? {});
  };

  private readonly onDrain = (): void => {
    this.waitingDrain = false;
    this.attempt?.resume();
  };

  /** The stream is over: a client that left before its answer cancels what it holds upstream. */
  private readonly onClose = (): void => {
    if (this.finished) return;
    this.finished = true;
    const ex = this.ex;
    if (ex === null) return;
    if (!this.answered) ex.cancel(CancelReason.Client);
    ex.durationMs = this.opts.clock.now() - ex.start;
    this.opts.pipeline.finish(ex);
  };
}
