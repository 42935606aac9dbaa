import type { TraceFields } from '../tracing/types.js';

/**
 * A finished exchange as observe, tap and trace report it, whatever the protocol (the
 * Exchange itself implements it, so reporting copies nothing).
 */
export interface ExchangeRecord extends TraceFields {
  readonly method: string;
  /** The request target as received. */
  readonly target: string;
  readonly host: string | undefined;
  /** Final status sent downstream (0 if the exchange died before one). */
  readonly status: number;
  /** Final grpc-status of a gRPC exchange. */
  readonly grpcStatus: number | undefined;
  /** Set when the mesh made the response itself or the exchange failed. */
  readonly reason: string | undefined;
  readonly upstreamPeer: string | undefined;
  readonly requestBodyBytes: number;
  readonly responseBodyBytes: number;
  /** ms from the request head's first byte to the end of the response. */
  readonly durationMs: number;
  /** ms from the request head to the response head. */
  readonly upstreamMs: number | undefined;
  readonly upgraded: boolean;
  /** Epoch ms. */
  readonly startedAt: number;
  /** `<namespace>/<name>` of the route that matched. */
  readonly route: string | undefined;
  /** Backend cluster the request went to, when a route chose it. */
  readonly backend: string | undefined;
  /** Route retries made. */
  readonly retries: number;
  /** What decided authorization: `<ns>/<name>` of the AuthorizationPolicy, `default` or `health-check` (inbound, when the port has policies). */
  readonly policy?: string | undefined;
  /** `<ns>/<name>` of the AUDIT policy that matched. */
  readonly auditPolicy?: string | undefined;
  /** `<ns>/<name>` of the RateLimitPolicy over its limit (a 429 `rate-limited`, or admitted in shadow mode). */
  readonly rateLimit?: string | undefined;
}
