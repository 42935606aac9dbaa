import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { CertificateAuthority } from '../../identity/ca.js';
import { controlPlaneSpiffeId, controlPlaneTlsOptions } from '../../identity/control-plane-tls.js';
import { generateKeyAndCsr } from '../../identity/keys.js';
import { OtlpHttpExporter, type OtlpExporterOptions } from './exporter.js';
import type { OtlpTracesRequest } from './otlp.js';
import type { SpanRecord } from './span.js';

interface Received {
  path: string;
  contentType: string | undefined;
  body: OtlpTracesRequest;
}

/** A real OTLP/HTTP JSON endpoint on 127.0.0.1 that records what it gets. */
async function collector(answer: (res: http.ServerResponse) => void = (res) => res.end('{}')) {
  const received: Received[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', contentType: req.headers['content-type'], body: JSON.parse(Buffer.concat(chunks).toString()) as OtlpTracesRequest });
      for (const w of waiters) if (received.length >= w.n) w.resolve();
      answer(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    /** Resolves once `n` requests have arrived. */
    requests: (n: number) => new Promise<void>((resolve) => (received.length >= n ? resolve() : waiters.push({ n, resolve }))),
    spanIds: () => received.flatMap((r) => r.body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.spanId)))),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function span(i: number): SpanRecord {
  return {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: (0x1000 + i).toString(16).padStart(16, '0'),
    parentSpanId: i === 0 ? undefined : '0000000000001000',
    name: 'GET',
    kind: i === 0 ? 'server' : 'client',
    startNs: 1_700_000_000_000_000_000n + BigInt(i),
    endNs: 1_700_000_000_001_000_000n,
    attributes: { 'http.request.method': 'GET', 'http.response.status_code': 503, 'trellis.upstream.ok': false, ratio: 0.5 },
    status: 'error',
    statusMessage: 'no-healthy-upstream',
  };
}

function options(url: string, over: Partial<OtlpExporterOptions> = {}): OtlpExporterOptions {
  return {
    endpoint: url,
    resource: { attributes: { 'service.name': 'orders', 'service.namespace': 'shop' }, scopeName: 'trellis-proxy', scopeVersion: '0.1.0' },
    flushIntervalMs: 60_000,
    timeoutMs: 2000,
    ...over,
  };
}

test('full batches go out by themselves, the rest on shutdown, as OTLP JSON to /v1/traces', async () => {
  const c = await collector();
  const exporter = new OtlpHttpExporter(options(c.url, { maxBatchSize: 3 }));
  for (let i = 0; i < 7; i++) exporter.export(span(i));
  await c.requests(2);
  assert.deepEqual(c.received.map((r) => r.body.resourceSpans[0]!.scopeSpans[0]!.spans.length), [3, 3]);
  await exporter.shutdown();
  assert.deepEqual(c.received.map((r) => r.body.resourceSpans[0]!.scopeSpans[0]!.spans.length), [3, 3, 1]);
  assert.deepEqual(exporter.stats(), { queued: 0, exported: 7, dropped: 0, failedRequests: 0 });

  const first = c.received[0]!;
  assert.equal(first.path, '/v1/traces');
  assert.equal(first.contentType, 'application/json');
  assert.deepEqual(first.body.resourceSpans[0]!.resource.attributes, [
    { key: 'service.name', value: { stringValue: 'orders' } },
    { key: 'service.namespace', value: { stringValue: 'shop' } },
  ]);
  assert.deepEqual(first.body.resourceSpans[0]!.scopeSpans[0]!.scope, { name: 'trellis-proxy', version: '0.1.0' });
  assert.deepEqual(first.body.resourceSpans[0]!.scopeSpans[0]!.spans[1], {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '0000000000001001',
    parentSpanId: '0000000000001000',
    name: 'GET',
    kind: 3,
    startTimeUnixNano: '1700000000000000001',
    endTimeUnixNano: '1700000000001000000',
    attributes: [
      { key: 'http.request.method', value: { stringValue: 'GET' } },
      { key: 'http.response.status_code', value: { intValue: '503' } },
      { key: 'trellis.upstream.ok', value: { boolValue: false } },
      { key: 'ratio', value: { doubleValue: 0.5 } },
    ],
    status: { code: 2, message: 'no-healthy-upstream' },
  });
  assert.equal(first.body.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.parentSpanId, undefined);
  assert.equal(first.body.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.kind, 2);

  exporter.export(span(8)); // after shutdown: dropped, not sent
  assert.equal(exporter.stats().dropped, 1);
  await c.close();
});

test('full batches that queue up while a request is in flight go out when it ends', { timeout: 10_000 }, async () => {
  const held: http.ServerResponse[] = [];
  const c = await collector((res) => (held.length === 0 ? held.push(res) : res.end('{}')));
  const exporter = new OtlpHttpExporter(options(c.url, { maxBatchSize: 2 }));
  exporter.export(span(1));
  exporter.export(span(2));
  await c.requests(1);
  exporter.export(span(3));
  exporter.export(span(4));
  held[0]!.end('{}');
  await c.requests(2); // without a kick after the first request, this waits for the 60 s tick
  assert.deepEqual(c.spanIds(), ['0000000000001001', '0000000000001002', '0000000000001003', '0000000000001004']);
  await exporter.shutdown();
  await c.close();
});

test('a partial batch goes out on the flush interval', async () => {
  const c = await collector();
  const exporter = new OtlpHttpExporter(options(`${c.url}/`, { maxBatchSize: 100, flushIntervalMs: 50 }));
  exporter.export(span(1));
  exporter.export(span(2));
  await c.requests(1);
  assert.deepEqual(c.spanIds(), ['0000000000001001', '0000000000001002']);
  assert.equal(c.received[0]!.path, '/v1/traces');
  await exporter.shutdown();
  assert.equal(c.received.length, 1); // nothing left to send
  await c.close();
});

test('a full queue drops the oldest spans and counts them', async () => {
  const c = await collector();
  const exporter = new OtlpHttpExporter(options(`${c.url}/custom/v1/traces`, { maxBatchSize: 2, maxQueueSize: 4 }));
  for (let i = 0; i < 7; i++) exporter.export(span(i));
  assert.equal(exporter.stats().dropped, 3);
  assert.equal(exporter.stats().queued, 4);
  await exporter.shutdown();
  assert.deepEqual(c.spanIds(), ['0000000000001003', '0000000000001004', '0000000000001005', '0000000000001006']);
  assert.deepEqual(exporter.stats(), { queued: 0, exported: 4, dropped: 3, failedRequests: 0 });
  assert.equal(c.received[0]!.path, '/custom/v1/traces');
  await c.close();
});

test('collector down, erroring or silent: spans dropped and counted, nothing thrown', async () => {
  // A port that was just free: connection refused.
  const gone = await collector();
  await gone.close();
  const errors: string[] = [];
  const down = new OtlpHttpExporter(options(gone.url, { maxBatchSize: 2, onError: (m) => errors.push(m) }));
  for (let i = 0; i < 3; i++) down.export(span(i));
  await down.shutdown();
  assert.deepEqual(down.stats(), { queued: 0, exported: 0, dropped: 3, failedRequests: 2 });
  assert.equal(errors.length, 2);
  assert.match(errors[0]!, /2 spans dropped/);

  const failing = await collector((res) => {
    res.statusCode = 500;
    res.end();
  });
  const e500 = new OtlpHttpExporter(options(failing.url, { onError: () => { throw new Error('a logger that throws'); } }));
  e500.export(span(1));
  await e500.shutdown();
  assert.deepEqual(e500.stats(), { queued: 0, exported: 0, dropped: 1, failedRequests: 1 });
  assert.equal(failing.received.length, 1);
  await failing.close();

  const silent = await collector(() => {
    /* never answers */
  });
  const slow = new OtlpHttpExporter(options(silent.url, { timeoutMs: 100 }));
  slow.export(span(1));
  await slow.flush();
  assert.deepEqual(slow.stats(), { queued: 0, exported: 0, dropped: 1, failedRequests: 1 });
  await slow.shutdown();
  await silent.close();
});

test('spans the collector rejects (partial success) are counted as dropped', async () => {
  const c = await collector((res) => res.end(JSON.stringify({ partialSuccess: { rejectedSpans: '1', errorMessage: 'too old' } })));
  const exporter = new OtlpHttpExporter(options(c.url));
  for (let i = 0; i < 3; i++) exporter.export(span(i));
  await exporter.shutdown();
  assert.deepEqual(exporter.stats(), { queued: 0, exported: 2, dropped: 1, failedRequests: 0 });
  await c.close();
});

test('invalid options are refused at construction', () => {
  assert.throws(() => new OtlpHttpExporter(options('ftp://127.0.0.1/')), /http or https/);
  assert.throws(() => new OtlpHttpExporter(options('http://127.0.0.1:1', { maxBatchSize: 0 })), RangeError);
});

test('an exporter with queued spans and a pending timer does not keep the process alive', { timeout: 10_000 }, async (t) => {
  const c = await collector();
  const moduleUrl = new URL('./exporter.js', import.meta.url).href;
  const code = `
    import { OtlpHttpExporter } from ${JSON.stringify(moduleUrl)};
    const e = new OtlpHttpExporter({ endpoint: ${JSON.stringify(c.url)}, resource: { attributes: {}, scopeName: 't' }, flushIntervalMs: 60000, maxBatchSize: 1 });
    e.export({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', parentSpanId: undefined, name: 'x', kind: 'server', startNs: 1n, endNs: 2n, attributes: {}, status: 'unset' });
    e.export({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b8', parentSpanId: undefined, name: 'x', kind: 'server', startNs: 1n, endNs: 2n, attributes: {}, status: 'unset' });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'inherit', 'inherit'] });
  t.after(() => {
    if (child.exitCode === null) child.kill();
  });
  // Fails by the test timeout if the child never exits.
  const exitCode = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(exitCode, 0);
  await c.close();
});

test('an https collector with a certificate from the mesh CA: accepted with the control plane\'s TLS options, refused by default', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-otlp-tls-'));
  const ca = await CertificateAuthority.loadOrCreate(join(dir, 'ca'), 'td.test');
  const id = controlPlaneSpiffeId('td.test');
  const { keyPem, csrPem } = await generateKeyAndCsr(id);
  const issued = await ca.signCsr(csrPem, id, 3600_000);
  let got = 0;
  const server = https.createServer({ key: keyPem, cert: issued.certChainPem.join('\n') }, (req, res) => {
    req.resume();
    req.on('end', () => {
      got++;
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const verified = new OtlpHttpExporter(options(url, { tls: controlPlaneTlsOptions(ca.trustBundlePem()) }));
    verified.export(span(0));
    await verified.flush();
    assert.equal(got, 1);
    assert.equal(verified.stats().exported, 1);
    await verified.shutdown();

    const publicRoots = new OtlpHttpExporter(options(url));
    publicRoots.export(span(1));
    await publicRoots.flush();
    assert.equal(got, 1, 'a certificate public CAs did not issue is refused');
    assert.equal(publicRoots.stats().failedRequests, 1);
    await publicRoots.shutdown();
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  }
});
