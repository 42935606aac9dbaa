/** Limits of the HTTP/1 codec (docs/operations.md lists them with every other limit). */

export interface Http1Limits {
  /** Largest request or response head (start line + fields + CRLFs). Over it: 431 / 502. */
  maxHeadBytes: number;
  /** Most header fields in one head. Over it: 431 / 502. */
  maxHeaderCount: number;
  /** A downstream connection that has started a head must finish it within this time (slowloris). */
  headTimeoutMs: number;
  /** An idle keep-alive downstream connection is closed after this time. */
  idleTimeoutMs: number;
}

export const DEFAULT_HTTP1_LIMITS: Http1Limits = {
  maxHeadBytes: 64 * 1024,
  maxHeaderCount: 128,
  headTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
};
