import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientHttp2Session, IncomingHttpHeaders } from 'node:http2';
import type { Exchange } from '../pipeline/exchange.js';
import { INBOUND_STACK } from '../stages/index.js';
import { Tracer } from '../tracing/tracer.js';
import { startCollector } from '../tracing/test-collector.js';
import type { Collector } from '../tracing/test-collector.js';
import { GRPC_HEAD, TestUpstream, client, grpcFrame, grpcOk, h2Server, proxy, send } from './test-helpers.js';
import type { Listening, Proxy, ProxyOptions } from './test-helpers.js';

// The HTTP/2 codec through the inbound stack with tracing (the trace stage: server spans).

const NODE = { namespace: 'shop', workload: 'orders', service: 'orders', replica: 0, identity: 'spiffe://test.local/ns/shop/sa/orders' };
const LABELS = { nodeId: 'shop/orders/0', identity: NODE.identity, namespace: 'shop', workload: 'orders', service: 'orders', serviceAccount: 'orders' };
const CALLER = 'spiffe://test.local/ns/shop/sa/checkout';
/** An inbound listener of `orders`, called by `checkout` over mTLS. */
const INBOUND: ProxyOptions = { stages: INBOUND_STACK, site: { direction: 'inbound', cluster: '' }, node: LABELS, peer: CALLER };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const B3_TRACE = '80f198ee56343ba864fe8b2a57d3eff7';
const B3_SPAN = 'e457b5a2e4d86bd1';

let seen: IncomingHttpHeaders[] = [];
let records: Exchange[] = [];
let upstreamServer: Listening;
let upstream: TestUpstream;
let collector: Collector;
let tracer: Tracer;
let front: Proxy;
let session: ClientHttp2Session;

before(async () => {
  upstreamServer = await h2Server((stream, headers) => {
    seen.push(headers);
    stream.resume();
    if (headers['content-type'] === 'application/grpc') {
      stream.once('end', () => grpcOk(stream, 'hi'));
      return;
    }
    stream.respond({ ':status': 200 });
    stream.end('ok');
  });
  upstream = await TestUpstream.connect(upstreamServer.port);
  collector = await startCollector();
  tracer = new Tracer(NODE, { exporter: { flushIntervalMs: 60_000 } });
  front = await proxy(upstream, { ...INBOUND, tracer });
  session = await client(front.port);
});

beforeEach(() => {
  seen = [];
  front.records.length = 0;
  records = front.records;
  tracer.configure({ endpoint: collector.url, samplingRatio: 1 });
});

after(async () => {
  session.close();
  upstream.close();
  await front.close();
  await upstreamServer.close();
  await tracer.shutdown();
  await collector.close();
});

async function flushed(before: number): Promise<void> {
  // The record (and its span) is written when the downstream stream closes, just after the reply.
  const deadline = Date.now() + 5000;
  while (records.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  await tracer.flush();
  if (before >= 0) await collector.waitFor(before + 1);
}

test('a stream without trace context starts a trace; the upstream’s parent is the exported server span', async () => {
  const before = collector.spans.length;
  const reply = await send(session, { ':method': 'GET', ':path': '/orders/7?x=1' });
  assert.equal(reply.headers[':status'], 200);
  await flushed(before);
  const span = collector.spans[before]!;
  assert.equal(seen[0]!.traceparent, `00-${span.traceId}-${span.spanId}-01`);
  assert.equal(span.parentSpanId, undefined);
  assert.equal(span.kind, 2); // server
  assert.equal(span.name, 'GET orders');
  assert.equal(span.attributes['url.path'], '/orders/7');
  assert.equal(span.attributes['network.protocol.version'], '2');
  assert.equal(span.attributes['http.response.status_code'], 200);
  assert.equal(span.attributes['trellis.peer.identity'], 'spiffe://test.local/ns/shop/sa/checkout');
  assert.equal(span.resource['service.name'], 'orders');
  assert.equal(records[0]!.traceId, span.traceId);
  assert.equal(records[0]!.spanId, span.spanId);
});

test('a traceparent caller is continued; tracestate passes through', async () => {
  const before = collector.spans.length;
  await send(session, { ':method': 'GET', ':path': '/', traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'v=1' });
  await flushed(before);
  const span = collector.spans[before]!;
  assert.equal(span.traceId, TRACE);
  assert.equal(span.parentSpanId, PARENT);
  assert.equal(seen[0]!.traceparent, `00-${TRACE}-${span.spanId}-01`);
  assert.equal(seen[0]!.tracestate, 'v=1');
  assert.equal(seen[0]!.b3, undefined);
});

test('a B3-only caller is continued and the upstream sees B3 and traceparent', async () => {
  const before = collector.spans.length;
  await send(session, { ':method': 'GET', ':path': '/', 'x-b3-traceid': B3_TRACE, 'x-b3-spanid': B3_SPAN, 'x-b3-sampled': '1' });
  await flushed(before);
  const span = collector.spans[before]!;
  assert.equal(span.traceId, B3_TRACE);
  assert.equal(span.parentSpanId, B3_SPAN);
  const h = seen[0]!;
  assert.equal(h.traceparent, `00-${B3_TRACE}-${span.spanId}-01`);
  assert.equal(h['x-b3-traceid'], B3_TRACE);
  assert.equal(h['x-b3-spanid'], span.spanId);
  assert.equal(h['x-b3-parentspanid'], B3_SPAN);
  assert.equal(h['x-b3-sampled'], '1');
});

test('gRPC: the span is named by the rpc conventions and carries the grpc status', async () => {
  const before = collector.spans.length;
  const reply = await send(session, GRPC_HEAD, grpcFrame('hello'));
  assert.equal(reply.trailers?.['grpc-status'], '0');
  await flushed(before);
  const span = collector.spans[before]!;
  assert.equal(span.name, 'test.Echo/Echo');
  assert.equal(span.attributes['rpc.grpc.status_code'], 0);
  assert.equal(span.attributes['rpc.system'], 'grpc');
  assert.equal(seen[0]!.traceparent, `00-${span.traceId}-${span.spanId}-01`);
});

test('not sampled upstream of us: no span, the decision is propagated', async () => {
  const exported = tracer.stats()!.exported;
  const requests = collector.requests;
  await send(session, { ':method': 'GET', ':path': '/', b3: `${B3_TRACE}-${B3_SPAN}-0` });
  await flushed(-1);
  const h = seen[0]!;
  assert.match(String(h.traceparent), new RegExp(`^00-${B3_TRACE}-[0-9a-f]{16}-00$`));
  assert.match(String(h.b3), new RegExp(`^${B3_TRACE}-[0-9a-f]{16}-0-${B3_SPAN}$`));
  assert.equal(records[0]!.sampled, false);
  assert.equal(tracer.stats()!.exported + tracer.stats()!.queued, exported);
  assert.equal(collector.requests, requests);
});

test('tracing absent: the upstream gets exactly the caller’s trace headers and nothing is exported', async () => {
  tracer.configure(undefined);
  const requests = collector.requests;
  const head = { ':method': 'GET', ':path': '/', ':authority': 'orders', traceparent: `00-${TRACE}-${PARENT}-01`, b3: `${B3_TRACE}-${B3_SPAN}-1`, 'x-b3-sampled': '1' };
  await send(session, head);
  const bare = await proxy(upstream, INBOUND);
  const s = await client(bare.port);
  try {
    await send(s, head);
  } finally {
    s.close();
    await bare.close();
  }
  assert.equal(seen.length, 2);
  const { date: _a, ...traced } = seen[0]!;
  const { date: _b, ...untraced } = seen[1]!;
  assert.deepEqual(traced, untraced);
  assert.equal(seen[0]!.traceparent, head.traceparent);
  assert.equal(seen[0]!.b3, head.b3);
  await tracer.flush();
  assert.equal(records[0]?.traceId, undefined);
  assert.equal(collector.requests, requests);
});
