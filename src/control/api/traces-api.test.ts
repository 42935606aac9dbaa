import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { TraceSummaryView, TraceView } from '../../api/traces.js';
import { httpSpan, OtlpHttpExporter } from '../../telemetry/tracing/index.js';
import { runCli } from '../../cli/run.js';
import type { ControlPlane } from '../control-plane.js';
import { agentReport, api, startControlPlane, tempDir, useControlPlane, workload } from '../test-support.js';

const fixture = useControlPlane();
/** The file's control plane (started in before()). */
const cpOf = (): ControlPlane => fixture.cp;

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const T0 = 1_700_000_000_000_000_000n;

function post(body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }, method = 'POST'): Promise<{ status: number; json: unknown }> {
  return fetch(`${cpOf().apiUrl}/v1/traces`, { method, headers, body: method === 'GET' ? undefined : body }).then(async (r) => ({ status: r.status, json: JSON.parse(await r.text()) as unknown }));
}

/** A minimal valid ExportTraceServiceRequest with the given spans of service `svc`. */
function request(svc: string, spans: unknown[]): string {
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: svc } }] }, scopeSpans: [{ spans }] }] });
}

function span(traceId: string, spanId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { traceId, spanId, name: 'GET', kind: 2, startTimeUnixNano: '1700000000000000000', endTimeUnixNano: '1700000000001000000', ...extra };
}

test('snapshots point proxies at this control plane\'s /v1/traces, sampling 1% by default', async () => {
  const report = agentReport('a1', [workload('front', { upstreams: ['default/web:http'], readyPorts: [23000] }), workload('web', { readyPorts: [23001] })]);
  assert.equal((await api(cpOf(), 'PUT', '/api/v1/agents/a1', report)).status, 200);
  for (const node of ['default/front/0', 'default/web/0']) {
    assert.deepEqual(cpOf().snapshot(node)?.snapshot.tracing, { endpoint: `${cpOf().apiUrl}/v1/traces`, samplingRatio: 0.01, controlPlane: true }, node);
  }
  const viaApi = await api(cpOf(), 'GET', `/api/v1/proxies/${encodeURIComponent('default/front/0')}/snapshot`);
  assert.deepEqual((viaApi.json as { snapshot: { tracing: unknown } }).snapshot.tracing, { endpoint: `${cpOf().apiUrl}/v1/traces`, samplingRatio: 0.01, controlPlane: true });
});

test('spans exported by OtlpHttpExporter come back as a recent trace and as its spans', async () => {
  const exporters = ['front', 'web'].map(
    (service) => new OtlpHttpExporter({ endpoint: cpOf().apiUrl, resource: { attributes: { 'service.name': service }, scopeName: 'trellis-proxy' }, flushIntervalMs: 60_000 }),
  );
  const [front, web] = exporters as [OtlpHttpExporter, OtlpHttpExporter];
  const common = { traceId: TRACE, method: 'GET', target: '/items?secret=1', host: 'web:80', protocol: '1.1' as const };
  front.export(httpSpan({ ...common, spanId: '00f067aa0ba902b7', parentSpanId: undefined, kind: 'client', startNs: T0, endNs: T0 + 5_000_000n, status: 503, reason: 'upstream-reset' }));
  web.export(httpSpan({ ...common, spanId: '00f067aa0ba902b8', parentSpanId: '00f067aa0ba902b7', kind: 'server', startNs: T0 + 1_000_000n, endNs: T0 + 4_000_000n, status: 503 }));
  await Promise.all(exporters.map((e) => e.shutdown()));
  for (const e of exporters) assert.deepEqual(e.stats(), { queued: 0, exported: 1, dropped: 0, failedRequests: 0 });

  const list = await api(cpOf(), 'GET', '/api/v1/traces?limit=10');
  assert.equal(list.status, 200);
  const summaries = list.json as TraceSummaryView[];
  assert.deepEqual(
    summaries.find((t) => t.traceId === TRACE),
    {
      traceId: TRACE,
      rootName: 'GET',
      rootService: 'front',
      services: ['front', 'web'],
      spanCount: 2,
      startTimeUnixNano: T0.toString(),
      startMs: 1_700_000_000_000,
      durationMs: 5,
      error: true,
    },
  );

  const one = await api(cpOf(), 'GET', `/api/v1/traces/${TRACE.toUpperCase()}`);
  assert.equal(one.status, 200);
  const view = one.json as TraceView;
  assert.equal(view.traceId, TRACE);
  assert.deepEqual(
    view.spans.map((s) => [s.service, s.kind, s.spanId, s.parentSpanId, s.startTimeUnixNano, s.durationMs, s.status]),
    [
      ['front', 'client', '00f067aa0ba902b7', undefined, T0.toString(), 5, 'error'],
      ['web', 'server', '00f067aa0ba902b8', '00f067aa0ba902b7', (T0 + 1_000_000n).toString(), 3, 'error'],
    ],
  );
  const client = view.spans[0]!;
  assert.equal(client.statusMessage, 'upstream-reset');
  assert.equal(client.endTimeUnixNano, (T0 + 5_000_000n).toString());
  assert.equal(client.attributes['url.path'], '/items', 'no query string');
  assert.equal(client.attributes['http.response.status_code'], 503);
});

async function counter(name: string): Promise<number> {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec((await cpOf().metricsText()).body);
  return Number(m?.[1] ?? NaN);
}

test('a malformed span is skipped and reported as OTLP partial success; its neighbours are kept', async () => {
  const id = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1';
  const [received, rejected] = [await counter('trellis_control_spans_received_total'), await counter('trellis_control_spans_rejected_total')];
  const r = await post(request('shop', [span(id, '1111111111111111'), span('0'.repeat(32), '2222222222222222'), span(id, '3333333333333333', { endTimeUnixNano: '1' })]));
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, { partialSuccess: { rejectedSpans: '2', errorMessage: '2 malformed span(s) skipped (bad ids, times or fields)' } });
  assert.deepEqual((await post(request('shop', [span(id, '4444444444444444')]))).json, { partialSuccess: {} });
  const t = (await api(cpOf(), 'GET', `/api/v1/traces/${id}`)).json as TraceView;
  assert.deepEqual(t.spans.map((s) => s.spanId).sort(), ['1111111111111111', '4444444444444444']);
  assert.equal(await counter('trellis_control_spans_received_total'), received + 2);
  assert.equal(await counter('trellis_control_spans_rejected_total'), rejected + 2);
});

test('gzip bodies are accepted', async () => {
  const id = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2';
  const r = await post(gzipSync(request('gz', [span(id, '1111111111111111')])), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
  assert.equal(r.status, 200);
  assert.equal(((await api(cpOf(), 'GET', `/api/v1/traces/${id}`)).json as TraceView).spans[0]?.service, 'gz');
});

test('bad requests are refused with the right status and a google.rpc.Status body, and keep nothing', async () => {
  const before = cpOf().traces.store.spanCount;
  const refused = await counter('trellis_control_trace_requests_refused_total');
  const good = request('x', [span('cccccccccccccccccccccccccccccccc', '1111111111111111')]);
  const cases: [string, Promise<{ status: number; json: unknown }>, number, RegExp][] = [
    ['protobuf', post(Buffer.from([0x0a, 0x00]), { 'content-type': 'application/x-protobuf' }), 415, /OTLP\/protobuf is not supported/],
    ['text/plain', post(good, { 'content-type': 'text/plain' }), 415, /content-type "text\/plain" is not supported/],
    ['brotli', post(good, { 'content-type': 'application/json', 'content-encoding': 'br' }), 415, /content-encoding "br"/],
    ['not JSON', post('{"resourceSpans": [', { 'content-type': 'application/json; charset=utf-8' }), 400, /not JSON/],
    ['wrong envelope', post('{"resourceSpans": {}}'), 400, /invalid ExportTraceServiceRequest at resourceSpans/],
    ['bad gzip', post(Buffer.from('not gzip'), { 'content-type': 'application/json', 'content-encoding': 'gzip' }), 400, /not valid gzip/],
    ['too large', post(Buffer.alloc(4 * 1024 * 1024 + 1, 0x20)), 413, /over the limit of 4194304 bytes/],
    ['too large once unzipped', post(gzipSync(Buffer.alloc(4 * 1024 * 1024 + 1, 0x20)), { 'content-type': 'application/json', 'content-encoding': 'gzip' }), 413, /decompressed/],
    ['GET', post('', {}, 'GET'), 405, /export spans with POST/],
  ];
  for (const [what, p, status, message] of cases) {
    const r = await p;
    assert.equal(r.status, status, what);
    const body = r.json as { code: number; message: string };
    assert.equal(body.code, 3, what);
    assert.match(body.message, message, what);
  }
  assert.equal(cpOf().traces.store.spanCount, before);
  assert.equal(await counter('trellis_control_trace_requests_refused_total'), refused + 2, 'not JSON and wrong envelope reach the parser');
});

test('trace reads: limit checked, unknown or malformed ids are 404', async () => {
  for (const bad of ['0', '1001', 'ten', '-1']) assert.equal((await api(cpOf(), 'GET', `/api/v1/traces?limit=${bad}`)).status, 400, bad);
  const one = (await api(cpOf(), 'GET', '/api/v1/traces?limit=1')).json as TraceSummaryView[];
  assert.equal(one.length, 1);
  const all = (await api(cpOf(), 'GET', '/api/v1/traces')).json as TraceSummaryView[];
  assert.ok(all.length >= 3);
  assert.equal(all[0]?.traceId, one[0]?.traceId, 'newest first');
  for (const id of ['dddddddddddddddddddddddddddddddd', 'nothex', TRACE.slice(1)]) {
    const r = await api(cpOf(), 'GET', `/api/v1/traces/${id}`);
    assert.equal(r.status, 404, id);
    assert.equal((r.json as { error: { code: string } }).error.code, 'TRELLIS_E_NOT_FOUND');
  }
});

test('trellis get traces lists them; with an id it shows the span tree', async () => {
  const run = async (argv: string[]): Promise<string> => {
    let out = '';
    const code = await runCli(argv, { cwd: '/', env: { TRELLIS_TOKEN: cpOf().readToken }, out: (t) => void (out += t), err: () => {} });
    assert.equal(code, 0, argv.join(' '));
    return out;
  };
  const list = await run(['get', 'traces', '--control-plane', cpOf().apiUrl]);
  assert.match(list, /^TRACE\s+ROOT\s+SERVICES\s+SPANS\s+DURATION\s+ERROR\s+STARTED/);
  assert.match(list, new RegExp(`${TRACE}\\s+front GET\\s+front,web\\s+2\\s+5\\.00ms\\s+yes`));
  const tree = (await run(['get', 'traces', TRACE, '--control-plane', cpOf().apiUrl])).split('\n');
  assert.match(tree[1] ?? '', /^GET\s+front\s+client\s+\+0\.00ms\s+5\.00ms\s+error \(upstream-reset\)/);
  assert.match(tree[2] ?? '', /^ {2}GET\s+web\s+server\s+\+1\.00ms\s+3\.00ms\s+error/);
});

test('tracing: null leaves it out of snapshots; a collector replaces the control plane as the endpoint', async () => {
  const report = agentReport('a1', [workload('front', { upstreams: ['default/web:http'], readyPorts: [23000] }), workload('web', { readyPorts: [23001] })]);
  for (const [tracing, expected] of [
    [null, undefined],
    [{ samplingRatio: 0.5, collector: 'http://127.0.0.1:4318/v1/traces' }, { endpoint: 'http://127.0.0.1:4318/v1/traces', samplingRatio: 0.5 }],
  ] as const) {
    const t = await tempDir();
    const other = await startControlPlane(t.dir, { tracing });
    try {
      assert.equal((await api(other, 'PUT', '/api/v1/agents/a1', report)).status, 200);
      const snap = other.snapshot('default/front/0')?.snapshot;
      assert.ok(snap !== undefined);
      assert.deepEqual(snap.tracing, expected);
      assert.equal('tracing' in snap, expected !== undefined);
    } finally {
      await other.close();
      await t.cleanup();
    }
  }
});
