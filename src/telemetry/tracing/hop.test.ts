import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { extract, extractFromRecord, TRACE_HEADERS } from './context.js';
import { OtlpHttpExporter } from './exporter.js';
import { beginHop, hopHeaders } from './hop.js';
import { createIdGenerator } from './ids.js';
import { OtlpTraceReceiver } from './receiver.js';
import { parentBasedSampler } from './sampler.js';
import { httpSpan } from './span.js';
import { TraceStore } from './trace-store.js';

/** Deterministic, distinct ids: every 8 bytes are a marker and a running counter. */
function countingIds() {
  let n = 0;
  return createIdGenerator((buf) => {
    for (let off = 0; off < buf.length; off += 8) {
      buf.writeUInt32BE(0x7ace0000, off);
      buf.writeUInt32BE(++n, off + 4);
    }
  });
}

const always = parentBasedSampler(1);
const never = parentBasedSampler(0);

test('a hop continues the caller trace and writes W3C plus the caller B3 form', () => {
  const ids = countingIds();
  const b3only = ['x-b3-traceid', 'a3ce929d0e0e4736', 'x-b3-spanid', '00f067aa0ba902b7', 'x-b3-sampled', '1'];
  const hop = beginHop(extract(b3only), never, ids);
  assert.equal(hop.traceId, '0000000000000000a3ce929d0e0e4736');
  assert.equal(hop.parentSpanId, '00f067aa0ba902b7');
  assert.equal(hop.sampled, true); // the caller decided
  const out = hopHeaders(hop);
  assert.deepEqual(out, [
    'traceparent', `00-${hop.traceId}-${hop.spanId}-01`,
    'x-b3-traceid', hop.traceId, 'x-b3-spanid', hop.spanId, 'x-b3-parentspanid', '00f067aa0ba902b7', 'x-b3-sampled', '1',
  ]);
  // a W3C-only next hop and a B3-only next hop both see the same trace, with this hop as parent
  assert.equal(extract(out.slice(0, 2))?.traceId, hop.traceId);
  assert.equal(extract(out.slice(2))?.parentSpanId, hop.spanId);
});

test('no context: a new trace, sampled by ratio; a decision-only caller is honoured', () => {
  const ids = countingIds();
  const fresh = beginHop(extract([]), always, ids);
  assert.match(fresh.traceId, /^[0-9a-f]{32}$/);
  assert.equal(fresh.parentSpanId, undefined);
  assert.equal(fresh.sampled, true);
  assert.deepEqual(hopHeaders(fresh), ['traceparent', `00-${fresh.traceId}-${fresh.spanId}-01`]);
  const denied = beginHop(extract(['b3', '0']), always, ids);
  assert.equal(denied.sampled, false);
  assert.notEqual(denied.traceId, fresh.traceId);
  assert.deepEqual(hopHeaders(denied).slice(2), ['b3', `${denied.traceId}-${denied.spanId}-0`]);
});

test('three hops over real sockets: one trace, parents chained, spans exported and stored', async () => {
  const ids = countingIds();
  const sampler = parentBasedSampler(1);
  const store = new TraceStore(100);
  const receiver = new OtlpTraceReceiver();
  const collector = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = receiver.parseJson(Buffer.concat(chunks));
      if (r.ok) store.addAll(r.spans);
      res.end('{}');
    });
  });
  const servers: http.Server[] = [collector];
  const listen = async (s: http.Server) => {
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return (s.address() as AddressInfo).port;
  };
  const exporter = new OtlpHttpExporter({ endpoint: `http://127.0.0.1:${await listen(collector)}`, resource: { attributes: { 'service.name': 'mesh' }, scopeName: 'trellis-proxy' }, flushIntervalMs: 60_000 });

  const seenAtApp: (string | undefined)[] = [];
  const app = http.createServer((req, res) => {
    seenAtApp.push(req.headers.traceparent as string | undefined, req.headers['x-b3-traceid'] as string | undefined);
    res.end('ok');
  });
  servers.push(app);
  let next = await listen(app);
  // Each "proxy" continues the trace and forwards to the next, recording one server span (the
  // outermost, i = 2, starts first).
  for (let i = 0; i < 3; i++) {
    const upstream = next;
    const proxy = http.createServer((req, res) => {
      const hop = beginHop(extractFromRecord(req.headers), sampler, ids);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (!TRACE_HEADERS.has(k) && typeof v === 'string') headers[k] = v;
      const add = hopHeaders(hop);
      for (let j = 0; j < add.length; j += 2) headers[add[j]!] = add[j + 1]!;
      http.get({ host: '127.0.0.1', port: upstream, path: req.url, headers }, (up) => {
        up.resume();
        up.on('end', () => {
          res.end();
          if (hop.sampled) {
            exporter.export(httpSpan({ ...hop, kind: 'server', startNs: BigInt(2 - i), endNs: BigInt(10 + i), method: 'GET', target: req.url ?? '/', host: req.headers.host, status: up.statusCode ?? 0, protocol: '1.1' }));
          }
        });
      });
    });
    servers.push(proxy);
    next = await listen(proxy);
  }
  // The first caller speaks B3 only.
  const callerTrace = '0af7651916cd43dd8448eb211c80319c';
  await new Promise<void>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: next, path: '/x', headers: { 'x-b3-traceid': callerTrace, 'x-b3-spanid': 'b7ad6b7169203331', 'x-b3-sampled': '1' } }, (res) => {
      res.resume();
      res.on('end', resolve);
    }).on('error', reject);
  });
  await exporter.shutdown();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  const spans = store.trace(callerTrace);
  assert.equal(spans.length, 3);
  assert.equal(spans[0]!.parentSpanId, 'b7ad6b7169203331');
  assert.equal(spans[1]!.parentSpanId, spans[0]!.spanId);
  assert.equal(spans[2]!.parentSpanId, spans[1]!.spanId);
  // the app sees both forms, with the last proxy's span as parent
  assert.equal(seenAtApp[0], `00-${callerTrace}-${spans[2]!.spanId}-01`);
  assert.equal(seenAtApp[1], callerTrace);
  assert.equal(store.recent()[0]!.spanCount, 3);
});
