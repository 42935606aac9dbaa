import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import { ProxyReason } from '../../errors.js';
import { ManualClock } from '../clock/manual-clock.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { ResponseHandler, Service } from '../pipeline/service.js';
import type { Stage } from '../pipeline/stage.js';
import { GRPC_HEAD, SVC, TestRoutes, TestUpstream, client, grpcFrame, grpcOk, h2Server, proxy, rule, send, until } from './test-helpers.js';
import type { Listening, Proxy } from './test-helpers.js';

// The HTTP/2 codec through the outbound stack (route, fault...) over the endpoint stage: local
// replies, header and URL rewrites, response edits, fault delays, a stage that throws.

let upstreamServer: Listening;
let upstream: TestUpstream;
const seen: IncomingHttpHeaders[] = [];
const routes = new TestRoutes([rule()]);
const clock = new ManualClock();
/** What the first stage saw of the last exchange (method, target, flat headers). */
let saw: [string, string, readonly string[]] | undefined;
let throwNext = false;
let front: Proxy;
let session: ClientHttp2Session;

/** A stage of the test in front of the stack: records what it sees, throws when told to. */
const spy = (next: Service): Stage => ({
  call(ex: Exchange, handler: ResponseHandler): void {
    saw = [ex.method, ex.target, ex.headers];
    if (throwNext) throw new Error('boom');
    next.call(ex, handler);
  },
});

before(async () => {
  upstreamServer = await h2Server((stream, headers) => {
    seen.push(headers);
    if (headers['content-type'] === 'application/grpc') {
      stream.resume();
      stream.once('end', () => grpcOk(stream, 'hi'));
      return;
    }
    stream.resume();
    stream.respond({ ':status': 200, 'x-from-upstream': 'yes', 'x-drop': 'secret', 'x-replace': 'old' });
    stream.end('upstream body');
  });
  upstream = await TestUpstream.connect(upstreamServer.port);
  front = await proxy(upstream, { clusters: routes.table, clock, front: [spy] });
  session = await client(front.port);
});

after(async () => {
  session.close();
  upstream.close();
  await front.close();
  await upstreamServer.close();
});

test('without routes a stream is forwarded unchanged', async () => {
  const bare = await proxy(upstream);
  const s = await client(bare.port);
  try {
    const reply = await send(s, { ':method': 'GET', ':path': '/plain', 'x-a': '1' });
    await until(() => bare.records.length === 1, 'the record');
    assert.equal(reply.headers[':status'], 200);
    assert.equal(reply.body.toString(), 'upstream body');
    const last = seen.at(-1);
    assert.equal(last?.[':path'], '/plain');
    assert.equal(last?.['x-a'], '1');
    assert.equal(bare.records[0]?.route, undefined);
    assert.equal(bare.records[0]?.retries, 0);
    assert.equal(bare.records[0]?.backend, SVC, 'without routes the listener’s service is the backend');
  } finally {
    s.close();
    await bare.close();
  }
});

test('local reply for HTTP: a redirect rule answers with its status, trellis-reason and location; no upstream', async () => {
  routes.set([rule({ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'http', hostname: 'x', path: { type: 'ReplaceFullPath', replaceFullPath: '/y' } } }] })]);
  const before = upstream.requests.length;
  const n = front.records.length;
  const reply = await send(session, { ':method': 'GET', ':path': '/old' });
  assert.equal(reply.headers[':status'], 302);
  assert.equal(reply.headers['trellis-reason'], 'redirect');
  assert.equal(reply.headers.location, 'http://x/y');
  assert.equal(upstream.requests.length, before);
  await until(() => front.records.length > n, 'the record');
  assert.equal(front.records.at(-1)?.reason, 'redirect');
  assert.equal(front.records.at(-1)?.route, 'default/test');
});

test('local reply for gRPC: trailers-only with the HTTP status mapped to a gRPC code', async () => {
  const on = (value: string): { headers: { name: string; value: string }[] }[] => [{ headers: [{ name: 'x-case', value }] }];
  const abort = (status: number): { type: 'Fault'; fault: { abort: { status: number; percent: number } } }[] => [{ type: 'Fault', fault: { abort: { status, percent: 100 } } }];
  routes.set([
    rule({ matches: on('503') }),
    rule({ matches: on('401'), filters: abort(401) }),
    rule({ matches: on('403'), filters: abort(403) }),
    rule({ matches: on('400'), filters: abort(400) }),
    rule({ matches: on('500'), backends: [{ cluster: 'default/nowhere:http' }] }),
  ]);
  // The lease source answers the 503 case as a cluster without endpoints does.
  upstream.failWith = { status: 503, reason: ProxyReason.NoEndpoints, message: 'no endpoints' };
  const cases: [string, ProxyReason, string][] = [
    ['404', ProxyReason.NoRoute, '12'],
    ['503', ProxyReason.NoEndpoints, '14'],
    ['401', ProxyReason.FaultInjected, '16'],
    ['403', ProxyReason.FaultInjected, '7'],
    ['400', ProxyReason.FaultInjected, '13'],
    ['500', ProxyReason.NoBackend, '2'],
  ];
  try {
    for (const [status, reason, code] of cases) {
      if (status === '503') upstream.failNext = 1;
      const n = front.records.length;
      const reply = await send(session, { ...GRPC_HEAD, 'x-case': status }, grpcFrame('req'));
      await until(() => front.records.length > n, 'the record');
      assert.equal(reply.headOnly, true, `${status} is trailers-only`);
      assert.equal(reply.headers[':status'], 200);
      assert.equal(reply.headers['grpc-status'], code, `HTTP ${status}`);
      assert.equal(reply.headers['trellis-reason'], reason);
      assert.match(decodeURIComponent(String(reply.headers['grpc-message'])), new RegExp(reason));
      assert.equal(front.records.at(-1)?.grpcStatus, Number(code));
    }
  } finally {
    upstream.failNext = 0;
    upstream.failWith = { status: 503, reason: ProxyReason.ConnectFailed, message: 'injected connect failure' };
  }
});

test('a stage that throws gets 500 internal-error; a gRPC caller gets INTERNAL; the session carries on', async () => {
  routes.set([rule()]);
  throwNext = true;
  try {
    const n = front.records.length;
    const reply = await send(session, { ':method': 'GET', ':path': '/' });
    assert.equal(reply.headers[':status'], 500);
    assert.equal(reply.headers['trellis-reason'], ProxyReason.InternalError);
    await until(() => front.records.length > n, 'the record');
    assert.equal(front.records.at(-1)?.reason, ProxyReason.InternalError);
    assert.equal(front.records.at(-1)?.status, 500);

    const g = await send(session, GRPC_HEAD, grpcFrame('req'));
    assert.equal(g.headOnly, true);
    assert.equal(g.headers['trellis-reason'], ProxyReason.InternalError);
    assert.equal(g.headers['grpc-status'], '13', 'INTERNAL');
  } finally {
    throwNext = false;
  }
  // The same session still serves.
  const ok = await send(session, { ':method': 'GET', ':path': '/' });
  assert.equal(ok.headers[':status'], 200);
});

test('the stages see method, path and flat headers with host; the lease source sees them too', async () => {
  routes.set([rule()]);
  await send(session, { ':method': 'GET', ':path': '/p?q=1', ':authority': 'svc.local', 'x-user': 'ann' });
  assert.deepEqual(saw, ['GET', '/p?q=1', ['x-user', 'ann', 'host', 'svc.local']]);
  assert.deepEqual(upstream.requests.at(-1)?.headers, ['x-user', 'ann', 'host', 'svc.local']);
  assert.equal(seen.at(-1)?.[':path'], '/p?q=1');
});

test('request header modifier and URL rewrite are what the upstream sees', async () => {
  routes.set([
    rule({
      matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
      filters: [
        { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-set', value: 'new' }], add: [{ name: 'x-add', value: 'two' }], remove: ['x-remove'] } },
        { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' }, hostname: 'backend.internal' } },
      ],
    }),
  ]);
  const reply = await send(session, { ':method': 'GET', ':path': '/api/users?id=7', ':authority': 'svc', 'x-set': 'old', 'x-add': 'one', 'x-remove': 'x' });
  assert.equal(reply.headers[':status'], 200);
  const got = seen.at(-1);
  assert.equal(got?.[':path'], '/v2/users?id=7');
  assert.equal(got?.[':authority'], 'backend.internal');
  assert.equal(got?.['x-set'], 'new');
  assert.equal(got?.['x-add'], 'one, two');
  assert.equal(got?.['x-remove'], undefined);
});

test('response header modifier and the lease headers shape the response head', async () => {
  upstream.responseHeaders = ['set-cookie', 'sticky=abc'];
  try {
    routes.set([
      rule({
        filters: [
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-replace', value: 'new' }], add: [{ name: 'x-added', value: '1' }], remove: ['x-drop'] } },
        ],
      }),
    ]);
    const reply = await send(session, { ':method': 'GET', ':path': '/' });
    assert.equal(reply.headers['x-from-upstream'], 'yes');
    assert.equal(reply.headers['x-replace'], 'new');
    assert.equal(reply.headers['x-added'], '1');
    assert.equal(reply.headers['x-drop'], undefined);
    assert.deepEqual(reply.headers['set-cookie'], ['sticky=abc']);
    assert.equal(reply.body.toString(), 'upstream body');
  } finally {
    upstream.responseHeaders = undefined;
  }
});

test('a client reset during a fault delay cancels the stream before any upstream is asked', async () => {
  routes.set([rule({ filters: [{ type: 'Fault', fault: { delay: { ms: 150, percent: 100 } } }] })]);
  const before = upstream.requests.length;
  const n = front.records.length;
  const req = session.request({ ':method': 'GET', ':path': '/delayed' });
  req.on('error', () => {});
  await until(() => clock.pendingTimers === 1, 'the stream to be held by the delay');
  req.close(http2.constants.NGHTTP2_CANCEL);
  await until(() => front.records.length > n, 'the record');
  assert.equal(clock.pendingTimers, 0, 'the delay timer was cleared');
  clock.advance(1_000);
  await new Promise((r) => setImmediate(r));
  assert.equal(upstream.requests.length, before);
});

test('a fault delay still forwards; gRPC OK status and route are recorded', async () => {
  routes.set([rule({ filters: [{ type: 'Fault', fault: { delay: { ms: 20, percent: 100 } } }] })]);
  const n = front.records.length;
  const released = upstream.releases.length;
  const acquired = upstream.requests.length;
  const pending = send(session, GRPC_HEAD, grpcFrame('req'));
  await until(() => clock.pendingTimers === 1, 'the stream to be held by the delay');
  clock.advance(19);
  await new Promise((r) => setImmediate(r));
  assert.equal(upstream.requests.length, acquired, 'still held before the delay is over');
  clock.advance(1);
  const reply = await pending;
  await until(() => front.records.length > n && upstream.releases.length > released, 'the record and release');
  assert.equal(reply.trailers?.['grpc-status'], '0');
  const rec = front.records.at(-1);
  assert.equal(rec?.grpcStatus, 0);
  assert.equal(rec?.route, 'default/test');
  assert.equal(rec?.retries, 0);
  assert.deepEqual(upstream.releases.at(-1), { failed: false, grpcStatus: 0 });
});
