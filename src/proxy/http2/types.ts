import type http2 from 'node:http2';
import type { UpstreamFailure } from '../http1/types.js';
import type { TraceFields } from '../tracing/types.js';

/** An HTTP/2 session lent for one stream (the h2 twin of http1's UpstreamLease). */
export interface StreamLease {
  readonly session: http2.ClientHttp2Session;
  /** Endpoint SPIFFE ID or app address, for logs. */
  readonly peer: string;
  /** Response head arrived; `status` is the :status (for passive health and latency). */
  onResponseHead?(status: number): void;
  /**
   * Exactly once, when the stream is over. `failed`: reset or no response. `grpcStatus`: the
   * final grpc-status if there was one (outlier detection counts UNAVAILABLE etc. as failures).
   */
  release(failed: boolean, grpcStatus?: number): void;
  /** Fields added to the response head, flat [name, value, ...] (e.g. a sticky-session cookie). */
  readonly responseHeaders?: readonly string[];
}

/** What an upstream may look at to pick an endpoint (consistent hashing). */
export interface StreamRequestInfo {
  /** Flat [name, value, ...], lower-case names, no pseudo-headers. */
  readonly headers: readonly string[];
}

export interface Http2Upstream {
  /** May return a function that withdraws a request still waiting for a session (see Http1Upstream). */
  acquire(cb: (failure: UpstreamFailure | null, lease: StreamLease | null) => void, req?: StreamRequestInfo): (() => void) | void;
}

/** One finished stream, for metrics, the access log and spans (trace fields only when traced). */
export interface StreamRecord extends TraceFields {
  method: string;
  target: string;
  status: number;
  reason: string | undefined;
  upstreamPeer: string | undefined;
  requestBodyBytes: number;
  responseBodyBytes: number;
  durationMs: number;
  startedAt: number;
  /** `<namespace>/<name>` of the route that matched, if routes applied. */
  route?: string | undefined;
  /** Final grpc-status for gRPC streams (from trailers or a trailers-only response). */
  grpcStatus?: number | undefined;
  /** Route retries made. */
  retries?: number;
  /** Cluster the stream was sent to (RequestPlan.backend), when a planner ran. */
  backend?: string | undefined;
}
