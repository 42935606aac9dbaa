import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Tracer } from './tracer.js';
import { startCollector } from './test-collector.js';
import type { Collector } from './test-collector.js';

// TCP relay spans: each connection is its own trace, sampled by the ratio alone.

const NODE = { namespace: 'shop', workload: 'orders', service: 'orders', replica: 0, identity: 'spiffe://test.local/ns/shop/sa/orders' };
const CONN = { startedAt: 1_700_000_000_000, durationMs: 250, bytesIn: 120, bytesOut: 4096, upstream: '127.0.0.1:7001', error: undefined };

let collector: Collector;

before(async () => {
  collector = await startCollector();
});

after(async () => {
  await collector.close();
});

test('a sampled TCP relay exports one root span with the network attributes and byte counts', async () => {
  const tracer = new Tracer(NODE, { exporter: { flushIntervalMs: 60_000 } });
  tracer.configure({ endpoint: collector.url, samplingRatio: 1 });
  const before = collector.spans.length;
  tracer.exportConnection('client', CONN, 'inventory', 'spiffe://test.local/ns/shop/sa/inventory');
  tracer.exportConnection('server', { ...CONN, error: 'ECONNRESET' }, 'orders', undefined);
  await tracer.flush();
  const [client, server] = (await collector.waitFor(before + 2)).slice(before);
  assert.equal(client!.name, 'tcp inventory');
  assert.equal(client!.parentSpanId, undefined);
  assert.match(client!.traceId, /^[0-9a-f]{32}$/);
  assert.deepEqual(client!.attributes, {
    'network.transport': 'tcp',
    'server.address': 'inventory',
    'trellis.bytes_in': 120,
    'trellis.bytes_out': 4096,
    'network.peer.address': '127.0.0.1:7001',
    'trellis.peer.identity': 'spiffe://test.local/ns/shop/sa/inventory',
  });
  assert.equal(client!.status, 0);
  assert.equal(server!.name, 'tcp orders');
  assert.equal(server!.status, 2, 'a relay that ended on an error is an error span');
  assert.notEqual(server!.traceId, client!.traceId, 'connections are separate traces');
  await tracer.shutdown();
});

test('ratio 0 exports no TCP span, and tracing off exports none', async () => {
  const tracer = new Tracer(NODE, { exporter: { flushIntervalMs: 60_000 } });
  tracer.configure({ endpoint: collector.url, samplingRatio: 0 });
  const before = collector.spans.length;
  for (let i = 0; i < 50; i++) tracer.exportConnection('client', CONN, 'inventory', undefined);
  tracer.configure(undefined);
  tracer.exportConnection('client', CONN, 'inventory', undefined);
  // A marker through a sampled tracer: once it arrived, anything sent before it would have too.
  const marker = new Tracer(NODE, { exporter: { flushIntervalMs: 60_000 } });
  marker.configure({ endpoint: collector.url, samplingRatio: 1 });
  await tracer.flush();
  marker.exportConnection('client', CONN, 'marker', undefined);
  await marker.flush();
  const spans = (await collector.waitFor(before + 1)).slice(before);
  assert.deepEqual(spans.map((s) => s.name), ['tcp marker']);
  await Promise.all([tracer.shutdown(), marker.shutdown()]);
});
