import http2 from 'node:http2';
import type { IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { H2FrameTap } from './frame-tap.js';

/**
 * Resets HTTP/2 requests that RFC 9113 calls malformed but nghttp2 forwards after dropping
 * the offending field without a word (§8.2.1: a value with CR, LF or NUL, or another control
 * character or edge white space; a name that is not a lower-case token; a `host` that is not
 * an authority). Node exposes neither nghttp2's on_invalid_header callback nor the raw bytes of
 * a socket it reads natively, so the guard reads them first: `serve()` puts an H2FrameTap
 * (frame-tap.ts, a shadow HPACK decoder) between the socket and the session, and
 * `guardStreams()` resets each flagged stream with PROTOCOL_ERROR before the handler sees it.
 * Malformed trailers reset their stream as soon as they arrive.
 *
 * Cost: the session then reads through a JS stream instead of the socket's native handle, and
 * every header block is decoded twice (bench/h2-field-guard.ts; figures in docs/performance.md).
 * The session's `socket` is then Node's JSStreamSocket: take addresses and TLS facts (peer
 * certificate, ALPN) from the original socket, not from `session.socket`.
 *
 * Wiring, per http2 server (the lead's listeners):
 *   const guard = new H2FieldGuard({ onMalformed, onBroken });
 *   server.on('stream', guard.guardStreams(handler));   // instead of server.on('stream', handler)
 *   guard.serve(server, socket);                        // instead of server.emit('connection', socket)
 */

export type StreamHandler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => void;

export interface MalformedStream {
  streamId: number;
  /** True when the trailers were malformed (the request head had already been handed on). */
  trailers: boolean;
}

export interface H2FieldGuardOptions {
  /** The SETTINGS_HEADER_TABLE_SIZE the server advertises (default 4096, Node's). */
  headerTableSize?: number;
  /** Called for each stream reset as malformed (log line, counter). */
  onMalformed?(m: MalformedStream): void;
  /** Called when a connection's bytes could not be followed and it was closed. */
  onBroken?(reason: string): void;
}

/** Malformed header blocks remembered per connection for streams nghttp2 never surfaced (refused ones); past it the client is hostile. */
const MAX_PENDING_MALFORMED = 1024;

interface ConnectionFields {
  tap: H2FrameTap;
  /** Stream ids whose request head was malformed, until their 'stream' event. */
  malformed: Set<number>;
  /** Streams handed to the handler and still open (malformed trailers reset them). */
  open: Map<number, ServerHttp2Stream>;
}

export class H2FieldGuard {
  private readonly bySession = new WeakMap<ServerHttp2Session, ConnectionFields>();
  private malformedCount = 0;
  private brokenCount = 0;

  constructor(private readonly options: H2FieldGuardOptions = {}) {}

  /** Streams reset as malformed, and connections closed because their bytes could not be followed. */
  get stats(): { malformedStreams: number; brokenConnections: number } {
    return { malformedStreams: this.malformedCount, brokenConnections: this.brokenCount };
  }

  /**
   * Hands `socket` to `server` through a frame tap (use it in place of
   * `server.emit('connection', socket)`); returns the tap, which is what the session reads.
   */
  serve(server: http2.Http2Server, socket: Duplex): Duplex {
    const conn: ConnectionFields = { tap: undefined as unknown as H2FrameTap, malformed: new Set(), open: new Map() };
    conn.tap = new H2FrameTap(
      socket,
      {
        onMalformed: (id) => this.flag(conn, id),
        onBroken: (reason) => {
          this.brokenCount++;
          this.options.onBroken?.(reason);
        },
      },
      this.options.headerTableSize,
    );
    // connectionListener creates the session and emits 'session' synchronously.
    const onSession = (session: ServerHttp2Session): void => {
      this.bySession.set(session, conn);
    };
    server.once('session', onSession);
    server.emit('connection', conn.tap);
    server.removeListener('session', onSession);
    return conn.tap;
  }

  /** Wraps a 'stream' handler: malformed requests are reset with PROTOCOL_ERROR and never reach it. */
  guardStreams(handler: StreamHandler): StreamHandler {
    return (stream, headers, flags, rawHeaders) => {
      const conn = this.bySession.get(stream.session as ServerHttp2Session);
      const id = stream.id;
      if (conn !== undefined && id !== undefined) {
        if (conn.malformed.size > 0 && conn.malformed.delete(id)) {
          this.reset(stream, false);
          return;
        }
        conn.open.set(id, stream);
        stream.once('close', () => conn.open.delete(id));
      }
      handler(stream, headers, flags, rawHeaders);
    };
  }

  /** True when `stream`'s request head was flagged and not yet claimed by guardStreams (for callers that dispatch themselves). */
  isMalformed(stream: ServerHttp2Stream): boolean {
    const conn = this.bySession.get(stream.session as ServerHttp2Session);
    return conn !== undefined && stream.id !== undefined && conn.malformed.has(stream.id);
  }

  private flag(conn: ConnectionFields, id: number): void {
    const open = conn.open.get(id);
    if (open !== undefined) {
      this.reset(open, true);
      return;
    }
    conn.malformed.add(id);
    if (conn.malformed.size > MAX_PENDING_MALFORMED) {
      this.brokenCount++;
      this.options.onBroken?.('too many malformed requests');
      conn.tap.destroy();
    }
  }

  private reset(stream: ServerHttp2Stream, trailers: boolean): void {
    this.malformedCount++;
    this.options.onMalformed?.({ streamId: stream.id ?? 0, trailers });
    stream.on('error', () => {});
    if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_PROTOCOL_ERROR);
  }
}
