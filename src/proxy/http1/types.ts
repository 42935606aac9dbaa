import type { Clock } from '../clock/clock.js';
import { DEFAULT_MAX_CONNECTIONS_PER_LISTENER } from '../http2/limits/connection-limiter.js';
import type { ListenerSite } from '../pipeline/exchange.js';
import type { Pipeline } from '../pipeline/stage.js';

/** Limits of the HTTP/1 codec and of every listener (docs/operations.md lists them with every other limit). */

export interface Http1Limits {
  /** Largest request or response head (start line + fields + CRLFs). Over it: 431 / 502. */
  maxHeadBytes: number;
  /** Most header fields in one head. Over it: 431 / 502. */
  maxHeaderCount: number;
  /** A downstream connection that has started a head must finish it within this time (slowloris). */
  headTimeoutMs: number;
  /** An idle keep-alive downstream connection is closed after this time. */
  idleTimeoutMs: number;
  /** A request body that sends nothing for this long is refused (408) and its exchange cancelled. */
  bodyIdleTimeoutMs: number;
  /** Connections one listener holds at once (HTTP/1, HTTP/2 and TCP); more are closed at accept and counted. */
  maxConnections: number;
  /** An inbound mTLS handshake must finish within this time. */
  tlsHandshakeTimeoutMs: number;
}

export const DEFAULT_HTTP1_LIMITS: Http1Limits = {
  maxHeadBytes: 64 * 1024,
  maxHeaderCount: 128,
  headTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  // Envoy's stream_idle_timeout default: a body may pause, but not hold a connection forever.
  bodyIdleTimeoutMs: 300_000,
  maxConnections: DEFAULT_MAX_CONNECTIONS_PER_LISTENER,
  tlsHandshakeTimeoutMs: 10_000,
};

export interface Http1ServerOptions {
  pipeline: Pipeline;
  site: ListenerSite;
  /** The caller's verified SPIFFE ID for every exchange of this connection, or null. */
  peer: string | null;
  limits: Http1Limits;
  clock: Clock;
  /** True while the listener drains: each response closes its connection. */
  isDraining?(): boolean;
}

/** What a listener needs to know of a served connection (drain closes idle ones). */
export interface Http1ConnectionHandle {
  /** An exchange is in flight (or a tunnel open). */
  readonly busy: boolean;
}
