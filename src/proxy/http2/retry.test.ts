import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { RequestPlan } from '../traffic/plan.js';
import type { Http2Upstream } from './types.js';
import { GRPC_HEAD, TestUpstream, budget, client, grpcFrame, grpcOk, grpcTrailersOnly, h2Server, plan, proxy, retryPolicy, send, until } from './test-helpers.js';
import type { Listening, Proxy } from './test-helpers.js';

// Retries: what is retried (trailers-only gRPC codes, HTTP codes, resets, connect failures,
// try timeouts), what is not (budget spent, code not listed, body too big), cancellation.

type Handler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, body: Buffer) => void;
interface Seen {
  headers: IncomingHttpHeaders;
  body: Buffer;
  stream: ServerHttp2Stream;
}

let upstreamServer: Listening;
let upstream: TestUpstream;
let script: Handler[] = [];
let seen: Seen[] = [];
let current: RequestPlan<Http2Upstream>;
let front: Proxy;
let session: ClientHttp2Session;

const echo: Handler = (stream, headers, body) => {
  if (headers['content-type'] === 'application/grpc') grpcOk(stream, `echo:${body.subarray(5).toString()}`);
  else {
    stream.respond({ ':status': 200 });
    stream.end(body);
  }
};
const unavailable: Handler = (stream) => grpcTrailersOnly(stream, 14);
const hang: Handler = () => {};
const status503: Handler = (stream) => {
  stream.respond({ ':status': 503 });
  stream.end('busy');
};

before(async () => {
  upstreamServer = await h2Server((stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ headers, body, stream });
      (script.shift() ?? echo)(stream, headers, body);
    });
  });
  upstream = await TestUpstream.connect(upstreamServer.port);
  front = await proxy(upstream, { planner: () => current, random: () => 0 });
  session = await client(front.port);
});

after(async () => {
  session.close();
  upstream.close();
  await front.close();
  await upstreamServer.close();
});

beforeEach(() => {
  script = [];
  seen = [];
  upstream.releases.length = 0;
  upstream.requests.length = 0;
  front.records.length = 0;
});

async function record(): Promise<NonNullable<Proxy['records'][number]>> {
  await until(() => front.records.length === 1, 'the stream record');
  return front.records[0] as NonNullable<Proxy['records'][number]>;
}

test('gRPC: a trailers-only UNAVAILABLE is retried and the second attempt answers', async () => {
  const b = budget();
  current = plan(upstream, { retry: retryPolicy({ attempts: 2 }), budget: b });
  script = [unavailable, echo];
  const reply = await send(session, GRPC_HEAD, grpcFrame('ping'));
  assert.equal(reply.trailers?.['grpc-status'], '0');
  assert.equal(reply.body.subarray(5).toString(), 'echo:ping');
  assert.equal(seen.length, 2);
  assert.deepEqual(seen[1]?.body, grpcFrame('ping'));
  const rec = await record();
  assert.equal(rec.retries, 1);
  assert.equal(rec.grpcStatus, 0);
  assert.equal(b.requests, 1);
  assert.equal(b.retries, 1);
  await until(() => upstream.releases.length === 2, 'both releases');
  assert.deepEqual(upstream.releases, [
    { failed: false, grpcStatus: 14 },
    { failed: false, grpcStatus: 0 },
  ]);
});

test('gRPC: no retry when the budget refuses; the upstream answer passes through', async () => {
  const b = budget(false);
  current = plan(upstream, { retry: retryPolicy(), budget: b });
  script = [unavailable, echo];
  const reply = await send(session, GRPC_HEAD, grpcFrame('ping'));
  assert.equal(reply.headOnly, true);
  assert.equal(reply.headers['grpc-status'], '14');
  assert.equal(reply.headers['grpc-message'], 'from upstream');
  assert.equal(reply.headers['trellis-reason'], undefined);
  assert.equal(seen.length, 1);
  assert.equal((await record()).retries, 0);
  assert.equal(b.requests, 1);
});

test('gRPC: no retry for a code that is not listed', async () => {
  const b = budget();
  current = plan(upstream, { retry: retryPolicy({ grpcCodes: new Set([14]) }), budget: b });
  script = [(stream) => grpcTrailersOnly(stream, 13), echo];
  const reply = await send(session, GRPC_HEAD, grpcFrame('ping'));
  assert.equal(reply.headers['grpc-status'], '13');
  assert.equal(seen.length, 1);
  assert.equal(b.retries, 0);
  assert.equal((await record()).grpcStatus, 13);
});

test('gRPC: when attempts run out the last answer passes through', async () => {
  current = plan(upstream, { retry: retryPolicy({ attempts: 1 }), budget: budget() });
  script = [unavailable, unavailable, echo];
  const reply = await send(session, GRPC_HEAD, grpcFrame('ping'));
  assert.equal(reply.headers['grpc-status'], '14');
  assert.equal(seen.length, 2);
  assert.equal((await record()).retries, 1);
});

test('HTTP: a listed status is retried with the kept request body', async () => {
  current = plan(upstream, { retry: retryPolicy({ httpCodes: new Set([503]) }), budget: budget() });
  script = [status503, echo];
  const body = Buffer.alloc(10_000, 'a');
  const reply = await send(session, { ':method': 'POST', ':path': '/upload' }, body);
  assert.equal(reply.headers[':status'], 200);
  assert.deepEqual(reply.body, body);
  assert.equal(seen.length, 2);
  assert.deepEqual(seen[0]?.body, body);
});

test('HTTP: a body larger than the kept limit is not replayed', async () => {
  current = plan(upstream, { retry: retryPolicy({ httpCodes: new Set([503]) }), budget: budget() });
  script = [status503, echo];
  const body = Buffer.alloc(100_000, 'b');
  const reply = await send(session, { ':method': 'POST', ':path': '/upload' }, body);
  assert.equal(reply.headers[':status'], 503);
  assert.equal(reply.body.toString(), 'busy');
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.body.length, body.length);
  assert.equal((await record()).requestBodyBytes, body.length);
});

test('REFUSED_STREAM is retried even for POST; another reset only for idempotent methods', async () => {
  current = plan(upstream, { retry: retryPolicy(), budget: budget() });
  const refuse: Handler = (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  const internal: Handler = (stream) => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);

  script = [refuse, echo];
  let reply = await send(session, { ':method': 'POST', ':path': '/' }, 'x');
  assert.equal(reply.headers[':status'], 200);
  assert.equal(seen.length, 2);

  seen = [];
  script = [internal, echo];
  reply = await send(session, { ':method': 'POST', ':path': '/' }, 'x');
  assert.equal(reply.headers[':status'], 502);
  assert.equal(reply.headers['trellis-reason'], 'upstream-reset');
  assert.equal(seen.length, 1);

  seen = [];
  script = [internal, echo];
  reply = await send(session, { ':method': 'GET', ':path': '/' });
  assert.equal(reply.headers[':status'], 200);
  assert.equal(seen.length, 2);
});

test('a failed acquire (connect) is retried', async () => {
  current = plan(upstream, { retry: retryPolicy(), budget: budget() });
  upstream.failNext = 1;
  const reply = await send(session, GRPC_HEAD, grpcFrame('ping'));
  assert.equal(reply.trailers?.['grpc-status'], '0');
  assert.equal(upstream.requests.length, 2);
  assert.equal((await record()).retries, 1);
});

test('try timeout: the silent attempt is reset and the retry answers', async () => {
  current = plan(upstream, { tryTimeoutMs: 100, retry: retryPolicy(), budget: budget() });
  script = [hang, echo];
  const reply = await send(session, { ':method': 'GET', ':path': '/slow' });
  assert.equal(reply.headers[':status'], 200);
  assert.equal(seen.length, 2);
  await until(() => seen[0]?.stream.closed === true, 'the first upstream stream to close');
  assert.equal(seen[0]?.stream.rstCode, http2.constants.NGHTTP2_CANCEL);
});

test('try timeout without retries: 504 upstream-timeout, or UNAVAILABLE for gRPC', async () => {
  current = plan(upstream, { tryTimeoutMs: 50 });
  script = [hang, hang];
  const reply = await send(session, { ':method': 'GET', ':path': '/slow' });
  assert.equal(reply.headers[':status'], 504);
  assert.equal(reply.headers['trellis-reason'], 'upstream-timeout');
  const g = await send(session, GRPC_HEAD, grpcFrame('ping'));
  assert.equal(g.headers['grpc-status'], '14');
  assert.equal(g.headers['trellis-reason'], 'upstream-timeout');
  await until(() => upstream.releases.length === 2, 'both releases');
  assert.deepEqual(upstream.releases.map((r) => r.failed), [true, true]);
});

test('a client reset during the backoff cancels the retry; the lease was released once', async () => {
  current = plan(upstream, { retry: retryPolicy({ backoffMs: 200 }), budget: budget() });
  script = [unavailable, echo];
  const req = session.request(GRPC_HEAD);
  req.on('error', () => {});
  req.end(grpcFrame('ping'));
  await until(() => upstream.releases.length === 1, 'the first attempt to be discarded');
  req.close(http2.constants.NGHTTP2_CANCEL);
  const rec = await record();
  assert.equal(rec.retries, 0, 'the retry was never made');
  // well past the backoff: no second attempt was made
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(upstream.requests.length, 1);
  assert.equal(seen.length, 1);
  assert.deepEqual(upstream.releases, [{ failed: false, grpcStatus: 14 }]);
});

test('a client reset during a retry resets it upstream and releases each lease once', async () => {
  current = plan(upstream, { retry: retryPolicy(), budget: budget() });
  script = [unavailable, hang];
  const req = session.request(GRPC_HEAD);
  req.on('error', () => {});
  req.end(grpcFrame('ping'));
  await until(() => seen.length === 2, 'the retry to reach the upstream');
  req.close(http2.constants.NGHTTP2_CANCEL);
  await until(() => seen[1]?.stream.closed === true, 'the retry to be reset upstream');
  await record();
  assert.equal(seen[1]?.stream.rstCode, http2.constants.NGHTTP2_CANCEL);
  assert.deepEqual(upstream.releases, [
    { failed: false, grpcStatus: 14 },
    { failed: true, grpcStatus: undefined },
  ]);
});
