import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { RouteRetryConfig, RouteTimeoutsConfig } from '../../api/snapshot.js';
import { ManualClock } from '../clock/manual-clock.js';
import { GRPC_HEAD, TestRoutes, TestUpstream, client, grpcFrame, grpcOk, grpcTrailersOnly, h2Server, proxy, rule, send, spyBudget, until } from './test-helpers.js';
import type { Listening, Proxy } from './test-helpers.js';

// Retries through the outbound stack (retry, try-timeout and endpoint stages) over HTTP/2:
// what is retried (trailers-only gRPC codes, HTTP codes, resets, connect failures, try
// timeouts), what is not (budget spent, code not listed, body too big), cancellation.
// Time is a ManualClock: backoffs and try timeouts pass only when a test says so.

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
const routes = new TestRoutes();
const clock = new ManualClock();
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

/** The route's retry (the old tests' default: 2 attempts, UNAVAILABLE; no backoff unless a test wants one). */
function retrying(retry: Partial<RouteRetryConfig> = {}, timeouts?: RouteTimeoutsConfig): void {
  routes.set([rule({ retry: { attempts: 2, backoffMs: 0, codes: [], grpcCodes: [14], ...retry }, ...(timeouts !== undefined ? { timeouts } : {}) })]);
}

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
  front = await proxy(upstream, { clusters: routes.table, clock, random: () => 0 });
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
  upstream.failNext = 0;
  front.records.length = 0;
  routes.set([rule()]);
});

async function record(): Promise<NonNullable<Proxy['records'][number]>> {
  await until(() => front.records.length === 1, 'the stream record');
  return front.records[0] as NonNullable<Proxy['records'][number]>;
}

test('gRPC: a trailers-only UNAVAILABLE is retried and the second attempt answers', async () => {
  retrying({ attempts: 2 });
  const b = spyBudget(routes.cluster);
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
  // The discarded answer is given back as it was: its grpc-status (UNAVAILABLE) is what counts
  // against the endpoint in outlier detection, not the fact that it was retried.
  assert.deepEqual(upstream.releases, [
    { failed: false, grpcStatus: 14 },
    { failed: false, grpcStatus: 0 },
  ]);
});

test('gRPC: no retry when the budget refuses; the upstream answer passes through', async () => {
  routes.set([rule({ retry: { attempts: 2, backoffMs: 0, codes: [], grpcCodes: [14] } })], { percent: 0, minRetriesPerSecond: 0 });
  const b = spyBudget(routes.cluster);
  script = [unavailable, echo];
  const reply = await send(session, GRPC_HEAD, grpcFrame('ping'));
  assert.equal(reply.headOnly, true);
  assert.equal(reply.headers['grpc-status'], '14');
  assert.equal(reply.headers['grpc-message'], 'from upstream');
  assert.equal(reply.headers['trellis-reason'], undefined);
  assert.equal(seen.length, 1);
  assert.equal((await record()).retries, 0);
  assert.equal(b.requests, 1);
  assert.equal(b.retries, 0);
});

test('gRPC: no retry for a code that is not listed', async () => {
  retrying({ grpcCodes: [14] });
  const b = spyBudget(routes.cluster);
  script = [(stream) => grpcTrailersOnly(stream, 13), echo];
  const reply = await send(session, GRPC_HEAD, grpcFrame('ping'));
  assert.equal(reply.headers['grpc-status'], '13');
  assert.equal(seen.length, 1);
  assert.equal(b.retries, 0);
  assert.equal((await record()).grpcStatus, 13);
});

test('gRPC: when attempts run out the last answer passes through', async () => {
  retrying({ attempts: 1 });
  script = [unavailable, unavailable, echo];
  const reply = await send(session, GRPC_HEAD, grpcFrame('ping'));
  assert.equal(reply.headers['grpc-status'], '14');
  assert.equal(seen.length, 2);
  assert.equal((await record()).retries, 1);
});

test('HTTP: a listed status is retried with the kept request body', async () => {
  retrying({ codes: [503] });
  script = [status503, echo];
  const body = Buffer.alloc(10_000, 'a');
  const reply = await send(session, { ':method': 'POST', ':path': '/upload' }, body);
  assert.equal(reply.headers[':status'], 200);
  assert.deepEqual(reply.body, body);
  assert.equal(seen.length, 2);
  assert.deepEqual(seen[0]?.body, body);
  assert.deepEqual(seen[1]?.body, body);
});

test('HTTP: a body larger than the kept limit is not replayed', async () => {
  retrying({ codes: [503] });
  script = [status503, echo];
  const body = Buffer.alloc(100_000, 'b');
  const reply = await send(session, { ':method': 'POST', ':path': '/upload' }, body);
  assert.equal(reply.headers[':status'], 503);
  assert.equal(reply.body.toString(), 'busy');
  assert.equal(seen.length, 1);
  assert.equal(seen[0]?.body.length, body.length);
  assert.equal((await record()).requestBodyBytes, body.length);
});

test('REFUSED_STREAM is sent again even for POST; another reset only for idempotent methods', async () => {
  retrying();
  const refuse: Handler = (stream) => stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
  const internal: Handler = (stream) => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);

  script = [refuse, echo];
  let reply = await send(session, { ':method': 'POST', ':path': '/' }, 'x');
  assert.equal(reply.headers[':status'], 200);
  assert.equal(seen.length, 2);
  assert.deepEqual(seen[1]?.body, Buffer.from('x'));

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
  retrying();
  upstream.failNext = 1;
  const reply = await send(session, GRPC_HEAD, grpcFrame('ping'));
  assert.equal(reply.trailers?.['grpc-status'], '0');
  assert.equal(upstream.requests.length, 2);
  assert.equal((await record()).retries, 1);
});

test('retries wait for the backoff (with jitter from the injected random) before going again', async () => {
  retrying({ backoffMs: 40 });
  script = [unavailable, echo];
  const pending = send(session, GRPC_HEAD, grpcFrame('ping'));
  await until(() => upstream.releases.length === 1, 'the first answer to be discarded');
  clock.advance(39);
  await new Promise((r) => setImmediate(r));
  assert.equal(upstream.requests.length, 1, 'no second attempt before the backoff is over');
  clock.advance(1);
  const reply = await pending;
  assert.equal(reply.trailers?.['grpc-status'], '0');
  assert.equal(upstream.requests.length, 2);
});

test('try timeout: the silent attempt is reset and the retry answers', async () => {
  retrying({}, { backendRequestMs: 100 });
  script = [hang, echo];
  const pending = send(session, { ':method': 'GET', ':path': '/slow' });
  await until(() => seen.length === 1, 'the first attempt to reach the upstream');
  clock.advance(100);
  const reply = await pending;
  assert.equal(reply.headers[':status'], 200);
  assert.equal(seen.length, 2);
  await until(() => seen[0]?.stream.closed === true, 'the first upstream stream to close');
  assert.equal(seen[0]?.stream.rstCode, http2.constants.NGHTTP2_CANCEL);
  await until(() => upstream.releases.length === 2, 'both releases');
  assert.deepEqual(upstream.releases.map((r) => r.failed), [true, false], 'the timed-out try counts against its endpoint');
});

test('try timeout without retries: 504 upstream-timeout, or UNAVAILABLE for gRPC', async () => {
  routes.set([rule({ timeouts: { backendRequestMs: 50 } })]);
  script = [hang, hang];
  let pending = send(session, { ':method': 'GET', ':path': '/slow' });
  await until(() => seen.length === 1, 'the attempt to reach the upstream');
  clock.advance(50);
  const reply = await pending;
  assert.equal(reply.headers[':status'], 504);
  assert.equal(reply.headers['trellis-reason'], 'upstream-timeout');
  pending = send(session, GRPC_HEAD, grpcFrame('ping'));
  await until(() => seen.length === 2, 'the gRPC attempt to reach the upstream');
  clock.advance(50);
  const g = await pending;
  assert.equal(g.headers['grpc-status'], '14');
  assert.equal(g.headers['trellis-reason'], 'upstream-timeout');
  await until(() => upstream.releases.length === 2, 'both releases');
  assert.deepEqual(upstream.releases.map((r) => r.failed), [true, true]);
});

test('a client reset during the backoff cancels the retry; the lease was released once', async () => {
  retrying({ backoffMs: 200 });
  script = [unavailable, echo];
  const req = session.request(GRPC_HEAD);
  req.on('error', () => {});
  req.end(grpcFrame('ping'));
  await until(() => upstream.releases.length === 1, 'the first attempt to be discarded');
  req.close(http2.constants.NGHTTP2_CANCEL);
  const rec = await record();
  assert.equal(clock.pendingTimers, 0, 'the backoff timer was cleared');
  // well past the backoff: no second attempt was made
  clock.advance(1_000);
  await new Promise((r) => setImmediate(r));
  assert.equal(upstream.requests.length, 1);
  assert.equal(seen.length, 1);
  assert.deepEqual(upstream.releases, [{ failed: false, grpcStatus: 14 }]);
  assert.equal(rec.retries, 0, 'the retry was never made');
});

test('a client reset during a retry resets it upstream and releases each lease once; the cancel is no endpoint failure', async () => {
  retrying();
  script = [unavailable, hang];
  const req = session.request(GRPC_HEAD);
  req.on('error', () => {});
  req.end(grpcFrame('ping'));
  await until(() => seen.length === 2, 'the retry to reach the upstream');
  req.close(http2.constants.NGHTTP2_CANCEL);
  await until(() => seen[1]?.stream.closed === true, 'the retry to be reset upstream');
  await record();
  assert.equal(seen[1]?.stream.rstCode, http2.constants.NGHTTP2_CANCEL);
  await until(() => upstream.releases.length === 2, 'both releases');
  assert.deepEqual(upstream.releases, [
    { failed: false, grpcStatus: 14 },
    { failed: false, grpcStatus: undefined },
  ]);
});
