/**
 * The span record every part of tracing passes around: what a proxy hop measured, in
 * OpenTelemetry's HTTP semantic conventions (stable, v1.23+), independent of the wire format.
 */

/** The proxy records 'server' and 'client' spans; the others arrive from apps through the receiver. */
export type SpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type SpanStatus = 'unset' | 'ok' | 'error';
export type AttributeValue = string | number | boolean;

export interface SpanRecord {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  readonly name: string;
  readonly kind: SpanKind;
  /** Epoch nanoseconds (a bigint: epoch ns do not fit a double exactly). */
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly status: SpanStatus;
  /** Set with status 'error': why (e.g. the trellis reason). */
  readonly statusMessage?: string | undefined;
}

/** What a forwarder knows of one finished exchange (h1 ExchangeRecord / h2 StreamRecord plus ids). */
export interface HttpSpanInput {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  /** 'server' for the inbound hop (the proxy in front of an app), 'client' for outbound. */
  readonly kind: 'server' | 'client';
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly method: string;
  /** Request target or :path; only the path goes into the span (queries may hold secrets). */
  readonly target: string;
  /** Host header or :authority; becomes server.address (and server.port when it has one). */
  readonly host: string | undefined;
  /** Final status sent downstream; 0 when the connection died before one. */
  readonly status: number;
  readonly protocol: '1.1' | '2';
  /** Final grpc-status of a gRPC stream. */
  readonly grpcStatus?: number | undefined;
  /** `<namespace>/<name>` of the matched route. */
  readonly route?: string | undefined;
  /** Trellis reason, when the proxy answered itself or the exchange failed. */
  readonly reason?: string | undefined;
  /** SPIFFE ID of the peer proxy (inbound: the caller; outbound: the endpoint). */
  readonly peerIdentity?: string | undefined;
}

/** Methods the HTTP conventions name; anything else is recorded as `_OTHER` (bounded cardinality). */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['CONNECT', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT', 'TRACE']);

/**
 * gRPC codes that make a server span an error (rpc conventions): UNKNOWN, DEADLINE_EXCEEDED,
 * UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS. On a client span every non-zero code is.
 */
const GRPC_SERVER_ERRORS: ReadonlySet<number> = new Set([2, 4, 12, 13, 14, 15]);

/** Path of an origin-form or absolute-form target, without the query. */
export function targetPath(target: string): string {
  let start = 0;
  if (target.charCodeAt(0) !== 47 /* '/' */) {
    // absolute-form: skip scheme://authority
    const scheme = target.indexOf('://');
    if (scheme < 0) return target; // asterisk-form or authority-form: keep as is
    const slash = target.indexOf('/', scheme + 3);
    if (slash < 0) return '/';
    start = slash;
  }
  const q = target.indexOf('?', start);
  const end = q < 0 ? target.length : q;
  return start === 0 && end === target.length ? target : target.slice(start, end);
}

function isGrpc(input: HttpSpanInput): boolean {
  return input.grpcStatus !== undefined;
}

function spanStatus(input: HttpSpanInput): SpanStatus {
  if (input.status === 0) return 'error';
  if (isGrpc(input)) {
    const code = input.grpcStatus!;
    if (input.kind === 'client' ? code !== 0 : GRPC_SERVER_ERRORS.has(code)) return 'error';
  }
  // HTTP conventions: 5xx is an error on both sides; 4xx only on the client side.
  if (input.status >= 500 || (input.kind === 'client' && input.status >= 400)) return 'error';
  return 'unset';
}

/** The span of one HTTP (or gRPC) exchange. */
export function httpSpan(input: HttpSpanInput): SpanRecord {
  const method = KNOWN_METHODS.has(input.method) ? input.method : '_OTHER';
  const path = targetPath(input.target);
  const attributes: Record<string, AttributeValue> = {
    'http.request.method': method,
    'url.path': path,
    'network.protocol.version': input.protocol,
  };
  if (method === '_OTHER') attributes['http.request.method_original'] = input.method;
  if (input.status !== 0) attributes['http.response.status_code'] = input.status;
  if (input.host !== undefined) {
    // host[:port] or [v6]:port
    const colon = input.host.lastIndexOf(':');
    if (colon > 0 && colon > input.host.lastIndexOf(']')) {
      attributes['server.address'] = input.host.slice(0, colon);
      const port = Number(input.host.slice(colon + 1));
      if (Number.isInteger(port) && port > 0 && port < 65536) attributes['server.port'] = port;
    } else {
      attributes['server.address'] = input.host;
    }
  }
  if (isGrpc(input)) {
    attributes['rpc.system'] = 'grpc';
    attributes['rpc.grpc.status_code'] = input.grpcStatus!;
  }
  if (input.route !== undefined) attributes['trellis.route'] = input.route;
  if (input.reason !== undefined) attributes['trellis.reason'] = input.reason;
  if (input.peerIdentity !== undefined) attributes['trellis.peer.identity'] = input.peerIdentity;
  const status = spanStatus(input);
  return {
    traceId: input.traceId,
    spanId: input.spanId,
    parentSpanId: input.parentSpanId,
    // HTTP conventions: "{method}"; gRPC (rpc conventions): "package.Service/Method".
    name: isGrpc(input) && path.length > 1 ? path.slice(1) : method === '_OTHER' ? 'HTTP' : method,
    kind: input.kind,
    startNs: input.startNs,
    endNs: input.endNs,
    attributes,
    status,
    statusMessage: status === 'error' ? input.reason : undefined,
  };
}

const NS_PER_MS = 1_000_000n;

/**
 * Epoch milliseconds (possibly fractional, e.g. `performance.timeOrigin + performance.now()`)
 * as epoch nanoseconds; sub-microsecond digits of a double at this magnitude are noise anyway.
 */
export function epochMsToNs(ms: number): bigint {
  const whole = Math.floor(ms);
  return BigInt(whole) * NS_PER_MS + BigInt(Math.round((ms - whole) * 1e6));
}

/** What a proxy knows of one finished opaque TCP connection. */
export interface TcpSpanInput {
  readonly traceId: string;
  readonly spanId: string;
  /** 'server' on the inbound proxy, 'client' on the outbound one. */
  readonly kind: 'server' | 'client';
  readonly startNs: bigint;
  readonly endNs: bigint;
  /** Destination service; becomes server.address and the span name. */
  readonly service: string;
  /** Bytes from the downstream side (client to server) and back. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Endpoint `host:port` the relay connected to, when known. */
  readonly upstream?: string | undefined;
  readonly peerIdentity?: string | undefined;
  /** Why the relay ended abnormally; makes the span an error. */
  readonly error?: string | undefined;
}

/**
 * The span of one relayed TCP connection. Opaque bytes carry no trace context, so each
 * connection is the root of its own trace (OpenTelemetry's network attributes, no HTTP ones).
 */
export function tcpSpan(input: TcpSpanInput): SpanRecord {
  const attributes: Record<string, AttributeValue> = {
    'network.transport': 'tcp',
    'server.address': input.service,
    'trellis.bytes_in': input.bytesIn,
    'trellis.bytes_out': input.bytesOut,
  };
  if (input.upstream !== undefined) attributes['network.peer.address'] = input.upstream;
  if (input.peerIdentity !== undefined) attributes['trellis.peer.identity'] = input.peerIdentity;
  const failed = input.error !== undefined;
  return {
    traceId: input.traceId,
    spanId: input.spanId,
    parentSpanId: undefined,
    name: `tcp ${input.service}`,
    kind: input.kind,
    startNs: input.startNs,
    endNs: input.endNs,
    attributes,
    status: failed ? 'error' : 'unset',
    statusMessage: failed ? input.error : undefined,
  };
}
