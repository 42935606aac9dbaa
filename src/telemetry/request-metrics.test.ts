import { test } from 'node:test';
import assert from 'node:assert/strict';
import { destinationOfCluster, ReasonTable, RequestRecorder, SeriesBudget } from './request-metrics.js';
import type { GoldenRecord, RequestSeries } from './request-metrics.js';

const src = { namespace: 'shop', workload: 'web', serviceAccount: 'web' };
const dst = { namespace: 'shop', service: 'api' };

function recorder(limit = 2_000): RequestRecorder {
  return new RequestRecorder('outbound', src, dst, new SeriesBudget(limit), new ReasonTable());
}

function series(r: RequestRecorder): RequestSeries[] {
  return r.all.flatMap((rs) => [...rs.byLabels.values()]);
}

function find(r: RequestRecorder, labels: Record<string, string>): RequestSeries | undefined {
  return series(r).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

const ok: GoldenRecord = { method: 'GET', status: 200, reason: undefined, durationMs: 1 };

test('destinationOfCluster drops the port', () => {
  assert.deepEqual(destinationOfCluster('shop/api:http'), { namespace: 'shop', service: 'api' });
  assert.deepEqual(destinationOfCluster('default/b-v2:grpc'), { namespace: 'default', service: 'b-v2' });
});

test('repeated label combinations share one series; each differing label makes its own', () => {
  const r = recorder();
  for (let i = 0; i < 5; i++) r.record(ok);
  r.record({ ...ok, method: 'POST' });
  r.record({ ...ok, method: 'PROPFIND' });
  r.record({ ...ok, status: 404 });
  r.record({ ...ok, grpcStatus: 14 });
  r.record({ ...ok, grpcStatus: 99 });
  r.record({ ...ok, status: 504, reason: 'upstream-timeout' });
  assert.equal(series(r).length, 7);
  assert.equal(find(r, { method: 'GET', status_code: '200', grpc_status: '', reason: '' })?.count, 5);
  assert.equal(find(r, { method: 'other' })?.count, 1);
  assert.equal(find(r, { grpc_status: '14' })?.count, 1);
  assert.equal(find(r, { grpc_status: 'other' })?.count, 1);
  assert.equal(find(r, { status_code: '504', reason: 'upstream-timeout' })?.count, 1);
});

test('routes and backends are labels; the backend cluster becomes dst_service', () => {
  const r = recorder();
  r.record({ ...ok, route: 'shop/canary', backend: 'shop/api-v2:http', retries: 1 });
  r.record({ ...ok, route: 'shop/canary', backend: 'shop/api-v1:http' });
  r.record({ ...ok, route: 'shop/canary', backend: 'shop/api-v2:http', retries: 2 });
  r.record(ok);
  assert.equal(find(r, { route: 'shop/canary', dst_service: 'api-v2' })?.count, 2);
  assert.equal(find(r, { route: 'shop/canary', dst_service: 'api-v1' })?.count, 1);
  assert.equal(find(r, { route: '', dst_service: 'api' })?.count, 1);
  const retries = r.all.find((rs) => rs.labels.dst_service === 'api-v2')?.retries;
  assert.equal(retries, 3);
});

test('past the series budget, new combinations fold into `other` by status class', () => {
  const r = recorder(3);
  r.record({ ...ok, status: 200 });
  r.record({ ...ok, status: 201 });
  r.record({ ...ok, status: 202 });
  r.record({ ...ok, status: 203 });
  r.record({ ...ok, status: 500, reason: 'x' });
  r.record({ ...ok, status: 501 });
  r.record({ ...ok, status: 200 }); // an existing series keeps counting
  assert.equal(find(r, { status_code: '200' })?.count, 2);
  assert.equal(find(r, { status_code: '2xx', method: 'other', reason: 'other' })?.count, 1);
  assert.equal(find(r, { status_code: '5xx', method: 'other', reason: 'other' })?.count, 2);
  assert.equal(series(r).length, 5);
});

test('the budget is shared by every recorder of one listener', () => {
  const budget = new SeriesBudget(1);
  const reasons = new ReasonTable();
  const r1 = new RequestRecorder('inbound', src, dst, budget, reasons);
  const r2 = new RequestRecorder('inbound', { ...src, serviceAccount: 'other' }, dst, budget, reasons);
  r1.record(ok);
  r2.record(ok);
  assert.equal(series(r1)[0]?.labels.status_code, '200');
  assert.equal(series(r2)[0]?.labels.status_code, '2xx');
});

test('durations land in the first bucket whose bound is not below them', () => {
  const r = recorder();
  r.record({ ...ok, durationMs: 0.5 });
  r.record({ ...ok, durationMs: 1 });
  r.record({ ...ok, durationMs: 1.0001 });
  r.record({ ...ok, durationMs: 60_000 });
  const b = find(r, { status_code: '200' })!.buckets;
  assert.equal(b[0], 2); // le 0.001
  assert.equal(b[1], 1); // le 0.005
  assert.equal(b[b.length - 1], 1); // +Inf
});

test('reasons beyond the table size fold into `other`', () => {
  const t = new ReasonTable();
  const ids = new Set<number>();
  for (let i = 0; i < 100; i++) ids.add(t.id(`r${i}`));
  assert.equal(t.id(undefined), 0);
  assert.equal(t.id('r5'), t.id('r5'));
  assert.equal(t.name(t.id('r99')), 'other');
  assert.equal(t.name(t.id('r0')), 'r0');
  assert.equal(ids.size, 63);
});
