import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { histogramQuantile } from './quantile.js';

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
