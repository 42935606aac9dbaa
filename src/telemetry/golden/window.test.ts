import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TargetScrape } from './scrape.js';
import { aggregate, isSuccess, windowDelta } from './window.js';

describe('isSuccess', () => {
  it('counts non-5xx with an OK or absent grpc-status', () => {
    assert.equal(isSuccess({ status_code: '200', grpc_status: '' }), true);
    assert.equal(isSuccess({ status_code: '404', grpc_status: '' }), true);
    assert.equal(isSuccess({ status_code: '503', grpc_status: '' }), false);
    assert.equal(isSuccess({ status_code: '200', grpc_status: '0' }), true);
    assert.equal(isSuccess({ status_code: '200', grpc_status: '14' }), false);
    assert.equal(isSuccess({ status_code: '0', grpc_status: '' }), false);
  });
  it('counts the folded overflow series by their status class', () => {
    assert.equal(isSuccess({ status_code: '2xx', grpc_status: 'other' }), true);
    assert.equal(isSuccess({ status_code: '4xx', grpc_status: 'other' }), true);
    assert.equal(isSuccess({ status_code: '5xx', grpc_status: 'other' }), false);
    assert.equal(isSuccess({ status_code: '200', grpc_status: 'other' }), false);
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
