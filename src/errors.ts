/**
 * One errors module with stable codes. Two families:
 *
 * - ProxyReason: why the proxy itself answered a request (it never reached the app or the
 *   upstream answered nothing usable). Sent in the `trellis-reason` response header and the
 *   access log, so an operator never faces an unexplained 4xx/5xx.
 * - TrellisError codes (TRELLIS_E_*): failures of configuration, start-up and control calls,
 *   shown to users by the CLI with what and where.
 */
export const REASON_HEADER = 'trellis-reason';

export const ProxyReason = {
  /** Malformed request (RFC 9112 violation): 400 and the connection is closed. */
  BadRequest: 'bad-request',
  /** Request head larger than the limit: 431. */
  HeadTooLarge: 'head-too-large',
  /** Request line longer than the limit (8 KiB), usually a huge URL: 414. */
  UriTooLong: 'uri-too-long',
  /**
   * The request path is refused by path normalization (src/proxy/stages/normalize): an encoded
   * slash, backslash or control character, a raw backslash, a bad percent-escape, or a character
   * no path may hold: 400.
   */
  BadPath: 'bad-path',
  /** Transfer-coding the proxy does not implement: 501. */
  UnsupportedTransferEncoding: 'unsupported-transfer-encoding',
  /** The target cluster has no ready endpoint: 503. */
  NoEndpoints: 'no-endpoints',
  /** The target cluster is unknown to this proxy (no snapshot yet or not configured): 503. */
  UnknownCluster: 'unknown-cluster',
  /** Every endpoint tried refused or failed the TCP connect: 503. */
  ConnectFailed: 'connect-failed',
  /** The TLS handshake failed or the peer's SPIFFE ID was not the expected one: 503. */
  PeerRefused: 'peer-refused',
  /** The upstream closed or reset the connection before a complete response: 502. */
  UpstreamReset: 'upstream-reset',
  /** The upstream sent a malformed response: 502. */
  UpstreamBadResponse: 'upstream-bad-response',
  /** The upstream did not answer in time: 504. */
  UpstreamTimeout: 'upstream-timeout',
  /** The local app (inbound side) refused the connection: 503. */
  AppUnavailable: 'app-unavailable',
  /** The proxy is draining and takes no new requests: 503. */
  Draining: 'draining',
  /** Routes are attached to the service but none matches the request: 404. */
  NoRoute: 'no-route',
  /** The matching rule has no usable backend (all weights 0, or an unknown backend): 500. */
  NoBackend: 'no-backend',
  /** A RequestRedirect filter answered (301/302). */
  Redirect: 'redirect',
  /** A FaultInjection abort answered with its configured status. */
  FaultInjected: 'fault-injected',
  /** The route's `timeouts.request` (or a gRPC deadline) ran out before the response: 504. */
  RequestTimeout: 'request-timeout',
  /** Circuit breaker: maxConcurrentRequests or maxPendingRequests reached: 503. */
  Overloaded: 'overloaded',
  /** The mesh itself failed on this request (a bug: a stage threw): 500. The proxy keeps serving. */
  InternalError: 'internal-error',
  /** A request body stopped arriving (HTTP/1 bodyIdleTimeoutMs): 408, the connection is closed. */
  BodyTimeout: 'body-timeout',
  /** CONNECT, which no route explicitly allows: 405. */
  ConnectRefused: 'connect-refused',
  /**
   * An AuthorizationPolicy (or the port's defaultAction) refused the caller: 403 (gRPC
   * PERMISSION_DENIED). The inbound proxy's access log, tap and metrics name the policy.
   */
  Unauthorized: 'unauthorized',
  /** A RateLimitPolicy in enforce mode is over its limit: 429 with retry-after (gRPC RESOURCE_EXHAUSTED). */
  RateLimited: 'rate-limited',
  /**
   * An egress listener in `registryOnly` mode was asked for a destination no ExternalService
   * declares (or a request named no host): 403. TLS egress resets the connection instead.
   */
  EgressDenied: 'egress-denied',
} as const;
export type ProxyReason = (typeof ProxyReason)[keyof typeof ProxyReason];

export type TrellisErrorCode =
  | 'TRELLIS_E_CONFIG' // a mesh file or resource failed validation
  | 'TRELLIS_E_PORT_IN_USE'
  | 'TRELLIS_E_COMMAND_NOT_FOUND'
  | 'TRELLIS_E_WORKLOAD_EXITED'
  | 'TRELLIS_E_CONTROL_PLANE_UNREACHABLE'
  | 'TRELLIS_E_UNAUTHORIZED'
  | 'TRELLIS_E_NOT_FOUND'
  | 'TRELLIS_E_IDENTITY' // CSR/certificate problems
  | 'TRELLIS_E_TIMEOUT'
  | 'TRELLIS_E_STORE' // the control plane's store (etcd) is unreachable, or a write lost a race (retry)
  | 'TRELLIS_E_USAGE'; // bad CLI arguments

/** Error with a stable code and, where it applies, the place it is about (file:line, field path). */
export class TrellisError extends Error {
  readonly code: TrellisErrorCode;
  readonly where: string | undefined;

  constructor(code: TrellisErrorCode, message: string, options?: { where?: string; cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'TrellisError';
    this.code = code;
    this.where = options?.where;
  }

  /** One line for a user: `<where>: <message>` or just the message. */
  describe(): string {
    return this.where !== undefined ? `${this.where}: ${this.message}` : this.message;
  }
}

/** CLI exit codes scripts can rely on. */
export const ExitCode = {
  Ok: 0,
  /** A check failed, or the thing asked for is not healthy. */
  Failure: 1,
  /** Bad command-line usage. */
  Usage: 2,
  /** Configuration rejected (mesh file or resource invalid). */
  Config: 3,
  /** Control plane unreachable. */
  Unreachable: 4,
  /** Not found. */
  NotFound: 5,
} as const;
