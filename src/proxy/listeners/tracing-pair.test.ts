import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ProxySnapshot } from '../../api/snapshot.js';
import { createAccessLog } from '../../telemetry/access-log.js';
import type { ProxyRuntime } from '../runtime.js';
import { startCollector } from '../tracing/test-collector.js';
import type { Collector } from '../tracing/test-collector.js';
import { bootstrap, cluster, endpoint, id, portOf, runtime, snapshot, testPki } from '../testing/fixtures.js';
import type { TestPki } from '../testing/fixtures.js';

// Two real proxies over mTLS with tracing from their snapshots: the caller's outbound proxy
// records a client span, the callee's inbound proxy a server span whose parent it is, the app
// sees the server span as its parent, and both access logs carry the trace id.

const CLUSTER = 'default/backend:http';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
let pki: TestPki;
let app: http.Server;
let appSaw: http.IncomingHttpHeaders[] = [];
let server: ProxyRuntime; // backend's proxy (inbound)
let client: ProxyRuntime; // frontend's proxy (outbound)
let collector: Collector;
let clientLog: string;
let clientSnap: ProxySnapshot;

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  pki = await testPki();
  collector = await startCollector();
  app = http.createServer((req, res) => {
    appSaw.push(req.headers);
    res.end('ok');
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as AddressInfo).port;
  const tracing = { endpoint: collector.url, samplingRatio: 1 };
  const exporter = { flushIntervalMs: 60_000 };
  server = await runtime(
    pki,
    bootstrap(id('backend'), [{ name: 'http', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: appPort } }], []),
    { tracing: { exporter } },
  );
  assert.equal(server.applySnapshot({ ...snapshot(1, pki, []), tracing }), null);
  await server.startListeners();
  clientLog = join(pki.dir, 'client-access.log');
  client = await runtime(
    pki,
    bootstrap(id('frontend'), [], [{ name: 'backend', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, cluster: CLUSTER }]),
    { tracing: { exporter }, accessLog: createAccessLog(clientLog) },
  );
  clientSnap = { ...snapshot(1, pki, [cluster(CLUSTER, 'http', [endpoint(portOf(server, 'http', 'inbound'), id('backend'))])]), tracing };
  assert.equal(client.applySnapshot(clientSnap), null);
  await client.startListeners();
});

after(async () => {
  client.close();
  server.close();
  await new Promise((r) => app.close(r));
  app.closeAllConnections();
  await collector.close();
  await pki.cleanup();
});

test('a request through outbound and inbound proxies makes a chained client and server span', async () => {
  appSaw = [];
  assert.equal(await get(portOf(client, 'backend', 'outbound'), '/hello?q=1', { traceparent: `00-${TRACE}-${PARENT}-01` }), 200);
  await client.flushTraces();
  await server.flushTraces();
  const spans = await collector.waitFor(2);
  const clientSpan = spans.find((s) => s.kind === 3)!;
  const serverSpan = spans.find((s) => s.kind === 2)!;
  assert.equal(clientSpan.traceId, TRACE);
  assert.equal(clientSpan.parentSpanId, PARENT);
  assert.equal(serverSpan.traceId, TRACE);
  assert.equal(serverSpan.parentSpanId, clientSpan.spanId);
  assert.equal(appSaw[0]!.traceparent, `00-${TRACE}-${serverSpan.spanId}-01`);
  assert.equal(clientSpan.name, 'GET backend');
  assert.equal(clientSpan.attributes['server.address'], 'backend');
  assert.equal(clientSpan.attributes['trellis.peer.identity'], id('backend'));
  assert.equal(serverSpan.name, 'GET s'); // the inbound proxy's own service (fixtures name it "s")
  assert.equal(serverSpan.attributes['trellis.peer.identity'], id('frontend'));
  assert.equal(serverSpan.resource['trellis.identity'], id('backend'));
  assert.equal(clientSpan.resource['trellis.identity'], id('frontend'));
  // The access log line carries the trace (the client runtime's log is a real file).
  await client.accessLog.close();
  const line = JSON.parse((await readFile(clientLog, 'utf8')).trim().split('\n')[0]!) as Record<string, unknown>;
  assert.equal(line.traceId, TRACE);
  assert.equal(line.spanId, clientSpan.spanId);
});

test('a snapshot with a new endpoint switches exporters; one without tracing turns it off', async () => {
  const second = await startCollector();
  try {
    const port = portOf(client, 'backend', 'outbound');
    assert.equal(client.applySnapshot({ ...clientSnap, version: 2, tracing: { endpoint: second.url, samplingRatio: 1 } }), null);
    await get(port, '/two');
    await client.flushTraces();
    const spans = await second.waitFor(1);
    assert.equal(spans[0]!.attributes['url.path'], '/two');
    assert.equal(spans[0]!.kind, 3);

    assert.equal(client.applySnapshot({ ...clientSnap, version: 3, tracing: undefined }), null);
    appSaw = [];
    await get(port, '/three', { traceparent: `00-${TRACE}-${PARENT}-01` });
    await client.flushTraces();
    assert.equal(second.spans.length, 1);
    assert.equal(client.tracer.enabled, false);
    // The inbound proxy still traces: the app sees its span, a child of the caller's own header.
    assert.match(String(appSaw[0]!.traceparent), new RegExp(`^00-${TRACE}-(?!${PARENT})[0-9a-f]{16}-01$`));
  } finally {
    await second.close();
  }
});

test('an invalid tracing section is refused (NACK) and the running one kept', () => {
  const bad = client.applySnapshot({ ...clientSnap, version: 4, tracing: { endpoint: 'ftp://x', samplingRatio: 1 } });
  assert.match(bad ?? '', /tracing\.endpoint/);
  assert.match(client.applySnapshot({ ...clientSnap, version: 4, tracing: { endpoint: collector.url, samplingRatio: 2 } }) ?? '', /tracing\.samplingRatio/);
  assert.equal(client.version, 3);
});
