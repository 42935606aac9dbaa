import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aggregate, histogramQuantile, isSuccess, parsePrometheusText, windowDelta, type TargetScrape } from './metrics-scrape.js';

describe('parsePrometheusText', () => {
  it('reads names, labels (with escapes and empty values) and values; skips comments', () => {
    const text = [
      '# HELP trellis_requests_total Requests',
      '# TYPE trellis_requests_total counter',
      'trellis_requests_total{direction="inbound",route="",path="a\\"b\\\\c\\nd"} 12',
      'trellis_request_duration_seconds_bucket{le="+Inf"} 3',
      'process_uptime 1.5e2',
      '',
    ].join('\n');
    assert.deepEqual(parsePrometheusText(text), [
      { name: 'trellis_requests_total', labels: { direction: 'inbound', route: '', path: 'a"b\\c\nd' }, value: 12 },
      { name: 'trellis_request_duration_seconds_bucket', labels: { le: '+Inf' }, value: 3 },
      { name: 'process_uptime', labels: {}, value: 150 },
    ]);
  });

  it('rejects lines it does not understand', () => {
    assert.throws(() => parsePrometheusText('x{a="1"'), /line 1/);
    assert.throws(() => parsePrometheusText('x{a="1"} abc'), /bad value/);
    assert.throws(() => parsePrometheusText('novalue'), /no value/);
  });
});

describe('isSuccess', () => {
  it('counts non-5xx with an OK or absent grpc-status', () => {
    assert.equal(isSuccess({ status_code: '200', grpc_status: '' }), true);
    assert.equal(isSuccess({ status_code: '404', grpc_status: '' }), true);
    assert.equal(isSuccess({ status_code: '503', grpc_status: '' }), false);
    assert.equal(isSuccess({ status_code: '200', grpc_status: '0' }), true);
    assert.equal(isSuccess({ status_code: '200', grpc_status: '14' }), false);
    assert.equal(isSuccess({ status_code: '0', grpc_status: '' }), false);
  });
});

describe('histogramQuantile', () => {
  const b = (entries: [number, number][]): Map<number, number> => new Map(entries);
  it('interpolates linearly inside the bucket the rank falls in', () => {
    // 10 requests: 4 in (0, 0.1], 4 in (0.1, 0.2], 2 in (0.2, 0.4].
    const buckets = b([[0.1, 4], [0.2, 8], [0.4, 10], [Infinity, 10]]);
    assert.equal(histogramQuantile(0.5, buckets), 0.1 + 0.1 * (1 / 4)); // rank 5: 1 of 4 into the 2nd bucket
    assert.equal(histogramQuantile(0.2, buckets), 0.05); // rank 2 of 4 in the first, from 0
    assert.equal(histogramQuantile(0.9, buckets), 0.2 + 0.2 * (1 / 2)); // rank 9: 1 of 2 into the 3rd
  });
  it('answers the highest finite bound for a rank in +Inf, and null without requests', () => {
    assert.equal(histogramQuantile(0.99, b([[0.1, 1], [1, 1], [Infinity, 5]])), 1);
    assert.equal(histogramQuantile(0.5, b([[0.1, 0], [Infinity, 0]])), null);
    assert.equal(histogramQuantile(0.5, b([])), null);
  });
});

describe('windowDelta and aggregate', () => {
  const scrape = (target: string, ok: number, failed: number): TargetScrape => ({
    target,
    targetLabels: { trellis_workload: 'b' },
    samples: [
      { name: 'trellis_requests_total', labels: { direction: 'inbound', dst_service: 'b', status_code: '200' }, value: ok },
      { name: 'trellis_requests_total', labels: { direction: 'inbound', dst_service: 'b', status_code: '503' }, value: failed },
    ],
  });
  it('sums the increase of each replica; a reset counter counts its new value; a new target is left out', () => {
    const before = [scrape('r0', 100, 10), scrape('r1', 50, 5)];
    const after = [scrape('r0', 120, 15), scrape('r1', 3, 0), scrape('r2', 1000, 0)];
    const rows = aggregate(windowDelta(before, after), (l) => l.dst_service ?? null);
    const b = rows.get('b');
    assert.ok(b !== undefined);
    assert.equal(b.requests, 20 + 5 + 3);
    assert.equal(b.successes, 20 + 3);
  });
});
