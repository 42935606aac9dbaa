import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addTotals, goldenMetrics } from './golden-metrics.js';

describe('goldenMetrics', () => {
  it('rates over the window and quantiles from the buckets; nulls without requests', () => {
    const t = { requests: 8, successes: 6, buckets: new Map([[0.1, 4], [Infinity, 8]]) };
    addTotals(t, { requests: 2, successes: 2, buckets: new Map([[0.1, 2], [Infinity, 2]]) });
    assert.deepEqual(goldenMetrics(t, 5), { requests: 10, rps: 2, successRate: 0.8, p50: 0.1 * (5 / 6), p95: 0.1, p99: 0.1 });
    assert.deepEqual(goldenMetrics(undefined, 5), { requests: 0, rps: 0, successRate: null, p50: null, p95: null, p99: null });
    assert.deepEqual(goldenMetrics({ requests: 0, successes: 0, buckets: new Map() }, 0), goldenMetrics(undefined, 0));
  });
});
