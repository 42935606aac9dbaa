import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OtlpHttpExporter } from './exporter.js';
import { encodeTraces } from './otlp.js';
import { OtlpTraceReceiver, type ReceiveResult } from './receiver.js';
import { httpSpan, type SpanRecord } from './span.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function spans(): SpanRecord[] {
  const common = { traceId: TRACE, startNs: 1_700_000_000_000_000_000n, endNs: 1_700_000_000_004_000_000n, method: 'POST', target: '/pay?card=1', host: 'payments:80', protocol: '1.1' as const };
  return [
    httpSpan({ ...common, spanId: '00000000000000a1', parentSpanId: undefined, kind: 'client', status: 200, route: 'shop/pay' }),
    httpSpan({ ...common, spanId: '00000000000000a2', parentSpanId: '00000000000000a1', kind: 'server', status: 503, reason: 'app-unavailable', peerIdentity: 'spiffe://m/ns/shop/sa/web' }),
    httpSpan({ ...common, spanId: '00000000000000a3', parentSpanId: '00000000000000a2', kind: 'server', status: 200, protocol: '2', grpcStatus: 0, target: '/shop.Pay/Charge' }),
  ];
}

test('what the exporter sends over a real socket, the receiver reads back unchanged', async () => {
  const receiver = new OtlpTraceReceiver();
  const results: ReceiveResult[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      results.push(receiver.parseJson(Buffer.concat(chunks)));
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const exporter = new OtlpHttpExporter({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    resource: { attributes: { 'service.name': 'payments' }, scopeName: 'trellis-proxy' },
    flushIntervalMs: 60_000,
  });
  const sent = spans();
  for (const s of sent) exporter.export(s);
  await exporter.shutdown();
  await new Promise<void>((resolve) => server.close(() => resolve()));

  assert.equal(results.length, 1);
  const r = results[0]!;
  assert.ok(r.ok);
  assert.equal(r.rejected, 0);
  assert.deepEqual(r.spans, sent.map((s) => ({ ...s, service: 'payments' })));
});

const receiver = new OtlpTraceReceiver({ maxBodyBytes: 64 * 1024, maxSpans: 10, maxAttributes: 4, maxStringLength: 64 });

function request(rawSpans: unknown[], service: unknown = 'web'): unknown {
  return { resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] }, scopeSpans: [{ scope: { name: 'x' }, spans: rawSpans }] }] };
}

const good = {
  traceId: TRACE.toUpperCase(), // OTLP JSON ids are case-insensitive
  spanId: '00F067AA0BA902B7',
  parentSpanId: '',
  name: 'GET /',
  kind: 2,
  startTimeUnixNano: 1_000, // numbers are accepted for 64-bit fields too
  endTimeUnixNano: '2000',
  attributes: [
    { key: 'a', value: { intValue: 7 } },
    { key: 'b', value: { arrayValue: { values: [] } } }, // not kept
    { key: 'c', value: { doubleValue: 1.5 } },
  ],
  status: { code: 2, message: 'boom' },
  events: [{ name: 'ignored' }],
};

test('receiver: ids lower-cased, numeric forms accepted, unsupported values skipped', () => {
  const r = receiver.parse(request([good]));
  assert.ok(r.ok);
  assert.deepEqual(r.spans, [
    {
      service: 'web',
      traceId: TRACE,
      spanId: '00f067aa0ba902b7',
      parentSpanId: undefined,
      name: 'GET /',
      kind: 'server',
      startNs: 1000n,
      endNs: 2000n,
      attributes: { a: 7, c: 1.5 },
      status: 'error',
      statusMessage: 'boom',
    },
  ]);
  // no service.name: unknown_service (as OpenTelemetry SDKs name it)
  const anon = receiver.parse({ resourceSpans: [{ scopeSpans: [{ spans: [{ ...good, kind: undefined, status: undefined }] }] }] });
  assert.ok(anon.ok);
  assert.equal(anon.spans[0]!.service, 'unknown_service');
  assert.equal(anon.spans[0]!.kind, 'internal');
  assert.equal(anon.spans[0]!.status, 'unset');
});

test('receiver: a malformed span is skipped and counted; its neighbours are kept', () => {
  const bad: unknown[] = [
    { ...good, traceId: '0'.repeat(32) },
    { ...good, spanId: 'xyz' },
    { ...good, parentSpanId: '123' },
    { ...good, name: 'n'.repeat(65) },
    { ...good, kind: 9 },
    { ...good, startTimeUnixNano: '3000' }, // ends before it starts
    { ...good, startTimeUnixNano: '-1' },
    { ...good, attributes: [1, 2, 3, 4, 5].map((i) => ({ key: `k${i}`, value: { stringValue: 'v' } })) },
    'not an object',
  ];
  const r = receiver.parse(request([...bad, good]));
  assert.ok(r.ok);
  assert.equal(r.rejected, bad.length);
  assert.equal(r.spans.length, 1);
});

test('receiver: malformed or oversized requests are refused whole, without throwing', () => {
  const refused: [unknown, RegExp][] = [
    [null, /invalid/],
    [{ resourceSpans: 'x' }, /resourceSpans/],
    [{ resourceSpans: [{ scopeSpans: [{ spans: 'x' }] }] }, /spans/],
    [request(Array.from({ length: 11 }, () => good)), /11 spans .* limit of 10/],
  ];
  for (const [body, error] of refused) {
    const r = receiver.parse(body);
    assert.equal(r.ok, false);
    assert.match((r as { error: string }).error, error);
  }
  const notJson = receiver.parseJson('{"resourceSpans": [');
  assert.equal(notJson.ok, false);
  const big = receiver.parseJson(Buffer.alloc(64 * 1024 + 1, 0x20));
  assert.equal(big.ok, false);
  assert.match((big as { error: string }).error, /over the limit/);
  // an empty request is valid (OTLP allows it)
  assert.deepEqual(receiver.parse({}), { ok: true, spans: [], rejected: 0 });
});

test('encodeTraces output parses into the same spans; a span over the attribute limit is rejected', () => {
  const sent = spans();
  const body = JSON.stringify(encodeTraces({ attributes: { 'service.name': 's' }, scopeName: 'x' }, sent.slice(0, 1)));
  const r = new OtlpTraceReceiver().parseJson(body);
  assert.ok(r.ok);
  assert.deepEqual(r.spans, [{ ...sent[0]!, service: 's' }]);
  // seven attributes, the limit is four
  assert.deepEqual(receiver.parseJson(body), { ok: true, spans: [], rejected: 1 });
});
