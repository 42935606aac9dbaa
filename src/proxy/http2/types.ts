import type http2 from 'node:http2';
import type { UpstreamFailure } from '../http1/types.js';

/** An HTTP/2 session lent for one stream (the h2 twin of http1's UpstreamLease). */
export interface StreamLease {
  readonly session: http2.ClientHttp2Session;
  /** Endpoint SPIFFE ID or app address, for logs. */
  readonly peer: string;
  onResponseHead?(): void;
  /** Exactly once, when the stream is over. */
  release(failed: boolean): void;
}

export interface Http2Upstream {
  acquire(cb: (failure: UpstreamFailure | null, lease: StreamLease | null) => void): void;
}

/** One finished stream, for metrics and the access log. */
export interface StreamRecord {
  method: string;
  target: string;
  status: number;
  reason: string | undefined;
  upstreamPeer: string | undefined;
  requestBodyBytes: number;
  responseBodyBytes: number;
  durationMs: number;
  startedAt: number;
}
