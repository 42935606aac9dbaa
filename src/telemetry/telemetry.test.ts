import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAccessLog } from './access-log.js';
import { ProxyMetrics, SeriesBudget } from './metrics.js';

test('access log off is disabled and writes nothing', async () => {
  const log = createAccessLog('off');
  assert.equal(log.enabled, false);
  log.write({ direction: 'inbound', listener: 'x', protocol: 'http', bytesIn: 0, bytesOut: 0, durationMs: 0, startedAt: 0 });
  await log.close();
});

test('access log to a file: one JSON line per record', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-al-'));
  try {
    const path = join(dir, 'sub', 'access.log');
    const log = createAccessLog(path);
    log.write({ direction: 'outbound', listener: 'b', protocol: 'http', method: 'GET', target: '/x', status: 503, reason: 'no-endpoints', bytesIn: 0, bytesOut: 12, durationMs: 1.5, startedAt: 0 });
    log.write({ direction: 'inbound', listener: 't', protocol: 'tcp', peerIdentity: 'spiffe://a/ns/b/sa/c', bytesIn: 3, bytesOut: 4, durationMs: 2, startedAt: 1000 });
    await log.close();
    const lines = (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 2);
    assert.equal(lines[0]?.time, '1970-01-01T00:00:00.000Z');
    assert.equal(lines[0]?.reason, 'no-endpoints');
    assert.equal(lines[0]?.level, undefined);
    assert.equal(lines[1]?.peerIdentity, 'spiffe://a/ns/b/sa/c');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('metrics: golden request counters, histogram, retries and proxy gauges in the exposition', async () => {
  const m = new ProxyMetrics();
  const src = { namespace: 'default', workload: 'a', serviceAccount: 'a' };
  const r = m.requestRecorder('outbound', src, { namespace: 'default', service: 'b' }, new SeriesBudget());
  const rec = { method: 'GET', status: 200, reason: undefined, durationMs: 10 };
  r.record(rec);
  r.record({ ...rec, durationMs: 3 });
  r.record({ ...rec, status: 503, reason: 'no-endpoints', durationMs: 200 });
  r.record({ ...rec, method: 'BREW', status: 0, durationMs: 100 });
  r.record({ ...rec, route: 'default/r1', retries: 2 });
  m.setConfigVersion(7);
  m.setClusterEndpoints(new Map([['default/b:http', 2]]));
  m.setCertificateExpiry(new Date(2_000_000_000_000));
  const text = await m.text();
  const base = 'direction="outbound",src_namespace="default",src_workload="a",src_service_account="a",dst_namespace="default",dst_service="b"';
  assert.ok(text.includes(`trellis_requests_total{${base},route="",method="GET",status_code="200",grpc_status="",reason=""} 2\n`), text);
  assert.ok(text.includes(`trellis_requests_total{${base},route="",method="GET",status_code="503",grpc_status="",reason="no-endpoints"} 1\n`));
  assert.ok(text.includes(`trellis_requests_total{${base},route="",method="other",status_code="0",grpc_status="",reason=""} 1\n`));
  assert.ok(text.includes(`trellis_requests_total{${base},route="default/r1",method="GET",status_code="200",grpc_status="",reason=""} 1\n`));
  assert.ok(text.includes(`trellis_retries_total{${base},route="default/r1"} 2\n`));
  assert.ok(text.includes(`trellis_retries_total{${base},route=""} 0\n`));
  // 3 ms and 10 ms: in le=0.01 (10 ms is not above the bound) but only one in le=0.005.
  const ok = `${base},route="",method="GET",status_code="200",grpc_status="",reason=""`;
  assert.ok(text.includes(`trellis_request_duration_seconds_bucket{${ok},le="0.001"} 0\n`));
  assert.ok(text.includes(`trellis_request_duration_seconds_bucket{${ok},le="0.005"} 1\n`));
  assert.ok(text.includes(`trellis_request_duration_seconds_bucket{${ok},le="0.01"} 2\n`));
  assert.ok(text.includes(`trellis_request_duration_seconds_bucket{${ok},le="+Inf"} 2\n`));
  assert.ok(text.includes(`trellis_request_duration_seconds_count{${ok}} 2\n`));
  const sum = new RegExp(`trellis_request_duration_seconds_sum\\{${ok.replace(/[/]/g, '\\/')}\\} (\\S+)\\n`).exec(text)?.[1];
  assert.ok(Math.abs(Number(sum) - 0.013) < 1e-12, `sum ${sum}`);
  assert.match(text, /# TYPE trellis_request_duration_seconds histogram/);
  assert.match(text, /trellis_config_version 7/);
  assert.match(text, /trellis_cluster_endpoints\{cluster="default\/b:http"\} 2/);
  assert.match(text, /trellis_certificate_expiry_timestamp_seconds 2000000000/);
});

test('metrics: circuit-breaker and endpoint gauges are read at scrape time', async () => {
  const m = new ProxyMetrics();
  let active = 3;
  m.setClusterGauges(() => [
    {
      cluster: 'default/b:http',
      activeRequests: active,
      openConnections: 2,
      pendingRequests: 1,
      endpoints: [
        { endpoint: 'b/0', ejected: true, healthy: true },
        { endpoint: 'b/1', ejected: false, healthy: false },
      ],
    },
  ]);
  let text = await m.text();
  assert.ok(text.includes('trellis_cluster_requests_active{cluster="default/b:http"} 3\n'));
  assert.ok(text.includes('trellis_cluster_connections_open{cluster="default/b:http"} 2\n'));
  assert.ok(text.includes('trellis_cluster_requests_pending{cluster="default/b:http"} 1\n'));
  assert.ok(text.includes('trellis_endpoint_ejected{cluster="default/b:http",endpoint="b/0"} 1\n'));
  assert.ok(text.includes('trellis_endpoint_ejected{cluster="default/b:http",endpoint="b/1"} 0\n'));
  assert.ok(text.includes('trellis_endpoint_healthy{cluster="default/b:http",endpoint="b/0"} 1\n'));
  assert.ok(text.includes('trellis_endpoint_healthy{cluster="default/b:http",endpoint="b/1"} 0\n'));
  active = 0;
  text = await m.text();
  assert.ok(text.includes('trellis_cluster_requests_active{cluster="default/b:http"} 0\n'));
});
