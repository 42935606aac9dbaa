import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { ManualClock } from '../clock/manual-clock.js';
import { parseGrpcTimeout } from '../grpc/grpc-timeout.js';
import { GRPC_HEAD, TestRoutes, TestUpstream, client, grpcFrame, grpcOk, grpcTrailersOnly, h2Server, proxy, rule, send, until } from './test-helpers.js';
import type { Listening, Proxy } from './test-helpers.js';

// gRPC deadlines (grpc-timeout) and route request timeouts (the request-timeout stage) over
// HTTP/2: what the client gets, what the upstream is told. Time is a ManualClock, so the
// deadline an upstream is told is exact.

type Handler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;

let upstreamServer: Listening;
let upstream: TestUpstream;
let script: Handler[] = [];
let seen: { headers: IncomingHttpHeaders; stream: ServerHttp2Stream }[] = [];
const routes = new TestRoutes();
const clock = new ManualClock();
let routed: Proxy;
let bare: Proxy;
let toRouted: ClientHttp2Session;
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
  routed = await proxy(upstream, { clusters: routes.table, clock, random: () => 0 });
  bare = await proxy(upstream, { clock });
  toRouted = await client(routed.port);
  toBare = await client(bare.port);
});

after(async () => {
  toRouted.close();
  toBare.close();
  upstream.close();
  await routed.close();
  await bare.close();
  await upstreamServer.close();
});

beforeEach(() => {
  script = [];
  seen = [];
  upstream.releases.length = 0;
  routed.records.length = 0;
  bare.records.length = 0;
});

function upstreamTimeout(i: number): number | undefined {
  const v = seen[i]?.headers['grpc-timeout'];
  return typeof v === 'string' ? parseGrpcTimeout(v) : undefined;
}

/** Sends, waits until the upstream has the request, then lets `ms` pass. */
async function sendAndWait(session: ClientHttp2Session, head: http2.OutgoingHttpHeaders, body: Buffer | undefined, ms: number): Promise<Awaited<ReturnType<typeof send>>> {
  const n = seen.length;
  const pending = send(session, head, body);
  await until(() => seen.length > n, 'the request to reach the upstream');
  clock.advance(ms);
  return pending;
}

test('grpc-timeout without routes: DEADLINE_EXCEEDED, the upstream told the time left and reset', async () => {
  const reply = await sendAndWait(toBare, { ...GRPC_HEAD, 'grpc-timeout': '200m' }, grpcFrame('ping'), 200);
  assert.equal(reply.headOnly, true);
  assert.equal(reply.headers['grpc-status'], '4');
  assert.equal(reply.headers['trellis-reason'], 'request-timeout');
  assert.equal(upstreamTimeout(0), 200, `upstream saw grpc-timeout ${String(seen[0]?.headers['grpc-timeout'])}`);
  await until(() => seen[0]?.stream.closed === true, 'the upstream stream to be reset');
  assert.equal(seen[0]?.stream.rstCode, http2.constants.NGHTTP2_CANCEL);
  await until(() => bare.records.length === 1 && upstream.releases.length === 1, 'record and release');
  assert.equal(bare.records[0]?.reason, 'request-timeout');
  assert.equal(bare.records[0]?.grpcStatus, 4);
  assert.deepEqual(upstream.releases, [{ failed: true, grpcStatus: undefined }]);
});

test('the deadline has not passed one ms early', async () => {
  script = [(s) => grpcOk(s, 'ok')];
  const n = seen.length;
  const pending = send(toBare, { ...GRPC_HEAD, 'grpc-timeout': '200m' }, grpcFrame('ping'));
  await until(() => seen.length > n, 'the request to reach the upstream');
  clock.advance(199);
  const reply = await pending;
  assert.equal(reply.trailers?.['grpc-status'], '0');
});

test('the smaller of grpc-timeout and the route request timeout wins', async () => {
  routes.set([rule({ timeouts: { requestMs: 100 } })]);
  const reply = await sendAndWait(toRouted, { ...GRPC_HEAD, 'grpc-timeout': '10S' }, grpcFrame('ping'), 100);
  assert.equal(reply.headers['grpc-status'], '4');
  assert.equal(upstreamTimeout(0), 100, `upstream saw ${String(seen[0]?.headers['grpc-timeout'])}`);
});

test('a route request timeout alone also sets the gRPC deadline upstream', async () => {
  routes.set([rule({ timeouts: { requestMs: 80 } })]);
  const reply = await sendAndWait(toRouted, GRPC_HEAD, grpcFrame('ping'), 80);
  assert.equal(reply.headers['grpc-status'], '4');
  assert.equal(upstreamTimeout(0), 80);
});

test('each attempt is told only what is left of the deadline', async () => {
  routes.set([rule({ retry: { attempts: 2, backoffMs: 20, codes: [], grpcCodes: [14] } })]);
  script = [(s) => grpcTrailersOnly(s, 14), (s) => grpcOk(s, 'ok')];
  const pending = send(toRouted, { ...GRPC_HEAD, 'grpc-timeout': '5S' }, grpcFrame('ping'));
  await until(() => upstream.releases.length === 1, 'the first answer to be discarded');
  clock.advance(20);
  const reply = await pending;
  assert.equal(reply.trailers?.['grpc-status'], '0');
  assert.equal(upstreamTimeout(0), 5000);
  assert.equal(upstreamTimeout(1), 4980, 'the backoff was taken off');
});

test('a deadline after the response head resets both streams', async () => {
  script = [(s) => s.respond({ ':status': 200, 'content-type': 'application/grpc' })];
  const req = toBare.request({ ...GRPC_HEAD, 'grpc-timeout': '150m' });
  req.on('error', () => {});
  let trailers: IncomingHttpHeaders | null = null;
  req.on('trailers', (t) => (trailers = t));
  const closed = new Promise<void>((resolve) => req.once('close', () => resolve()));
  req.end(grpcFrame('ping'));
  const head = await new Promise<IncomingHttpHeaders>((resolve) => req.once('response', resolve));
  assert.equal(head[':status'], 200);
  clock.advance(150);
  await closed;
  assert.equal(trailers, null);
  await until(() => seen[0]?.stream.closed === true, 'the upstream stream to be reset');
  assert.equal(seen[0]?.stream.rstCode, http2.constants.NGHTTP2_CANCEL);
  await until(() => bare.records.length === 1, 'the record');
  assert.equal(bare.records[0]?.reason, 'request-timeout');
  // As before the pipeline: the client's stream is cut with CANCEL (what gRPC clients expect
  // when a deadline ends a call), not INTERNAL_ERROR (a proxy fault).
  assert.equal(req.rstCode, http2.constants.NGHTTP2_CANCEL);
});

test('non-gRPC HTTP/2 with a request timeout: 504 request-timeout', async () => {
  routes.set([rule({ timeouts: { requestMs: 60 } })]);
  const reply = await sendAndWait(toRouted, { ':method': 'GET', ':path': '/slow' }, undefined, 60);
  assert.equal(reply.headers[':status'], 504);
  assert.equal(reply.headers['trellis-reason'], 'request-timeout');
  assert.equal(seen[0]?.headers['grpc-timeout'], undefined);
});

test('a malformed grpc-timeout is ignored and forwarded as it came', async () => {
  script = [(s) => grpcOk(s, 'ok')];
  const reply = await send(toBare, { ...GRPC_HEAD, 'grpc-timeout': '12x' }, grpcFrame('ping'));
  assert.equal(reply.trailers?.['grpc-status'], '0');
  assert.equal(seen[0]?.headers['grpc-timeout'], '12x');
  assert.equal(clock.pendingTimers, 0, 'no deadline was set');
});
