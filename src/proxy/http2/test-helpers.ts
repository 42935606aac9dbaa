import http2 from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { ProxyReason } from '../../errors.js';
import { planOf } from '../traffic/plan.js';
import type { RequestPlan, RetryBudget, RetryPolicy } from '../traffic/plan.js';
import { forwardStream } from './forward.js';
import type { StreamForwardOptions } from './forward.js';
import type { UpstreamFailure } from '../http1/types.js';
import type { Http2Upstream, StreamLease, StreamRecord, StreamRequestInfo } from './types.js';

/**
 * Real servers and clients on 127.0.0.1 for the HTTP/2 forwarder's tests: an h2c upstream,
 * a small Http2Upstream over http2.connect that records its leases, and the forwarder behind
 * an http2 server.
 */

export interface Listening {
  port: number;
  close(): Promise<void>;
}

export async function h2Server(onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void): Promise<Listening> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('error', () => {});
    s.once('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    onStream(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface Release {
  failed: boolean;
  grpcStatus: number | undefined;
}

/** An Http2Upstream with one h2c session; `failNext` acquires fail with connect-failed. */
export class TestUpstream implements Http2Upstream {
  readonly releases: Release[] = [];
  readonly requests: (StreamRequestInfo | undefined)[] = [];
  failNext = 0;
  responseHeaders: readonly string[] | undefined = undefined;

  private constructor(readonly session: ClientHttp2Session) {}

  static async connect(port: number): Promise<TestUpstream> {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve());
      session.once('error', reject);
    });
    return new TestUpstream(session);
  }

  acquire(cb: (failure: UpstreamFailure | null, lease: StreamLease | null) => void, req?: StreamRequestInfo): void {
    this.requests.push(req);
    if (this.failNext > 0) {
      this.failNext--;
      setImmediate(() => cb({ status: 503, reason: ProxyReason.ConnectFailed, message: 'injected connect failure' }, null));
      return;
    }
    const lease: StreamLease = {
      session: this.session,
      peer: 'test-upstream',
      release: (failed, grpcStatus) => this.releases.push({ failed, grpcStatus }),
      ...(this.responseHeaders !== undefined ? { responseHeaders: this.responseHeaders } : {}),
    };
    setImmediate(() => cb(null, lease));
  }

  close(): void {
    this.session.destroy();
  }
}

export interface Proxy extends Listening {
  records: StreamRecord[];
}

/** The forwarder behind an h2c server; `options.upstream` defaults to `upstream`. */
export async function proxy(upstream: Http2Upstream, options: Partial<StreamForwardOptions> = {}): Promise<Proxy> {
  const records: StreamRecord[] = [];
  const listening = await h2Server((stream, headers) =>
    forwardStream(stream, headers, {
      upstream,
      now: () => performance.now(),
      onStream: (r) => records.push(r),
      ...options,
    }),
  );
  return { ...listening, records };
}

export function budget(allow = true): RetryBudget & { requests: number; retries: number } {
  return {
    requests: 0,
    retries: 0,
    recordRequest() {
      this.requests++;
    },
    tryRetry() {
      if (allow) this.retries++;
      return allow;
    },
  };
}

export function retryPolicy(p: Partial<RetryPolicy> = {}): RetryPolicy {
  return { attempts: 2, backoffMs: 5, httpCodes: new Set(), grpcCodes: new Set([14]), ...p };
}

export function plan(upstream: Http2Upstream | null, p: Partial<RequestPlan<Http2Upstream>> = {}): RequestPlan<Http2Upstream> {
  return planOf(upstream, { route: 'default/test', backend: 'backend', ...p });
}

export interface Reply {
  headers: IncomingHttpHeaders;
  /** The response head carried END_STREAM (trailers-only for gRPC). */
  headOnly: boolean;
  body: Buffer;
  trailers: IncomingHttpHeaders | null;
  rstCode: number;
}

/** One request on `session`; resolves when the stream closes, whatever happened. */
export function send(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer | string): Promise<Reply> {
  return new Promise((resolve) => {
    const req = session.request(headers, { endStream: body === undefined });
    const reply: Reply = { headers: {}, headOnly: false, body: Buffer.alloc(0), trailers: null, rstCode: 0 };
    const chunks: Buffer[] = [];
    req.on('error', () => {});
    req.on('response', (h, flags) => {
      reply.headers = h;
      reply.headOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    req.on('trailers', (t) => {
      reply.trailers = t;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('close', () => {
      reply.body = Buffer.concat(chunks);
      reply.rstCode = req.rstCode ?? 0;
      resolve(reply);
    });
    if (body !== undefined) req.end(body);
  });
}

export async function client(port: number): Promise<ClientHttp2Session> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  await new Promise<void>((resolve) => session.once('connect', () => resolve()));
  return session;
}

/** A length-prefixed gRPC message. */
export function grpcFrame(payload: string): Buffer {
  const body = Buffer.from(payload);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

export const GRPC_HEAD = { ':method': 'POST', ':path': '/test.Echo/Echo', 'content-type': 'application/grpc', te: 'trailers' };

/** Answers a gRPC stream with one message and OK trailers. */
export function grpcOk(stream: ServerHttp2Stream, payload: string): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(grpcFrame(payload));
}

/** Answers a gRPC stream trailers-only with `code`. */
export function grpcTrailersOnly(stream: ServerHttp2Stream, code: number): void {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': 'from upstream' }, { endStream: true });
}

/** Resolves once `cond()` holds, checking on every turn of the event loop (up to 5 s). */
export async function until(cond: () => boolean, what = 'condition'): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Reads a stream's request body to the end. */
export function readBody(stream: ServerHttp2Stream): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
  });
}
