import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAccessLog } from './access-log.js';
import { ProxyMetrics } from './metrics.js';

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

test('metrics: pre-bound request counters by status class, histogram, gauges', async () => {
  const m = new ProxyMetrics();
  const r = m.requestMetrics('outbound', 'b', 'default/b:http');
  r.record(200, 0.01);
  r.record(204, 0.01);
  r.record(503, 0.2);
  r.record(0, 0.1);
  m.setConfigVersion(7);
  m.setClusterEndpoints(new Map([['default/b:http', 2]]));
  m.setCertificateExpiry(new Date(2_000_000_000_000));
  const text = await m.text();
  assert.match(text, /trellis_requests_total\{direction="outbound",listener="b",cluster="default\/b:http",status_class="2xx"\} 2/);
  assert.match(text, /status_class="5xx"\} 1/);
  assert.match(text, /status_class="none"\} 1/);
  assert.match(text, /trellis_request_duration_seconds_count\{direction="outbound",listener="b",cluster="default\/b:http"\} 4/);
  assert.match(text, /trellis_config_version 7/);
  assert.match(text, /trellis_cluster_endpoints\{cluster="default\/b:http"\} 2/);
  assert.match(text, /trellis_certificate_expiry_timestamp_seconds 2000000000/);
});
