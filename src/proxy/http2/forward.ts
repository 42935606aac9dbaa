import http2 from 'node:http2';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { ProxyReason, REASON_HEADER } from '../../errors.js';
import type { ProxyReason as Reason } from '../../errors.js';
import { forwardRequestHeaders, forwardResponseHeaders, isGrpc } from './headers.js';
import type { Planner } from '../traffic/plan.js';
import type { Http2Upstream, StreamLease, StreamRecord } from './types.js';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_FLAG_END_STREAM } = http2.constants;

export interface StreamForwardOptions {
  /** Where streams go when there is no planner. */
  upstream: Http2Upstream;
  /** Traffic policy (src/proxy/traffic): when set, each stream is planned and goes to the plan's upstream. */
  planner?: Planner<Http2Upstream>;
  stripRequestHeaders?: ReadonlySet<string>;
  /** Flat [name, value, ...] added after stripping. */
  addRequestHeaders?: readonly string[];
  onStream?(record: StreamRecord): void;
  now(): number;
}

const GRPC_UNAVAILABLE = '14';

/**
 * Answers a stream with a proxy-made error. gRPC callers get a trailers-only response with
 * grpc-status 14 UNAVAILABLE (what their retry logic understands); others an HTTP status.
 * Both carry `trellis-reason`.
 */
export function respondProxyError(
  stream: ServerHttp2Stream,
  grpc: boolean,
  status: number,
  reason: Reason,
  message: string,
): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(NGHTTP2_INTERNAL_ERROR);
    return;
  }
  stream.on('error', () => {});
  if (grpc) {
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': GRPC_UNAVAILABLE,
        'grpc-message': encodeURIComponent(`trellis ${reason}: ${message}`),
        [REASON_HEADER]: reason,
      },
      { endStream: true },
    );
  } else {
    stream.respond({ ':status': status, 'content-type': 'text/plain; charset=utf-8', [REASON_HEADER]: reason });
    stream.end(`${reason}: ${message}\n`);
  }
}

/**
 * Forwards one HTTP/2 stream: request head and body to an upstream stream, response head,
 * body and trailers back (trailers-only responses stay trailers-only), RST_STREAM and
 * cancellation in both directions. Bodies stream through pipe() with backpressure.
 */
export function forwardStream(down: ServerHttp2Stream, headers: IncomingHttpHeaders, options: StreamForwardOptions): void {
  const started = options.now();
  const startedAt = Date.now();
  const grpc = isGrpc(headers);
  const rec: StreamRecord = {
    method: String(headers[':method'] ?? ''),
    target: String(headers[':path'] ?? ''),
    status: 0,
    reason: undefined,
    upstreamPeer: undefined,
    requestBodyBytes: 0,
    responseBodyBytes: 0,
    durationMs: 0,
    startedAt,
  };
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    rec.durationMs = options.now() - started;
    options.onStream?.(rec);
  };
  down.on('error', () => {});
  down.once('close', finish);
  // Listen before the (possibly async) upstream acquire: trailers may arrive meanwhile.
  const requestTrailers: { value: http2.OutgoingHttpHeaders | null } = { value: null };
  down.once('trailers', (t) => {
    requestTrailers.value = forwardResponseHeaders(t);
  });

  const fail = (status: number, reason: Reason, message: string): void => {
    rec.status = grpc ? 200 : status;
    rec.reason = reason;
    respondProxyError(down, grpc, status, reason, message);
  };

  options.upstream.acquire((failure, lease) => {
    if (failure !== null || lease === null) {
      const f = failure ?? { status: 503, reason: ProxyReason.ConnectFailed, message: 'no upstream' };
      fail(f.status, f.reason, f.message);
      return;
    }
    if (down.closed || down.destroyed) {
      lease.release(false);
      return;
    }
    pipeStream(down, headers, lease, options, rec, fail, requestTrailers);
  });
}

function pipeStream(
  down: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  lease: StreamLease,
  options: StreamForwardOptions,
  rec: StreamRecord,
  fail: (status: number, reason: Reason, message: string) => void,
  requestTrailers: { value: http2.OutgoingHttpHeaders | null },
): void {
  rec.upstreamPeer = lease.peer;
  let up: http2.ClientHttp2Stream;
  try {
    up = lease.session.request(forwardRequestHeaders(headers, options.stripRequestHeaders, options.addRequestHeaders), {
      endStream: down.endAfterHeaders,
      // request trailers are rare but legal (and used by some gRPC clients): wait for them
      waitForTrailers: !down.endAfterHeaders,
    });
  } catch (err) {
    lease.release(true);
    fail(503, ProxyReason.ConnectFailed, (err as Error).message);
    return;
  }
  let released = false;
  let responded = false;
  let trailers: http2.OutgoingHttpHeaders | null = null;
  const release = (failed: boolean): void => {
    if (released) return;
    released = true;
    lease.release(failed);
  };
  up.on('error', () => {});
  up.once('wantTrailers', () => {
    up.sendTrailers(requestTrailers.value ?? {});
  });

  down.on('data', (chunk: Buffer) => {
    rec.requestBodyBytes += chunk.length;
  });
  if (down.endAfterHeaders) down.resume();
  else down.pipe(up);

  up.once('response', (h, flags) => {
    responded = true;
    lease.onResponseHead?.(Number(h[':status'] ?? 0));
    rec.status = Number(h[':status'] ?? 0);
    if (down.closed || down.destroyed) return;
    if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
      // trailers-only (e.g. a gRPC error status): keep it one HEADERS frame with END_STREAM
      down.respond(forwardResponseHeaders(h), { endStream: true });
      up.resume();
      return;
    }
    down.respond(forwardResponseHeaders(h), { waitForTrailers: true });
    up.on('data', (chunk: Buffer) => {
      rec.responseBodyBytes += chunk.length;
    });
    up.pipe(down);
  });
  up.once('trailers', (t) => {
    trailers = forwardResponseHeaders(t);
  });
  down.once('wantTrailers', () => {
    down.sendTrailers(trailers ?? {});
  });

  // cancellation from downstream: reset the upstream stream
  down.once('close', () => {
    if (!up.closed && !up.destroyed) {
      up.close(down.rstCode !== undefined && down.rstCode !== 0 ? down.rstCode : NGHTTP2_CANCEL);
      release(true);
    }
  });
  up.once('close', () => {
    const code = up.rstCode ?? 0;
    const failed = code !== 0 || !responded;
    release(failed);
    if (down.closed || down.destroyed) return;
    if (!responded) {
      fail(502, ProxyReason.UpstreamReset, `upstream ${lease.peer} reset the stream (code ${code})`);
    } else if (code !== 0) {
      rec.reason = ProxyReason.UpstreamReset;
      down.close(code);
    }
  });
}
