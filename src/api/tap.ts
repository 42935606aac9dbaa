/**
 * Live tap: a stream of the requests the proxies see, for `trellis tap`, `trellis top` and the
 * dashboard. Taps cost nothing while nobody is tapping (one field read per request); while a
 * tap is open each matching request becomes one TapEvent, capped per subscriber (events over
 * the cap are dropped and counted, never queued without bound).
 *
 * Proxy admin listener (loopback):
 *   GET /tap?<TapQuery>   -> 200 application/x-ndjson, one TapMessage per line, until the
 *                            client leaves or `max` request events were sent. The first line
 *                            is always {"kind":"attached",...} so callers know when the tap is live.
 *                         -> 400 text/plain naming the bad parameter.
 *
 * Control plane REST API:
 *   GET /api/v1/tap?<TapQuery>&workload=<name>|<namespace>/<name>  (workload absent = every proxy)
 *       -> 200 application/x-ndjson of TapMessage (or text/event-stream with `data: <TapMessage>`
 *          frames when the request says `accept: text/event-stream`, for the dashboard's EventSource).
 *          The control plane opens GET /tap on every running replica's proxy of the workload
 *          and merges their streams; its own first line is one "attached" naming all of them.
 *       -> 404 when the workload is unknown; 400 on a bad parameter.
 */

/** Query parameters, all optional. Names are the URL parameter names. */
export interface TapQuery {
  /** `inbound` (as served) or `outbound` (as sent); absent = both. */
  direction?: 'inbound' | 'outbound';
  /** Exact method, case-insensitive (`GET`). */
  method?: string;
  /** Path prefix (`/api`); compared with the request target without its query string. */
  path?: string;
  /**
   * Exact status (`503`), a class (`5xx`, `2xx`), `0` = no response, or `failed`: what
   * `trellis stat` counts as a failure (no response, a 5xx, or a gRPC status other than OK).
   */
  status?: string;
  /**
   * gRPC status code 0..16 (`grpcStatus=14`; a name such as `unavailable` in the URL is read as
   * its code): only gRPC calls that ended with it.
   */
  grpcStatus?: number;
  /** Stop after this many request events (1..100000). Absent = until the client leaves. */
  max?: number;
}

/** One finished request (HTTP/1 exchange or HTTP/2 stream) as one proxy saw it. */
export interface TapEvent {
  /** Epoch ms when the request head arrived. */
  startedAt: number;
  durationMs: number;
  direction: 'inbound' | 'outbound';
  protocol: 'http' | 'http2';
  /** The proxy that saw it. */
  proxy: { nodeId: string; namespace: string; workload: string };
  /** Caller: its SPIFFE ID when inbound over mTLS; this proxy's workload identity when outbound. */
  src: { identity?: string };
  /** Destination service (`<namespace>/<service>`, the routed backend's when a route chose one), and the endpoint that answered (`host:port`) when known. */
  dst: { service: string; endpoint?: string; identity?: string };
  method: string;
  authority?: string;
  /** Request target as received (path and query). */
  path: string;
  /** Final status sent back (0 when the exchange died before a status). */
  status: number;
  /** Final grpc-status of a gRPC call (in a 200 response: check it, not `status`, for failures). */
  grpcStatus?: number;
  /** trellis-reason when the mesh answered or the exchange failed. */
  reason?: string;
  /** `<namespace>/<name>` of the route that matched. */
  route?: string;
  retries?: number;
  bytesIn: number;
  bytesOut: number;
  /** Present when the request was sampled for tracing. */
  traceId?: string;
  /** Inbound: what decided authorization: `<namespace>/<name>` of the AuthorizationPolicy, `default` (the port's defaultAction) or `health-check`. */
  policy?: string;
  /** Inbound: `<namespace>/<name>` of the AUDIT policy that matched. */
  audit?: string;
  /** Inbound: `<namespace>/<name>` of the RateLimitPolicy over its limit (429 `rate-limited`, or admitted in shadow mode). */
  rateLimit?: string;
}

/** One line of a tap stream. */
export type TapMessage =
  | { kind: 'attached'; proxies: string[] }
  | { kind: 'request'; event: TapEvent }
  /** `dropped` events were not sent because the subscriber was over its cap (per second). */
  | { kind: 'dropped'; proxy: string; count: number }
  /** A proxy's stream could not be opened or broke (control-plane streams only). */
  | { kind: 'error'; proxy: string; message: string };
