import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { globalShare } from './global-split.js';

const nodes = (n: number): string[] => Array.from({ length: n }, (_, i) => `shop/api/${i}`);

/** Every ready replica's share, as each proxy's snapshot would carry it. */
function shares(whole: { requestsPerSecond: number; burst: number }, ready: string[]) {
  return ready.map((self) => globalShare(whole, ready, self));
}
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

describe('globalShare (a global total split over ready replicas)', () => {
  test('0 ready replicas: the replica asking takes the whole; a caller that is no replica too', () => {
    assert.deepEqual(globalShare({ requestsPerSecond: 60, burst: 30 }, [], 'shop/api/0'), {
      requestsPerSecond: 60,
      burst: 30,
      global: { requestsPerSecond: 60, burst: 30, replicas: 1 },
    });
    assert.equal(globalShare({ requestsPerSecond: 60, burst: 30 }, [], null).requestsPerSecond, 60);
  });

  test('1 ready replica: the whole', () => {
    assert.deepEqual(globalShare({ requestsPerSecond: 60, burst: 30 }, ['shop/api/0'], 'shop/api/0'), {
      requestsPerSecond: 60,
      burst: 30,
      global: { requestsPerSecond: 60, burst: 30, replicas: 1 },
    });
  });

  test('N ready replicas: rates sum to the configured rate, bursts to the configured burst', () => {
    for (const n of [2, 3, 4, 7, 10, 64]) {
      for (const whole of [{ requestsPerSecond: 60, burst: 60 }, { requestsPerSecond: 100, burst: 7 + n }, { requestsPerSecond: 1, burst: 10 * n + 3 }, { requestsPerSecond: 0.5, burst: n }]) {
        const s = shares(whole, nodes(n));
        assert.ok(Math.abs(sum(s.map((x) => x.requestsPerSecond)) - whole.requestsPerSecond) < 1e-9 * whole.requestsPerSecond, `rate ${JSON.stringify(whole)} over ${n}`);
        // Each share is at least 1: a burst below the count sums to the count.
        assert.equal(sum(s.map((x) => x.burst)), Math.max(whole.burst, n), `burst ${JSON.stringify(whole)} over ${n}`);
        assert.ok(s.every((x) => Number.isInteger(x.burst) && x.burst >= 1));
        const bursts = s.map((x) => x.burst);
        assert.ok(Math.max(...bursts) - Math.min(...bursts) <= 1, 'bursts differ by at most one');
        assert.ok(s.every((x) => x.global.replicas === n && x.global.requestsPerSecond === whole.requestsPerSecond && x.global.burst === whole.burst));
      }
    }
    assert.deepEqual(shares({ requestsPerSecond: 60, burst: 10 }, nodes(3)).map((x) => [x.requestsPerSecond, x.burst]), [[20, 4], [20, 3], [20, 3]]);
  });

  test('a burst smaller than the count: every replica still admits one at once', () => {
    const s = shares({ requestsPerSecond: 6, burst: 2 }, nodes(4));
    assert.deepEqual(s.map((x) => x.burst), [1, 1, 1, 1]);
    assert.equal(sum(s.map((x) => x.requestsPerSecond)), 6);
  });

  test('the order of the ready list and duplicates do not matter: each replica gets the same share wherever it is compiled', () => {
    const ready = nodes(5);
    const shuffled = [ready[3], ready[0], ready[4], ready[1], ready[2], ready[0]] as string[];
    for (const self of ready) assert.deepEqual(globalShare({ requestsPerSecond: 50, burst: 12 }, shuffled, self), globalShare({ requestsPerSecond: 50, burst: 12 }, ready, self));
  });

  test('replicas going and coming: every step re-splits so the ready ones sum to the configured rate and burst', () => {
    const whole = { requestsPerSecond: 60, burst: 20 };
    const steps: string[][] = [nodes(3), nodes(2), nodes(1), [], nodes(1), nodes(4), ['shop/api/1', 'shop/api/3'], nodes(3)];
    for (const ready of steps) {
      if (ready.length === 0) continue;
      const s = shares(whole, ready);
      assert.ok(Math.abs(sum(s.map((x) => x.requestsPerSecond)) - 60) < 1e-9, `rate over ${ready.join(',')}`);
      assert.equal(sum(s.map((x) => x.burst)), 20, `burst over ${ready.join(',')}`);
    }
  });

  test('a replica that is not ready yet gets the share it will have, not the whole on top of the others', () => {
    const starting = globalShare({ requestsPerSecond: 60, burst: 30 }, nodes(2), 'shop/api/9');
    assert.equal(starting.requestsPerSecond, 20);
    assert.equal(starting.global.replicas, 3);
    // The ready ones keep theirs (the starting one is not counted there until it is ready): the
    // mesh admits at most one third more while a replica starts, never N times more.
    assert.equal(globalShare({ requestsPerSecond: 60, burst: 30 }, nodes(2), 'shop/api/0').requestsPerSecond, 30);
  });

  test('burst over rate (the bucket depth in seconds) stays about the same as the count changes, so a kept bucket keeps its level', () => {
    const whole = { requestsPerSecond: 60, burst: 60 };
    for (const n of [1, 2, 3, 4, 5, 6]) {
      for (const x of shares(whole, nodes(n))) {
        const depth = x.burst / x.requestsPerSecond;
        assert.ok(Math.abs(depth - 1) <= n / 60 + 1e-9, `depth ${depth} s over ${n} replicas`);
      }
    }
  });
});
