import type { ServerOptions } from 'node:http2';

/**
 * Every limit and timeout of an HTTP/2 listener (the ones nghttp2 and Node enforce, and the
 * timers session-guard.ts adds), in one place. docs/operations.md lists them beside the
 * HTTP/1 ones; keep the two in step.
 */
export interface Http2Limits {
  /**
   * SETTINGS_MAX_CONCURRENT_STREAMS: open streams a client may have on one connection. Over it
   * nghttp2 answers RST_STREAM(REFUSED_STREAM) while our SETTINGS are unacknowledged, and a
   * connection error (GOAWAY) once the client has acknowledged them (RFC 9113 §5.1.2 allows
   * either); Node closes a session after `maxSessionRejectedStreams` refusals.
   */
  maxConcurrentStreams: number;
  /**
   * SETTINGS_MAX_HEADER_LIST_SIZE, in octets (names + values + 32 per field, RFC 9113 §6.5.2).
   * Over it Node resets the stream with ENHANCE_YOUR_CALM. Enforced once the client has
   * acknowledged our SETTINGS; before that (the first flight) `maxSessionMemoryMb` bounds it.
   */
  maxHeaderListSize: number;
  /** Fields in one header list, the 4 request pseudo-header fields included. Over it: RST_STREAM(ENHANCE_YOUR_CALM). */
  maxHeaderListPairs: number;
  /**
   * Node's per-session memory budget in MB (nghttp2's allocations, header lists being
   * received, frames queued for sending). Over it new streams are refused (ENHANCE_YOUR_CALM);
   * open ones go on.
   */
  maxSessionMemoryMb: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: request body octets a client may send on one stream before we read them. */
  initialStreamWindowSize: number;
  /**
   * The connection-level receive window: request body octets a client may have sent on all of
   * a connection's streams and we have not read yet. Node acknowledges data only as it is read,
   * so this bounds the request bytes buffered per connection.
   */
  connectionWindowSize: number;
  /** PINGs we sent and the client has not acknowledged. */
  maxOutstandingPings: number;
  /** Entries in one SETTINGS frame from the client. */
  maxSettings: number;
  /** Invalid frames a session may receive before Node closes it. */
  maxSessionInvalidFrames: number;
  /** Streams refused (over maxConcurrentStreams or memory) before Node closes the session. */
  maxSessionRejectedStreams: number;
  /**
   * A connection must deliver a complete first request head this long after it was handed to
   * the server (the TCP accept, or the end of the TLS handshake), else it is closed: a bare
   * preface, or HEADERS that never end. nghttp2 shows a stream only once its whole header block
   * is in, so this is the HTTP/2 form of HTTP/1's head timeout. 0 disables it.
   */
  firstRequestTimeoutMs: number;
  /** A connection with no open stream for this long is sent GOAWAY(NO_ERROR) and closed. PINGs do not count as activity. 0 disables it. */
  idleTimeoutMs: number;
  /**
   * A stream on which nothing moved in either direction for this long, while it waits on the
   * client (its request is not complete, or response bytes wait for its flow-control window),
   * is reset with CANCEL. A stream that only waits on the app is left to the route's timeouts
   * and the gRPC deadline. 0 disables it.
   */
  streamIdleTimeoutMs: number;
  /**
   * Rapid-reset guard (CVE-2023-44487), as Envoy's overload.premature_reset_*: once a session
   * has had this many streams, it is closed if at least half of them were reset (by either
   * side) before a response head went out and within `prematureResetLifetimeMs`. 0 disables it.
   */
  prematureResetMinStreams: number;
  prematureResetLifetimeMs: number;
}

/**
 * Defaults for mesh listeners (inbound from peer proxies, outbound from the local app). A peer
 * proxy multiplexes all of one caller's requests to an endpoint over one connection, so the
 * stream limit is generous: 1024, Envoy's default since 1.36 (nghttp2 recommends 100, which
 * would queue a busy caller's requests).
 */
export const DEFAULT_HTTP2_LIMITS: Readonly<Http2Limits> = Object.freeze({
  maxConcurrentStreams: 1024,
  // Same bound as HTTP/1's maxHeadBytes (64 KiB), so a request fits either codec or neither.
  maxHeaderListSize: 64 * 1024,
  // HTTP/1 allows 128 fields in one head; HTTP/2 clients (browsers) send each cookie as its
  // own field (RFC 9113 §8.2.3), so twice that, and pseudo-header fields count here too. The
  // 64 KiB list size (32 octets overhead per field) bounds the memory either way.
  maxHeaderListPairs: 256,
  // Node's default. 1024 streams with small heads need about 1 MB of it; the rest is room for
  // response frames queued to slow readers.
  maxSessionMemoryMb: 10,
  // RFC 9113's initial window: per stream, 64 KiB of unread request body at most.
  initialStreamWindowSize: 65_535,
  // Envoy's edge recommendation: at most 1 MiB of unread request body per connection.
  connectionWindowSize: 1024 * 1024,
  // Node's defaults. They bound our own PINGs; floods of the client's PINGs and SETTINGS are
  // met by nghttp2's limit on queued ACKs, always on (limits.test.ts shows it).
  maxOutstandingPings: 10,
  maxSettings: 32,
  maxSessionInvalidFrames: 1000,
  maxSessionRejectedStreams: 100,
  // HTTP/1's head timeout.
  firstRequestTimeoutMs: 10_000,
  // Longer than HTTP/1's 60 s: an HTTP/2 connection carries a whole caller's traffic and costs
  // an mTLS handshake to rebuild; the connection limit bounds how many may sit idle.
  idleTimeoutMs: 300_000,
  // Envoy's stream_idle_timeout default, applied only while the client is the one stalling.
  streamIdleTimeoutMs: 300_000,
  // Envoy's defaults (premature_reset_total_stream_count 500, min_stream_lifetime 1 s).
  prematureResetMinStreams: 500,
  prematureResetLifetimeMs: 1000,
});

/** The ingress faces clients outside the mesh: Envoy's edge recommendation of 100 streams per connection. */
export const EDGE_HTTP2_LIMITS: Readonly<Http2Limits> = Object.freeze({ ...DEFAULT_HTTP2_LIMITS, maxConcurrentStreams: 100 });

/** The http2.createServer options that make nghttp2 and Node enforce `limits` (the timers are guardSession's). */
export function http2ServerOptions(limits: Readonly<Http2Limits> = DEFAULT_HTTP2_LIMITS): ServerOptions {
  return {
    settings: {
      maxConcurrentStreams: limits.maxConcurrentStreams,
      maxHeaderListSize: limits.maxHeaderListSize,
      initialWindowSize: limits.initialStreamWindowSize,
    },
    maxHeaderListPairs: limits.maxHeaderListPairs,
    maxSessionMemory: limits.maxSessionMemoryMb,
    maxOutstandingPings: limits.maxOutstandingPings,
    maxSettings: limits.maxSettings,
    maxSessionInvalidFrames: limits.maxSessionInvalidFrames,
    maxSessionRejectedStreams: limits.maxSessionRejectedStreams,
  };
}
