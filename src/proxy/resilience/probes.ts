import type http2 from 'node:http2';
import { HeadReader, readResponseHead } from '../http1/head-reader.js';
import { DEFAULT_HTTP1_LIMITS } from '../http1/types.js';
import type { H2SessionPool } from '../pool/h2-session-pool.js';
import type { Http1Pool, PooledSocket } from '../pool/http1-pool.js';

/** One probe's verdict: healthy or not, and why not (for logs). */
export type ProbeDone = (ok: boolean, why: string) => void;

/** Largest health response body read (a HealthCheckResponse is 2 bytes plus the 5-byte frame header). */
const MAX_GRPC_RESPONSE = 1024;

/**
 * HTTP probe: GET `path` on a fresh connection from the endpoint's h1 pool (the same mTLS
 * identity check as traffic), `connection: close`, and only the status line matters:
 * 200-399 is healthy. The connection is destroyed afterwards, never pooled.
 */
export function probeHttp(pool: Http1Pool, path: string, host: string, timeoutMs: number, done: ProbeDone): void {
  let finished = false;
  let lease: PooledSocket | null = null;
  const finish = (ok: boolean, why: string): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    lease?.release(false);
    done(ok, why);
  };
  const timer = setTimeout(() => finish(false, `no response within ${timeoutMs} ms`), timeoutMs);
  timer.unref();
  pool.acquire((failure, pooled) => {
    if (failure !== null || pooled === null) {
      finish(false, failure?.message ?? 'no connection');
      return;
    }
    lease = pooled;
    if (finished) {
      pooled.release(false);
      return;
    }
    const socket = pooled.socket;
    const reader = new HeadReader();
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      for (;;) {
        const head = readResponseHead(reader, DEFAULT_HTTP1_LIMITS, 'GET');
        if (head.kind === 'incomplete') return;
        if (head.kind === 'error') {
          finish(false, head.message);
          return;
        }
        if (head.status >= 200) {
          finish(head.status < 400, `status ${head.status}`);
          return;
        }
        // 1xx interim response: the final one follows
      }
    });
    socket.on('error', (err: Error) => finish(false, err.message));
    socket.on('close', () => finish(false, 'connection closed before a response'));
    socket.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\nuser-agent: trellis-health-check\r\nconnection: close\r\n\r\n`);
  }, true);
}

/**
 * gRPC probe: grpc.health.v1.Health/Check on the endpoint's h2 session. The request and
 * response are one-field protobuf messages, encoded and decoded here by hand: a protobuf
 * library (and the .proto) for two bytes would be a dependency for nothing.
 *   HealthCheckRequest  { string service = 1; }   -> 0x0a <len> <utf-8 bytes> (omitted when "")
 *   HealthCheckResponse { enum status = 1; }       -> 0x08 <varint>, SERVING = 1
 */
export function probeGrpc(pool: H2SessionPool, service: string, timeoutMs: number, done: ProbeDone): void {
  let finished = false;
  let stream: http2.ClientHttp2Stream | null = null;
  const finish = (ok: boolean, why: string): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    if (stream !== null && !stream.closed) stream.close(0x8); // NGHTTP2_CANCEL
    done(ok, why);
  };
  const timer = setTimeout(() => finish(false, `no response within ${timeoutMs} ms`), timeoutMs);
  timer.unref();
  pool.get((failure, session) => {
    if (failure !== null || session === null) {
      finish(false, failure?.message ?? 'no session');
      return;
    }
    if (finished) return;
    let s: http2.ClientHttp2Stream;
    try {
      s = session.request({
        ':method': 'POST',
        ':path': '/grpc.health.v1.Health/Check',
        'content-type': 'application/grpc',
        te: 'trailers',
      });
    } catch (err) {
      finish(false, (err as Error).message);
      return;
    }
    stream = s;
    let status = 0;
    let grpcStatus: string | undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    s.on('response', (h) => {
      status = Number(h[':status'] ?? 0);
      const g = h['grpc-status']; // trailers-only response
      if (typeof g === 'string') grpcStatus = g;
    });
    s.on('trailers', (t) => {
      const g = t['grpc-status'];
      if (typeof g === 'string') grpcStatus = g;
    });
    s.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_GRPC_RESPONSE) finish(false, 'health response too large');
      else chunks.push(chunk);
    });
    s.on('error', (err: Error) => finish(false, err.message));
    s.on('close', () => {
      if (status !== 200) finish(false, `status ${status}`);
      else if (grpcStatus !== '0') finish(false, `grpc-status ${grpcStatus ?? 'missing'}`);
      else {
        const serving = decodeServingStatus(Buffer.concat(chunks));
        finish(serving === 1, `serving status ${serving}`);
      }
    });
    s.end(encodeHealthRequest(service));
  });
}

/** One gRPC length-prefixed message (uncompressed) holding a HealthCheckRequest. */
export function encodeHealthRequest(service: string): Buffer {
  const name = Buffer.from(service, 'utf8');
  const body = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  return frame;
}

/** HealthCheckResponse.status from one gRPC message frame; 0 (UNKNOWN) when absent, -1 when malformed. */
export function decodeServingStatus(frame: Buffer): number {
  if (frame.length < 5 || frame[0] !== 0) return -1; // compressed or short
  const len = frame.readUInt32BE(1);
  if (frame.length < 5 + len) return -1;
  const msg = frame.subarray(5, 5 + len);
  let at = 0;
  let status = 0;
  while (at < msg.length) {
    const tag = readVarint(msg, at);
    if (tag === null) return -1;
    at = tag.next;
    const wire = tag.value & 7;
    if (wire === 0) {
      const v = readVarint(msg, at);
      if (v === null) return -1;
      at = v.next;
      if (tag.value >>> 3 === 1) status = v.value;
    } else if (wire === 2) {
      const l = readVarint(msg, at);
      if (l === null) return -1;
      at = l.next + l.value;
    } else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else return -1;
  }
  return at === msg.length ? status : -1;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

function readVarint(b: Buffer, at: number): { value: number; next: number } | null {
  let value = 0;
  for (let shift = 0; shift < 35 && at < b.length; shift += 7) {
    const byte = b[at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next: at };
  }
  return null;
}
