import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { RequestPlan } from '../traffic/plan.js';
import { parseGrpcTimeout } from '../grpc/grpc-timeout.js';
import type { Http2Upstream } from './types.js';
import { GRPC_HEAD, TestUpstream, budget, client, grpcFrame, grpcOk, grpcTrailersOnly, h2Server, plan, proxy, retryPolicy, send, until } from './test-helpers.js';
import type { Listening, Proxy } from './test-helpers.js';

// gRPC deadlines (grpc-timeout) and request timeouts: what the client gets, what the upstream is told.

type Handler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

let upstreamServer: Listening;
let upstream: TestUpstream;
let script: Handler[] = [];
let seen: { headers: IncomingHttpHeaders; stream: ServerHttp2Stream }[] = [];
let current: RequestPlan<Http2Upstream>;
let planned: Proxy;
let bare: Proxy;
let toPlanned: ClientHttp2Session;
let toBare: ClientHttp2Session;

const hang: Handler = () => {};

before(async () => {
  upstreamServer = await h2Server((stream, headers) => {
    seen.push({ headers, stream });
    stream.resume();
    const handler = script.shift() ?? hang;
    stream.once('end', () => handler(stream, headers));
  });
  upstream = await TestUpstream.connect(upstreamServer.port);
  planned = await proxy(upstream, { planner: () => current, random: () => 0 });
  bare = await proxy(upstream);
  toPlanned = await client(planned.port);
  toBare = await client(bare.port);
});

after(async () => {
  toPlanned.close();
  toBare.close();
  upstream.close();
  await planned.close();
  await bare.close();
  await upstreamServer.close();
});

beforeEach(() => {
  script = [];
  seen = [];
  upstream.releases.length = 0;
  planned.records.length = 0;
  bare.records.length = 0;
});

function upstreamTimeout(i: number): number | undefined {
  const v = seen[i]?.headers['grpc-timeout'];
  return typeof v === 'string' ? parseGrpcTimeout(v) : undefined;
}

test('grpc-timeout without a planner: DEADLINE_EXCEEDED, the upstream told the time left and reset', async () => {
  const reply = await send(toBare, { ...GRPC_HEAD, 'grpc-timeout': '200m' }, grpcFrame('ping'));
  assert.equal(reply.headOnly, true);
  assert.equal(reply.headers['grpc-status'], '4');
  assert.equal(reply.headers['trellis-reason'], 'request-timeout');
  const told = upstreamTimeout(0);
  assert.ok(told !== undefined && told <= 200, `upstream saw grpc-timeout ${String(seen[0]?.headers['grpc-timeout'])}`);
  await until(() => seen[0]?.stream.closed === true, 'the upstream stream to be reset');
  assert.equal(seen[0]?.stream.rstCode, http2.constants.NGHTTP2_CANCEL);
  await until(() => bare.records.length === 1 && upstream.releases.length === 1, 'record and release');
  assert.equal(bare.records[0]?.reason, 'request-timeout');
  assert.equal(bare.records[0]?.grpcStatus, 4);
  assert.deepEqual(upstream.releases, [{ failed: true, grpcStatus: undefined }]);
});

test('the smaller of grpc-timeout and the route request timeout wins', async () => {
  current = plan(upstream, { requestTimeoutMs: 100 });
  const reply = await send(toPlanned, { ...GRPC_HEAD, 'grpc-timeout': '10S' }, grpcFrame('ping'));
  assert.equal(reply.headers['grpc-status'], '4');
  const told = upstreamTimeout(0);
  assert.ok(told !== undefined && told <= 100, `upstream saw ${String(seen[0]?.headers['grpc-timeout'])}`);
});

test('a route request timeout alone also sets the gRPC deadline upstream', async () => {
  current = plan(upstream, { requestTimeoutMs: 80 });
  const reply = await send(toPlanned, GRPC_HEAD, grpcFrame('ping'));
  assert.equal(reply.headers['grpc-status'], '4');
  const told = upstreamTimeout(0);
  assert.ok(told !== undefined && told <= 80);
});

test('each attempt is told only what is left of the deadline', async () => {
  current = plan(upstream, { retry: retryPolicy({ backoffMs: 20 }), budget: budget() });
  script = [(s) => grpcTrailersOnly(s, 14), (s) => grpcOk(s, 'ok')];
  const reply = await send(toPlanned, { ...GRPC_HEAD, 'grpc-timeout': '5S' }, grpcFrame('ping'));
  assert.equal(reply.trailers?.['grpc-status'], '0');
  const first = upstreamTimeout(0);
  const second = upstreamTimeout(1);
  assert.ok(first !== undefined && second !== undefined && first <= 5000 && second < first, `${first} then ${second}`);
});

test('a deadline after the response head resets both streams', async () => {
  script = [(s) => s.respond({ ':status': 200, 'content-type': 'application/grpc' })];
  const reply = await send(toBare, { ...GRPC_HEAD, 'grpc-timeout': '150m' }, grpcFrame('ping'));
  assert.equal(reply.headers[':status'], 200);
  assert.equal(reply.trailers, null);
  assert.equal(reply.rstCode, http2.constants.NGHTTP2_CANCEL);
  await until(() => seen[0]?.stream.closed === true, 'the upstream stream to be reset');
  assert.equal(seen[0]?.stream.rstCode, http2.constants.NGHTTP2_CANCEL);
  await until(() => bare.records.length === 1, 'the record');
  assert.equal(bare.records[0]?.reason, 'request-timeout');
});

test('non-gRPC HTTP/2 with a request timeout: 504 request-timeout', async () => {
  current = plan(upstream, { requestTimeoutMs: 60 });
  const reply = await send(toPlanned, { ':method': 'GET', ':path': '/slow' });
  assert.equal(reply.headers[':status'], 504);
  assert.equal(reply.headers['trellis-reason'], 'request-timeout');
  assert.equal(seen[0]?.headers['grpc-timeout'], undefined);
});

test('a malformed grpc-timeout is ignored and forwarded as it came', async () => {
  script = [(s) => grpcOk(s, 'ok')];
  const reply = await send(toBare, { ...GRPC_HEAD, 'grpc-timeout': '12x' }, grpcFrame('ping'));
  assert.equal(reply.trailers?.['grpc-status'], '0');
  assert.equal(seen[0]?.headers['grpc-timeout'], '12x');
});
