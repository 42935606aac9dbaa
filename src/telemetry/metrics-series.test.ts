import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { parsePrometheusText } from './golden/parse.js';
import type { Sample } from './golden/parse.js';
import { clusterGaugeReader } from './cluster-gauges.js';
import type { ClusterGaugeSource, EndpointGaugeView } from './cluster-gauges.js';
import { ProxyMetrics, SeriesBudget } from './metrics.js';
import type { GoldenRecord } from './metrics.js';

/**
 * Issue 9, Part 3.2: after a FaultInjection route ran, a scrape showed the same
 * `trellis_retries_total{...,route="default/<fault-route>"}` twice. Every scrape here is parsed
 * whole, checked for a series (name and label set) appearing twice, and, where Debian's
 * promtool is installed (CI installs prometheus), checked by `promtool check metrics` too.
 */

const PROMTOOL = '/usr/bin/promtool';

/** `name{k="v",...}` of every sample that appears more than once. */
function duplicateSeries(samples: readonly Sample[]): string[] {
  const seen = new Set<string>();
  const dups: string[] = [];
  for (const s of samples) {
    const labels = Object.keys(s.labels)
      .sort()
      .map((k) => `${k}=${JSON.stringify(s.labels[k])}`)
      .join(',');
    const id = `${s.name}{${labels}}`;
    if (seen.has(id)) dups.push(id);
    seen.add(id);
  }
  return dups;
}

async function scrapeChecked(m: ProxyMetrics): Promise<Sample[]> {
  const text = await m.text();
  const samples = parsePrometheusText(text);
  assert.deepEqual(duplicateSeries(samples), [], 'a series appears twice in the scrape');
  if (existsSync(PROMTOOL)) {
    const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `promtool check metrics failed:\n${r.stdout}${r.stderr}`);
  }
  return samples;
}

const web = { namespace: 'default', workload: 'web', serviceAccount: 'web' };
const echo = { namespace: 'default', service: 'echo' };
const ok: GoldenRecord = { method: 'GET', status: 200, reason: undefined, durationMs: 2 };

test('a FaultInjection route: aborted (no backend) and forwarded (the listener cluster) requests are one retries series', async () => {
  const m = new ProxyMetrics();
  const r = m.requestRecorder('outbound', web, echo, new SeriesBudget());
  // The planner's local (aborted) plan names no backend; its forward plan names the listener's own cluster.
  r.record({ ...ok, status: 503, reason: 'fault-injected', route: 'default/faulty' });
  r.record({ ...ok, route: 'default/faulty', backend: 'default/echo:http', retries: 2 });
  r.record({ ...ok, route: 'default/faulty', backend: 'default/echo:http' });
  const samples = await scrapeChecked(m);
  const retries = samples.filter((s) => s.name === 'trellis_retries_total' && s.labels.route === 'default/faulty');
  assert.equal(retries.length, 1);
  assert.equal(retries[0]?.value, 2);
  const forwarded = samples.find((s) => s.name === 'trellis_requests_total' && s.labels.route === 'default/faulty' && s.labels.status_code === '200');
  assert.equal(forwarded?.value, 2);
});

test('two recorders, two ports and two listeners naming the same labels share their series', async () => {
  const m = new ProxyMetrics();
  const toEcho = m.requestRecorder('outbound', web, echo, new SeriesBudget());
  const toOther = m.requestRecorder('outbound', web, { namespace: 'default', service: 'other' }, new SeriesBudget());
  toEcho.record(ok);
  // A route on another listener sends to echo with no route label: same labels as toEcho's plain series.
  toOther.record({ ...ok, backend: 'default/echo:grpc' });
  // Two ports of one service (the port is not a label).
  toEcho.record({ ...ok, route: 'default/split', backend: 'default/echo:http' });
  toEcho.record({ ...ok, route: 'default/split', backend: 'default/echo:admin' });
  const samples = await scrapeChecked(m);
  const plain = samples.filter((s) => s.name === 'trellis_requests_total' && s.labels.dst_service === 'echo' && s.labels.route === '');
  assert.equal(plain.length, 1);
  assert.equal(plain[0]?.value, 2);
  const split = samples.filter((s) => s.name === 'trellis_requests_total' && s.labels.route === 'default/split');
  assert.equal(split.length, 1);
  assert.equal(split[0]?.value, 2);
});

test('label values that collide once written (a reason named "other", lone surrogates, the status-0 overflow) are one series', async () => {
  const m = new ProxyMetrics();
  const budget = new SeriesBudget(100);
  const r = m.requestRecorder('outbound', web, echo, budget);
  // Lone surrogates become U+FFFD on the wire: two different strings, one label value.
  r.record({ ...ok, status: 503, reason: 'bad\uD800' });
  r.record({ ...ok, status: 503, reason: 'bad\uDC00' });
  // Fill the reason table so later reasons fold into "other", and record one literally named so.
  for (let i = 0; i < 70; i++) r.record({ ...ok, status: 502, reason: `reason-${i}` });
  r.record({ ...ok, status: 502, reason: 'other' });
  // A real series with the overflow's labels for status 0: method other, grpc other, reason other.
  r.record({ method: 'BREW', status: 0, reason: 'reason-69', grpcStatus: 99, durationMs: 1 });
  // Spend the budget, then fold status 0 into the overflow: same labels as the series above.
  for (let s = 200; budget.left > 0; s++) r.record({ ...ok, status: s });
  r.record({ ...ok, status: 0, reason: 'late' });
  const samples = await scrapeChecked(m);
  const other = samples.filter((s) => s.name === 'trellis_requests_total' && s.labels.status_code === '502' && s.labels.reason === 'other');
  assert.equal(other.length, 1);
  // 62 reason ids: two went to the surrogate reasons, so reason-60..69 and "other" fold together.
  assert.equal(other[0]?.value, 11);
  const folded = samples.filter((s) => s.name === 'trellis_requests_total' && s.labels.status_code === '0');
  assert.equal(folded.length, 1);
  assert.equal(folded[0]?.value, 2);
  const fffd = samples.filter((s) => s.name === 'trellis_requests_total' && s.labels.reason === 'bad\uFFFD');
  assert.equal(fffd.length, 1);
  assert.equal(fffd[0]?.value, 2);
});

test('route and peer labels with quotes, backslashes and newlines parse back as written', async () => {
  const m = new ProxyMetrics();
  const odd = { namespace: 'a"b', workload: 'c\\d', serviceAccount: 'e\nf' };
  const r = m.requestRecorder('inbound', odd, echo, new SeriesBudget());
  r.record({ ...ok, route: 'x"\\\n' });
  const samples = await scrapeChecked(m);
  const s = samples.find((x) => x.name === 'trellis_requests_total');
  assert.deepEqual([s?.labels.src_namespace, s?.labels.src_workload, s?.labels.src_service_account, s?.labels.route], ['a"b', 'c\\d', 'e\nf', 'x"\\\n']);
});

test('cluster gauges: two endpoints with one <workload>/<replica> (a restart on a new port) are one gauge', async () => {
  const m = new ProxyMetrics();
  const old: EndpointGaugeView = { config: { workload: 'echo', replica: 0 }, health: { healthy: true } };
  const restarted: EndpointGaugeView = { config: { workload: 'echo', replica: 0 }, health: { healthy: false } };
  const source: ClusterGaugeSource = {
    names: () => ['default/echo:http', 'default/echo:http'],
    get: () => ({ limits: { activeRequests: 1, openConnections: 2, pendingRequests: 0 }, endpoints: [old, restarted], ejected: () => [old] }),
  };
  m.setClusterGauges(clusterGaugeReader(source));
  const samples = await scrapeChecked(m);
  const healthy = samples.filter((s) => s.name === 'trellis_endpoint_healthy');
  assert.equal(healthy.length, 1);
  assert.equal(healthy[0]?.value, 0, 'healthy only when every endpoint behind the label is');
  assert.equal(samples.find((s) => s.name === 'trellis_endpoint_ejected')?.value, 1, 'ejected when any is');
  assert.equal(samples.filter((s) => s.name === 'trellis_cluster_requests_active').length, 1);
});

test('duplicateSeries finds a repeated series whatever the label order', () => {
  const text = 'a_total{x="1",y="2"} 1\na_total{y="2",x="1"} 2\na_total{x="2",y="2"} 3\n';
  assert.deepEqual(duplicateSeries(parsePrometheusText(text)), ['a_total{x="1",y="2"}']);
});

test('access-log counters: drops by reason, lines written and rotations, once each', async () => {
  const m = new ProxyMetrics();
  assert.equal((await scrapeChecked(m)).filter((s) => s.name.startsWith('trellis_access_log_')).length, 0, 'not exported before wiring');
  m.setAccessLogStats(() => ({ written: 10, droppedBufferFull: 3, droppedWriteError: 1, rotations: 2 }));
  const samples = await scrapeChecked(m);
  const get = (name: string, reason?: string): number | undefined => samples.find((s) => s.name === name && s.labels.reason === reason)?.value;
  assert.equal(get('trellis_access_log_dropped_total', 'buffer-full'), 3);
  assert.equal(get('trellis_access_log_dropped_total', 'write-error'), 1);
  assert.equal(get('trellis_access_log_lines_total'), 10);
  assert.equal(get('trellis_access_log_rotations_total'), 2);
});
