import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { ClusterTable } from '../cluster/cluster-table.js';
import type { Exchange } from '../pipeline/exchange.js';
import type { Service } from '../pipeline/service.js';
import type { CompiledRule } from '../routing/types.js';
import { RetryStage } from '../stages/retry/retry.js';
import { TraceStage } from '../stages/trace/trace.js';
import { systemClock } from '../clock/clock.js';
import { Tracer } from '../tracing/tracer.js';
import { startCollector } from '../tracing/test-collector.js';
import type { Collector } from '../tracing/test-collector.js';
import { closeServer, ConnectUpstream, listen, rawExchange, splitResponses, startProxy } from './test-harness.js';
import type { ProxyHandle } from './test-harness.js';

// The HTTP/1 codec with the trace stage: trace context continued or started per request, the
// upstream sees this hop's span as its parent, and the span reaches a real OTLP collector.

const NODE = { namespace: 'shop', workload: 'checkout', service: 'checkout', replica: 2, identity: 'spiffe://test.local/ns/shop/sa/checkout' };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const B3_TRACE = '80f198ee56343ba864fe8b2a57d3eff7';
const B3_SPAN = 'e457b5a2e4d86bd1';

/** Upstream that keeps each request head's exact bytes; answers `status` (200 unless told). */
let heads: string[] = [];
let statuses: number[] = [];
let upstreamServer: net.Server;
let upstream: ConnectUpstream;
let collector: Collector;
let tracer: Tracer;
let route: string | undefined;
let retry = false;
let front: ProxyHandle;

/** A budget that always allows a retry, for every cluster. */
const ALWAYS_RETRY = { get: () => ({ retryBudget: { recordRequest() {}, tryRetry: () => true } }) } as unknown as ClusterTable;
const RETRY_RULE = { retry: { attempts: 1, backoffMs: 0, codes: [503] }, timeouts: { requestMs: 0, backendRequestMs: 0 } } as unknown as CompiledRule;

/** What the route stage would decide: the backend, and (per test) the route's name and a retry. */
function routeLike(next: Service): Service {
  return {
    call(ex: Exchange, h) {
      ex.backend = 'shop/orders:http';
      ex.route = route;
      if (retry) ex.rule = RETRY_RULE;
      next.call(ex, h);
    },
  };
}

function records(): Exchange[] {
  return front.records;
}

function fieldsOf(head: string): [string, string][] {
  return head.split('\r\n').slice(1).map((l) => {
    const c = l.indexOf(':');
    return [l.slice(0, c), l.slice(c + 1).trim()];
  });
}

function field(head: string, name: string): string | undefined {
  return fieldsOf(head).find(([n]) => n === name)?.[1];
}

function count(head: string, name: string): number {
  return fieldsOf(head).filter(([n]) => n === name).length;
}

async function get(port: number, target: string, extra: string[] = []): Promise<number> {
  const req = `GET ${target} HTTP/1.1\r\nhost: orders\r\n${extra.map((l) => l + '\r\n').join('')}connection: close\r\n\r\n`;
  const { text } = await rawExchange(port, req);
  return splitResponses(text)[0]?.status ?? 0;
}

before(async () => {
  upstreamServer = net.createServer((s) => {
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      heads.push(buf.slice(0, end));
      buf = '';
      const status = statuses.shift() ?? 200;
      s.end(`HTTP/1.1 ${status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok`);
    });
    s.on('error', () => {});
  });
  upstream = new ConnectUpstream(await listen(upstreamServer));
  collector = await startCollector();
  tracer = new Tracer(NODE, { exporter: { flushIntervalMs: 60_000 } });
  front = await startProxy(upstream, {
    stages: [
      (next) => new TraceStage({ tracer, direction: 'outbound', cluster: 'shop/orders:http', service: 'checkout' }, next),
      (next) => routeLike(next),
      (next) => new RetryStage({ clusters: ALWAYS_RETRY, clock: systemClock, random: () => 0 }, next),
    ],
  });
});

beforeEach(() => {
  heads = [];
  statuses = [];
  front.records.length = 0;
  route = undefined;
  retry = false;
  tracer.configure({ endpoint: collector.url, samplingRatio: 1 });
});

after(async () => {
  await front.close();
  await tracer.shutdown();
  upstream.destroyAll();
  await closeServer(upstreamServer);
  await collector.close();
});

test('a request without trace context starts a trace; the upstream’s parent is the exported span', async () => {
  const before = collector.spans.length;
  assert.equal(await get(front.port, '/orders/42?secret=1'), 200);
  await tracer.flush();
  const spans = await collector.waitFor(before + 1);
  const span = spans[before]!;
  const tp = field(heads[0]!, 'traceparent');
  assert.equal(tp, `00-${span.traceId}-${span.spanId}-01`);
  assert.equal(span.parentSpanId, undefined);
  assert.equal(span.kind, 3); // client
  assert.equal(span.name, 'GET orders');
  assert.equal(span.attributes['http.request.method'], 'GET');
  assert.equal(span.attributes['url.path'], '/orders/42');
  assert.equal(span.attributes['http.response.status_code'], 200);
  assert.equal(span.attributes['server.address'], 'orders');
  assert.equal(span.attributes['network.protocol.version'], '1.1');
  assert.equal(span.attributes['trellis.peer.identity'], records()[0]!.upstreamPeer);
  assert.deepEqual(span.resource, {
    'service.name': 'checkout',
    'service.namespace': 'shop',
    'trellis.workload': 'checkout',
    'trellis.replica': 2,
    'trellis.identity': NODE.identity,
  });
  const rec = records()[0]!;
  assert.equal(rec.traceId, span.traceId);
  assert.equal(rec.spanId, span.spanId);
  assert.equal(BigInt(span.endTimeUnixNano) >= BigInt(span.startTimeUnixNano), true);
  assert.equal(BigInt(span.startTimeUnixNano) / 1_000_000n, BigInt(rec.startedAt));
});

test('a traceparent caller’s trace is continued with this hop as the new parent; tracestate kept', async () => {
  const before = collector.spans.length;
  await get(front.port, '/x', [`traceparent: 00-${TRACE}-${PARENT}-01`, 'tracestate: vendor=abc']);
  await tracer.flush();
  const span = (await collector.waitFor(before + 1))[before]!;
  assert.equal(span.traceId, TRACE);
  assert.equal(span.parentSpanId, PARENT);
  assert.notEqual(span.spanId, PARENT);
  const head = heads[0]!;
  assert.equal(count(head, 'traceparent'), 1);
  assert.equal(field(head, 'traceparent'), `00-${TRACE}-${span.spanId}-01`);
  assert.equal(field(head, 'tracestate'), 'vendor=abc');
  assert.equal(field(head, 'b3'), undefined, 'no B3 for a W3C-only caller');
});

test('a B3 multi-header caller is continued and the upstream gets B3 as well as traceparent', async () => {
  const before = collector.spans.length;
  await get(front.port, '/x', [`x-b3-traceid: ${B3_TRACE}`, `x-b3-spanid: ${B3_SPAN}`, 'x-b3-sampled: 1']);
  await tracer.flush();
  const span = (await collector.waitFor(before + 1))[before]!;
  assert.equal(span.traceId, B3_TRACE);
  assert.equal(span.parentSpanId, B3_SPAN);
  const head = heads[0]!;
  assert.equal(field(head, 'traceparent'), `00-${B3_TRACE}-${span.spanId}-01`);
  assert.equal(field(head, 'x-b3-traceid'), B3_TRACE);
  assert.equal(field(head, 'x-b3-spanid'), span.spanId);
  assert.equal(field(head, 'x-b3-parentspanid'), B3_SPAN);
  assert.equal(field(head, 'x-b3-sampled'), '1');
  assert.equal(count(head, 'x-b3-traceid'), 1);
});

test('a B3 single-header caller is continued in the same form', async () => {
  const before = collector.spans.length;
  await get(front.port, '/x', [`b3: ${B3_TRACE}-${B3_SPAN}-1`]);
  await tracer.flush();
  const span = (await collector.waitFor(before + 1))[before]!;
  assert.equal(span.traceId, B3_TRACE);
  assert.equal(span.parentSpanId, B3_SPAN);
  assert.equal(field(heads[0]!, 'b3'), `${B3_TRACE}-${span.spanId}-1-${B3_SPAN}`);
  assert.equal(field(heads[0]!, 'traceparent'), `00-${B3_TRACE}-${span.spanId}-01`);
});

test('a caller’s not-sampled decision is followed: no span, but the flag is propagated', async () => {
  const exported = tracer.stats()!.exported;
  await get(front.port, '/x', [`traceparent: 00-${TRACE}-${PARENT}-00`]);
  await tracer.flush();
  const requests = collector.requests;
  const tp = field(heads[0]!, 'traceparent')!;
  assert.match(tp, new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
  assert.notEqual(tp.slice(36, 52), PARENT);
  assert.equal(records()[0]!.traceId, TRACE, 'the access log still gets the trace id');
  assert.equal(records()[0]!.sampled, false);
  assert.equal(tracer.stats()!.queued + tracer.stats()!.exported, exported, 'nothing was queued');
  assert.equal(collector.requests, requests);
});

test('a route names the span, and retries inside one request are one span with one parent', async () => {
  route = 'shop/orders-v2';
  retry = true;
  statuses = [503, 200];
  const before = collector.spans.length;
  assert.equal(await get(front.port, '/orders/1'), 200);
  await tracer.flush();
  const spans = await collector.waitFor(before + 1);
  assert.equal(spans.length, before + 1);
  const span = spans[before]!;
  assert.equal(span.name, 'GET shop/orders-v2');
  assert.equal(span.attributes['trellis.route'], 'shop/orders-v2');
  assert.equal(heads.length, 2, 'the request was tried twice');
  assert.equal(field(heads[0]!, 'traceparent'), `00-${span.traceId}-${span.spanId}-01`);
  assert.equal(field(heads[1]!, 'traceparent'), `00-${span.traceId}-${span.spanId}-01`);
});

test('tracing absent: trace headers reach the upstream byte for byte and nothing is exported', async () => {
  tracer.configure(undefined);
  const requests = collector.requests;
  const extra = [`traceparent: 00-${TRACE}-${PARENT}-01`, 'tracestate: a=1', `b3: ${B3_TRACE}-${B3_SPAN}-1`, `x-b3-traceid: ${B3_TRACE}`];
  await get(front.port, '/x', extra);
  const bare = await startProxy(upstream, { stages: [(next) => routeLike(next)] });
  try {
    await get(bare.port, '/x', extra);
  } finally {
    await bare.close();
  }
  assert.equal(heads.length, 2);
  assert.equal(heads[0], heads[1]);
  assert.equal(field(heads[0]!, 'traceparent'), `00-${TRACE}-${PARENT}-01`);
  assert.equal(records()[0]!.traceId, undefined);
  await tracer.flush();
  assert.equal(collector.requests, requests);
  assert.equal(tracer.stats(), null);
});

test('a new endpoint gets a new exporter; the old one still sends what it held', async () => {
  const second = await startCollector();
  try {
    const before = collector.spans.length;
    await get(front.port, '/first');
    // No flush: the span waits in the first exporter's queue when the endpoint changes.
    tracer.configure({ endpoint: second.url, samplingRatio: 1 });
    await get(front.port, '/second');
    await tracer.flush();
    const old = await collector.waitFor(before + 1);
    assert.equal(old.length, before + 1);
    assert.equal(old[before]!.attributes['url.path'], '/first');
    const fresh = await second.waitFor(1);
    assert.equal(fresh.length, 1);
    assert.equal(fresh[0]!.attributes['url.path'], '/second');
  } finally {
    await second.close();
  }
});
