import { DEFAULT_MAX_CONNECTIONS_PER_LISTENER } from '../http2/limits/connection-limiter.js';

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
  maxConnections: DEFAULT_MAX_CONNECTIONS_PER_LISTENER,
  tlsHandshakeTimeoutMs: 10_000,
};
