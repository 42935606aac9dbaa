import http2 from 'node:http2';
import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { ProxyReason } from '../../errors.js';
import { readGrpcStatus } from './grpc-status.js';
import { forwardResponseHeaders } from './headers.js';
import type { StreamLease, StreamRecord } from './types.js';

const { NGHTTP2_FLAG_END_STREAM } = http2.constants;

/** What an attempt reports to the stream that owns it, until the owner commits to it. */
export interface AttemptOwner {
  /** The response head arrived. `endStream`: trailers-only (the whole response). */
  onAttemptHead(attempt: Attempt, head: IncomingHttpHeaders, endStream: boolean): void;
  /** The upstream stream closed before any response head (`code`: its RST_STREAM code). The lease is already released. */
  onAttemptReset(attempt: Attempt, code: number): void;
  /** No response head within the try timeout. */
  onAttemptTimeout(attempt: Attempt): void;
}

function ignore(): void {}

/**
 * One upstream stream on one lease. Before its response head is accepted the owner decides
 * (forward, or discard and retry); after `commitTo` it forwards the response, trailers and
 * resets to the downstream stream on its own. The lease is released exactly once.
 */
export class Attempt {
  private released = false;
  private headSeen = false;
  private committed = false;
  /** The upstream finished its response (END_STREAM received). */
  private responseEnded = false;
  private tryTimer: NodeJS.Timeout | undefined;
  /** Final grpc-status (trailers-only head or trailers). */
  grpcStatus: number | undefined;

  constructor(
    readonly lease: StreamLease,
    readonly up: ClientHttp2Stream,
    private readonly owner: AttemptOwner,
    tryTimeoutMs: number,
  ) {
    up.on('error', ignore);
    up.once('response', (head, flags) => {
      this.headSeen = true;
      if (this.tryTimer !== undefined) clearTimeout(this.tryTimer);
      if (this.released) return;
      owner.onAttemptHead(this, head, (flags & NGHTTP2_FLAG_END_STREAM) !== 0);
    });
    up.once('close', () => {
      if (this.tryTimer !== undefined) clearTimeout(this.tryTimer);
      if (this.released) return;
      const code = up.rstCode ?? 0;
      if (!this.headSeen) {
        this.release(true);
        owner.onAttemptReset(this, code);
        return;
      }
      this.release(code !== 0 || !this.committed, this.grpcStatus);
    });
    if (tryTimeoutMs > 0) {
      this.tryTimer = setTimeout(() => {
        if (!this.headSeen && !this.released) owner.onAttemptTimeout(this);
      }, tryTimeoutMs);
    }
  }

  get isReleased(): boolean {
    return this.released;
  }

  release(failed: boolean, grpcStatus?: number): void {
    if (this.released) return;
    this.released = true;
    if (this.tryTimer !== undefined) clearTimeout(this.tryTimer);
    this.lease.release(failed, grpcStatus);
  }

  /**
   * The downstream stream is gone: reset the upstream one unless its response was complete
   * (then the exchange succeeded and only the lease is returned).
   */
  cancel(code: number): void {
    if (this.released) return;
    if (this.responseEnded) this.release(false, this.grpcStatus);
    else this.abort(code);
  }

  /** Resets the upstream stream (if still open) and releases the lease. */
  abort(code: number, failed = true): void {
    if (!this.up.closed && !this.up.destroyed) this.up.close(code);
    this.release(failed, this.grpcStatus);
  }

  /**
   * Forwards this attempt's response to `down`: `head` (already edited) now, then body and
   * trailers, or nothing more for a trailers-only response. An upstream reset after the head
   * resets `down` with the same code.
   */
  commitTo(down: ServerHttp2Stream, head: OutgoingHttpHeaders, endStream: boolean, rec: StreamRecord): void {
    this.committed = true;
    const up = this.up;
    if (down.closed || down.destroyed) {
      this.abort(http2.constants.NGHTTP2_CANCEL);
      return;
    }
    if (endStream) {
      this.responseEnded = true;
      down.respond(head, { endStream: true });
      up.resume();
      return;
    }
    let trailers: OutgoingHttpHeaders | null = null;
    down.respond(head, { waitForTrailers: true });
    up.on('data', (chunk: Buffer) => {
      rec.responseBodyBytes += chunk.length;
    });
    up.once('end', () => {
      this.responseEnded = true;
    });
    up.once('trailers', (t: IncomingHttpHeaders) => {
      trailers = forwardResponseHeaders(t);
      const status = readGrpcStatus(t);
      if (status !== undefined) {
        this.grpcStatus = status;
        rec.grpcStatus = status;
      }
    });
    down.once('wantTrailers', () => {
      down.sendTrailers(trailers ?? {});
    });
    up.once('close', () => {
      const code = up.rstCode ?? 0;
      if (code !== 0 && !down.closed && !down.destroyed) {
        rec.reason = ProxyReason.UpstreamReset;
        down.close(code);
      }
    });
    up.pipe(down);
  }
}
