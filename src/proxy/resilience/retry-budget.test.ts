import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededRandom } from '../balancer/sim-test-support.js';
import { ClusterRetryBudget } from './retry-budget.js';

function clock(start = 0): { now: () => number; set(ms: number): void } {
  let t = start;
  return { now: () => t, set: (ms) => (t = ms) };
}

function drain(b: ClusterRetryBudget): number {
  let n = 0;
  while (b.tryRetry()) n++;
  return n;
}

test('retry budget: with no traffic, the floor allows minRetriesPerSecond x 10 in the window', () => {
  const c = clock(5_000);
  const b = new ClusterRetryBudget({ percent: 20, minRetriesPerSecond: 3 }, c.now);
  assert.equal(drain(b), 30);
  assert.equal(b.tryRetry(), false);
});

test('retry budget: table of percent share plus floor', () => {
  const cases: { percent: number; min: number; requests: number; allowed: number }[] = [
    { percent: 20, min: 0, requests: 100, allowed: 20 },
    { percent: 20, min: 1, requests: 100, allowed: 30 },
    { percent: 50, min: 0, requests: 7, allowed: 3 }, // 3.5 -> 3 whole retries
    { percent: 0, min: 0, requests: 1000, allowed: 0 },
    { percent: 100, min: 2, requests: 5, allowed: 25 },
  ];
  for (const k of cases) {
    const c = clock(1_000);
    const b = new ClusterRetryBudget({ percent: k.percent, minRetriesPerSecond: k.min }, c.now);
    for (let i = 0; i < k.requests; i++) b.recordRequest();
    assert.equal(drain(b), k.allowed, JSON.stringify(k));
  }
});

test('retry budget: requests and retries leave the window after 10 s, bucket by bucket', () => {
  const c = clock(0);
  const b = new ClusterRetryBudget({ percent: 10, minRetriesPerSecond: 0 }, c.now);
  for (let i = 0; i < 100; i++) b.recordRequest(); // second 0
  c.set(5_000);
  for (let i = 0; i < 100; i++) b.recordRequest(); // second 5
  assert.equal(drain(b), 20);
  c.set(9_999); // still all in the window
  assert.equal(b.tryRetry(), false);
  c.set(10_000); // second 0 left: 100 requests (10 allowed) and the 20 retries of second 5 remain
  assert.equal(b.tryRetry(), false);
  c.set(15_000); // second 5 left too: nothing in the window
  assert.equal(b.available(), 0);
  for (let i = 0; i < 30; i++) b.recordRequest();
  assert.equal(drain(b), 3);
  c.set(60_000); // long idle: everything expired
  assert.equal(b.available(), 0);
});

test('retry budget: reconfigure keeps the counts and applies the new share', () => {
  const c = clock(0);
  const b = new ClusterRetryBudget({ percent: 10, minRetriesPerSecond: 0 }, c.now);
  for (let i = 0; i < 100; i++) b.recordRequest();
  assert.equal(drain(b), 10);
  b.reconfigure({ percent: 30, minRetriesPerSecond: 0 });
  assert.equal(drain(b), 20, '30 allowed, 10 already spent');
});

test('retry budget: requests at t=0 count until just before 10 s, not at 10 s', () => {
  const c = clock(0);
  const b = new ClusterRetryBudget({ percent: 20, minRetriesPerSecond: 0 }, c.now);
  for (let i = 0; i < 100; i++) b.recordRequest();
  c.set(9_999);
  assert.equal(b.available(), 20, 'at 9.999 s the requests of t=0 are in the window');
  c.set(10_000);
  assert.equal(b.available(), 0, 'at 10 s they are not: the window is (t - 10 s, t]');
  c.set(10_001);
  assert.equal(b.available(), 0);
  assert.equal(b.tryRetry(), false);
});

test('retry budget: retries at 9.999 s use the deposits of t=0; at 10 s and 10.001 s nothing is left', () => {
  const c = clock(0);
  const b = new ClusterRetryBudget({ percent: 20, minRetriesPerSecond: 1 }, c.now);
  for (let i = 0; i < 100; i++) b.recordRequest();
  c.set(9_999);
  assert.equal(drain(b), 30, '20% of 100 plus the floor of 1/s x 10 s');
  for (const t of [10_000, 10_001, 19_998]) {
    c.set(t);
    assert.equal(b.tryRetry(), false, `at ${t} ms the 30 retries of 9.999 s are still in the window`);
  }
  c.set(19_999);
  assert.equal(drain(b), 10, 'exactly 10 s later they have left: the floor is back');
});

test('retry budget: the floor is granted once per any 10 s window, not again when a second rolls over', () => {
  // The defect: ten 1 s buckets forgot the retries of second 0 at t = 10 s although those made
  // at 0.999 s were only 9 s old, and granted the whole floor again.
  const c = clock(999);
  const b = new ClusterRetryBudget({ percent: 20, minRetriesPerSecond: 10 }, c.now);
  assert.equal(drain(b), 100);
  for (const t of [9_999, 10_000, 10_001, 10_500, 10_998]) {
    c.set(t);
    assert.equal(b.available(), 0, `at ${t} ms`);
    assert.equal(b.tryRetry(), false, `at ${t} ms`);
  }
  c.set(10_999);
  assert.equal(drain(b), 100);
});

/**
 * The scenario: 100 requests/s for `seconds` from `offset` ms (where in a second the
 * traffic starts matters: the old 1 s buckets leaked most when it started late in one), every
 * attempt answered 503 after 5 ms, each request retried up to twice after a 25 ms backoff with
 * up to 25 ms of jitter, while the budget allows. Returns when each request and each granted
 * retry happened (sorted).
 */
function simulateAllFailing(seconds: number, offset: number, seed: number): { requests: number[]; retries: number[] } {
  const c = clock(0);
  const b = new ClusterRetryBudget({ percent: 20, minRetriesPerSecond: 10 }, c.now);
  const random = seededRandom(seed);
  const requests: number[] = [];
  const retries: number[] = [];
  // Pending 503s in time order: [when it arrives, retries that request has made].
  const failures: [number, number][] = [];
  const failAt = (t: number, made: number): void => {
    let k = failures.length;
    while (k > 0 && failures[k - 1]![0] > t) k--;
    failures.splice(k, 0, [t, made]);
  };
  for (let i = 0; i < seconds * 100; i++) {
    const t = offset + i * 10;
    while (failures.length > 0 && failures[0]![0] <= t) {
      const [at, made] = failures.shift()!;
      c.set(at);
      if (made < 2 && b.tryRetry()) {
        retries.push(at);
        failAt(at + 25 + 25 * random() + 5, made + 1);
      }
    }
    c.set(t);
    b.recordRequest();
    requests.push(t);
    failAt(t + 5, 0);
  }
  return { requests, retries };
}

/** Events in (from, to] of a sorted list. */
function inWindow(sorted: readonly number[], from: number, to: number): number {
  const upTo = (x: number): number => {
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sorted[mid]! <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  return upTo(to) - upTo(from);
}

const SCENARIOS = [
  { offset: 0, seed: 1 },
  { offset: 700, seed: 2 }, // the old buckets let 345 retries through where 292 were allowed
  { offset: 950, seed: 3 },
];

test('retry budget: 100 req/s all failing: every 10 s window holds at most 20% of its requests + 10/s x 10 s in retries', () => {
  const seconds = 60;
  for (const { offset, seed } of SCENARIOS) {
    const { requests, retries } = simulateAllFailing(seconds, offset, seed);
    const allowed = (a: number): number => 0.2 * inWindow(requests, a, a + 10_000) + 10 * 10;
    // The promise, exactly: the window that ends at each retry.
    for (const r of retries) {
      const held = inWindow(retries, r - 10_000, r);
      assert.ok(held <= allowed(r - 10_000), `offset ${offset}: the 10 s up to the retry at ${r} ms held ${held} retries, allowed ${allowed(r - 10_000)}`);
    }
    // Every window, sliding 1 ms at a time from the first that holds any traffic to the last.
    // A window that does not end at a retry holds the retries of the window ending at its last
    // retry, whose requests may differ from its own by one at this even spacing: hence + 0.2.
    for (let a = offset - 10_000; a <= offset + seconds * 1000; a++) {
      const held = inWindow(retries, a, a + 10_000);
      assert.ok(held <= allowed(a) + 0.2, `offset ${offset}: window (${a}, ${a + 10_000}] ms held ${held} retries, allowed ${allowed(a)}`);
    }
  }
});

test('retry budget: at steady state it is not stingy: every 10 s window gets within 3% of what is allowed', () => {
  const seconds = 60;
  for (const { offset, seed } of SCENARIOS) {
    const { requests, retries } = simulateAllFailing(seconds, offset, seed);
    // Windows wholly inside the run, after the first 10 s: each should hold nearly
    // 0.2 x 1,000 + 100 = 300 retries. The budget gives up at most one 20 ms slot of deposits
    // and holds retries up to 20 ms past 10 s; the floor is spent in a burst, which such delays
    // shift a little each window, so windows at a burst's edge see slightly less (97.7% was the
    // least seen; 100 ms slots gave 92%).
    let least = Infinity;
    for (let a = offset + 10_000; a <= offset + (seconds - 10) * 1000; a += 7) {
      const allowed = 0.2 * inWindow(requests, a, a + 10_000) + 10 * 10;
      least = Math.min(least, inWindow(retries, a, a + 10_000) / allowed);
    }
    assert.ok(least >= 0.97, `offset ${offset}: a window got only ${(least * 100).toFixed(1)}% of its allowance`);
    assert.ok(retries.length < requests.length * 2, 'the budget, not the retry limit, was what bounded retries');
  }
});
