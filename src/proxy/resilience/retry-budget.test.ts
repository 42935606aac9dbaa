import { test } from 'node:test';
import assert from 'node:assert/strict';
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
