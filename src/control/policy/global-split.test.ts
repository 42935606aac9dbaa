import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { globalShare } from './global-split.js';

/** The shares of `n` ready replicas together. */
function together(whole: { requestsPerSecond: number; burst: number }, n: number): { rate: number; burst: number } {
  const s = globalShare(whole, n);
  return { rate: s.requestsPerSecond * n, burst: s.burst * n };
}

describe('globalShare (a global total split over ready replicas)', () => {
  test('0 ready replicas: the whole (the first one up serves alone); nonsense counts count as 1', () => {
    const whole = { requestsPerSecond: 60, burst: 30 };
    for (const n of [0, -1, Number.NaN, 0.5]) {
      assert.deepEqual(globalShare(whole, n), { requestsPerSecond: 60, burst: 30, global: { requestsPerSecond: 60, burst: 30, replicas: 1 } }, String(n));
    }
  });

  test('1 ready replica: the whole', () => {
    assert.deepEqual(globalShare({ requestsPerSecond: 60, burst: 30 }, 1), { requestsPerSecond: 60, burst: 30, global: { requestsPerSecond: 60, burst: 30, replicas: 1 } });
  });

  test('N ready replicas: the rates sum to the configured rate; the bursts to the configured burst within N/2', () => {
    assert.deepEqual(globalShare({ requestsPerSecond: 60, burst: 6 }, 3), { requestsPerSecond: 20, burst: 2, global: { requestsPerSecond: 60, burst: 6, replicas: 3 } });
    for (const n of [2, 3, 4, 7, 10, 64]) {
      for (const whole of [{ requestsPerSecond: 60, burst: 60 }, { requestsPerSecond: 100, burst: 7 + n }, { requestsPerSecond: 1, burst: 10 * n + 3 }, { requestsPerSecond: 0.5, burst: 1 }, { requestsPerSecond: 7, burst: 5 * n }]) {
        const t = together(whole, n);
        const what = `${JSON.stringify(whole)} over ${n}`;
        assert.ok(Math.abs(t.rate - whole.requestsPerSecond) <= 1e-9 * whole.requestsPerSecond, `rate ${what}: ${t.rate}`);
        const s = globalShare(whole, n);
        assert.ok(Number.isInteger(s.burst) && s.burst >= 1, `burst ${what}`);
        // Each share is at least 1: a burst below the count sums to the count.
        assert.ok(Math.abs(t.burst - Math.max(whole.burst, n)) <= n / 2, `burst ${what}: ${t.burst}`);
        if (whole.burst % n === 0) assert.equal(t.burst, whole.burst, `burst ${what}: exact when n divides it`);
        assert.deepEqual(s.global, { ...whole, replicas: n });
      }
    }
  });

  test('replicas going and coming: every count re-splits so the ready ones sum to the configured rate', () => {
    const whole = { requestsPerSecond: 60, burst: 60 };
    const seen: number[] = [];
    for (const n of [3, 2, 1, 0, 1, 4, 2, 3]) {
      const s = globalShare(whole, n);
      seen.push(s.requestsPerSecond);
      assert.equal(s.requestsPerSecond * Math.max(1, n), 60, `${n} replicas`);
      assert.equal(s.burst * Math.max(1, n), 60, `${n} replicas: 60 divides evenly`);
    }
    assert.deepEqual(seen, [20, 30, 60, 60, 60, 15, 30, 20]);
  });

  test('burst over rate (the bucket depth in seconds) stays about the same as the count changes, so a kept bucket keeps its level', () => {
    const whole = { requestsPerSecond: 60, burst: 60 };
    for (let n = 1; n <= 30; n++) {
      const s = globalShare(whole, n);
      const depth = s.burst / s.requestsPerSecond;
      assert.ok(Math.abs(depth - 1) <= n / 120 + 1e-9, `depth ${depth} s over ${n} replicas`);
    }
  });
});
