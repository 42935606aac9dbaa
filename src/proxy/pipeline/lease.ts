import type http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Exchange } from './exchange.js';
import type { LocalReply } from './service.js';

/**
 * An upstream connection lent to one attempt: what the endpoint stage and the codecs' clients
 * need from the pools, whatever lends it (a cluster's balancer and mTLS pools outbound, the
 * local app's pool inbound, a test's socket).
 */
export interface Lease {
  /** Endpoint SPIFFE ID or app address, for records. */
  readonly peer: string;
  /** The connection came from an idle pool (the peer may have closed it meanwhile). */
  readonly reused: boolean;
  /**
   * Set when the source has several interchangeable endpoints: identifies this lease's endpoint,
   * so a failover can avoid it (see LeaseRequest.exclude).
   */
  readonly failoverKey: object | undefined;
  /** Fields the source adds to the response sent downstream (a sticky-session cookie), or undefined. */
  readonly responseHeaders: readonly string[] | undefined;
  /** The endpoint's proxy could not reach its app (or is draining): avoid it for a while. */
  unavailable(): void;
  /** The response head arrived (the balancer measures latency from the lease). */
  onResponseHead(status: number): void;
  /**
   * Exactly once (later calls are ignored), when the attempt is over. `reusable`: an HTTP/1
   * connection between messages that may go back to the pool; `failed`: the attempt failed on
   * the upstream side (passive health, EWMA); `grpcStatus`: the final grpc-status if any.
   */
  release(reusable: boolean, failed: boolean, grpcStatus?: number): void;
}

export interface Http1Lease extends Lease {
  /** Connected net.Socket or tls.TLSSocket, driven by the attempt while leased. */
  readonly socket: Duplex;
}

export interface Http2Lease extends Lease {
  readonly session: http2.ClientHttp2Session;
}

/** What the endpoint stage asks of a source for one attempt. */
export interface LeaseRequest {
  /** failoverKeys of endpoints already tried for this exchange (failover), or undefined. */
  readonly exclude: ReadonlySet<object> | undefined;
  /** Lend a newly connected socket, not an idle one (after a pooled one died unused). */
  readonly fresh: boolean;
}

/** A place an exchange holds while it is in flight at a source (circuit breaking). Release is idempotent. */
export interface Permit {
  release(): void;
}

export const NO_PERMIT: Permit = Object.freeze({ release(): void {} });

export type LeaseCallback = (failure: LocalReply | null, lease: Lease | null) => void;

/** Where the endpoint stage gets connections (outbound: clusters; inbound: the local app). */
export interface LeaseSource {
  /** Takes a place for `ex` (maxConcurrentRequests), or the reply that refuses it. */
  admit(ex: Exchange): Permit | LocalReply;
  /**
   * A connection for one attempt of `ex` (HTTP/1 socket or HTTP/2 session, by ex.protocol). May
   * call back synchronously or later; may return a function that withdraws a request still
   * waiting (queued for a connection), after which `cb` is never called.
   */
  acquire(ex: Exchange, want: LeaseRequest, cb: LeaseCallback): (() => void) | undefined;
}

export function isPermit(x: Permit | LocalReply): x is Permit {
  return typeof (x as Permit).release === 'function';
}
