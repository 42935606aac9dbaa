import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import { ProxyReason } from '../../errors.js';
import type { Planner } from '../traffic/plan.js';
import type { Http2Upstream } from './types.js';
import { GRPC_HEAD, TestUpstream, client, grpcFrame, grpcOk, h2Server, plan, proxy, send, until } from './test-helpers.js';
import type { Listening, Proxy } from './test-helpers.js';

// Plain forwarding with a planner: local replies, header and URL rewrites, response edits.

let upstreamServer: Listening;
let upstream: TestUpstream;
const seen: IncomingHttpHeaders[] = [];
let current: Planner<Http2Upstream> = () => plan(upstream);
let front: Proxy;
let session: ClientHttp2Session;

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
  front = await proxy(upstream, { planner: (m, t, h) => current(m, t, h) });
  session = await client(front.port);
});

after(async () => {
  session.close();
  upstream.close();
  await front.close();
  await upstreamServer.close();
});

test('without a planner a stream is forwarded unchanged', async () => {
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
    assert.equal(bare.records[0]?.retries, undefined);
  } finally {
    s.close();
    await bare.close();
  }
});

test('local reply for HTTP: the plan status, trellis-reason and the reply headers; no upstream', async () => {
  const before = upstream.requests.length;
  current = () => plan(upstream, { local: { status: 302, reason: ProxyReason.Redirect, message: 'moved', headers: ['location', 'http://x/y'] } });
  const reply = await send(session, { ':method': 'GET', ':path': '/old' });
  assert.equal(reply.headers[':status'], 302);
  assert.equal(reply.headers['trellis-reason'], 'redirect');
  assert.equal(reply.headers.location, 'http://x/y');
  assert.equal(upstream.requests.length, before);
  await until(() => front.records.at(-1)?.reason === 'redirect', 'the record');
  assert.equal(front.records.at(-1)?.route, 'default/test');
});

test('local reply for gRPC: trailers-only with the HTTP status mapped to a gRPC code', async () => {
  const cases: [number, ProxyReason, string][] = [
    [404, ProxyReason.NoRoute, '12'],
    [503, ProxyReason.NoEndpoints, '14'],
    [401, ProxyReason.FaultInjected, '16'],
    [403, ProxyReason.FaultInjected, '7'],
    [400, ProxyReason.FaultInjected, '13'],
    [500, ProxyReason.NoBackend, '2'],
  ];
  for (const [status, reason, code] of cases) {
    current = () => plan(upstream, { local: { status, reason, message: 'local' } });
    const n = front.records.length;
    const reply = await send(session, GRPC_HEAD, grpcFrame('req'));
    await until(() => front.records.length > n, 'the record');
    assert.equal(reply.headOnly, true, `${status} is trailers-only`);
    assert.equal(reply.headers[':status'], 200);
    assert.equal(reply.headers['grpc-status'], code, `HTTP ${status}`);
    assert.equal(reply.headers['trellis-reason'], reason);
    assert.match(decodeURIComponent(String(reply.headers['grpc-message'])), new RegExp(reason));
    assert.equal(front.records.at(-1)?.grpcStatus, Number(code));
  }
});

test('a throwing planner becomes a proxy error reply', async () => {
  current = () => {
    throw new Error('boom');
  };
  const reply = await send(session, { ':method': 'GET', ':path': '/' });
  assert.equal(reply.headers[':status'], 500);
  assert.equal(typeof reply.headers['trellis-reason'], 'string');
});

test('the planner sees method, path and flat headers with host; the upstream gets them too', async () => {
  let args: [string, string, readonly string[]] | undefined;
  current = (m, t, h) => {
    args = [m, t, h];
    return plan(upstream);
  };
  await send(session, { ':method': 'GET', ':path': '/p?q=1', ':authority': 'svc.local', 'x-user': 'ann' });
  assert.deepEqual(args, ['GET', '/p?q=1', ['x-user', 'ann', 'host', 'svc.local']]);
  assert.deepEqual(upstream.requests.at(-1)?.headers, ['x-user', 'ann', 'host', 'svc.local']);
});

test('request header modifier and URL rewrite are what the upstream sees', async () => {
  current = () =>
    plan(upstream, {
      requestHeaders: { set: [['x-set', 'new']], add: [['x-add', 'two']], remove: new Set(['x-remove']) },
      rewrite: { rewrite: { path: { type: 'ReplacePrefixMatch', value: '/v2' }, hostname: 'backend.internal' }, matchedPrefix: '/api' },
    });
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
    current = () => plan(upstream, { responseHeaders: { set: [['x-replace', 'new']], add: [['x-added', '1']], remove: new Set(['x-drop']) } });
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
  let planned = false;
  current = () => {
    planned = true;
    return plan(upstream, { delayMs: 150 });
  };
  const before = upstream.requests.length;
  const n = front.records.length;
  const req = session.request({ ':method': 'GET', ':path': '/delayed' });
  req.on('error', () => {});
  await until(() => planned, 'the stream to be planned');
  req.close(http2.constants.NGHTTP2_CANCEL);
  await until(() => front.records.length > n, 'the record');
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(upstream.requests.length, before);
});

test('a fault delay still forwards; gRPC OK status and route are recorded', async () => {
  current = () => plan(upstream, { delayMs: 20 });
  const n = front.records.length;
  const released = upstream.releases.length;
  const reply = await send(session, GRPC_HEAD, grpcFrame('req'));
  await until(() => front.records.length > n && upstream.releases.length > released, 'the record and release');
  assert.equal(reply.trailers?.['grpc-status'], '0');
  const rec = front.records.at(-1);
  assert.equal(rec?.grpcStatus, 0);
  assert.equal(rec?.route, 'default/test');
  assert.equal(rec?.retries, 0);
  assert.deepEqual(upstream.releases.at(-1), { failed: false, grpcStatus: 0 });
});
