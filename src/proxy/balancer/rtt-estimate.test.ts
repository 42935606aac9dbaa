import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_DECAY_MS, DEFAULT_RTT_MS, PeakEwma } from './rtt-estimate.js';

const near = (actual: number, expected: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) < 1e-9 * Math.max(1, expected), `${what}: ${actual} != ${expected}`);

test('rtt estimate: the prior decays from the moment the endpoint appears, sample or no sample', () => {
  const e = new PeakEwma(DEFAULT_RTT_MS, DEFAULT_DECAY_MS, 5_000);
  near(e.estimate(5_000), 30, 'at creation');
  near(e.estimate(4_000), 30, 'a read before creation (clock skew) is the prior, not more');
  near(e.estimate(5_000 + DEFAULT_DECAY_MS), 30 * Math.exp(-1), 'one tau later');
  assert.ok(e.estimate(5_000 + 10 * DEFAULT_DECAY_MS) < 0.01, 'ten tau later the prior has all but gone');
});

test('rtt estimate: observing a lower sample raises an endpoint above an unused twin (so the twin is picked next)', () => {
  const used = new PeakEwma(30, 10_000, 0);
  const unused = new PeakEwma(30, 10_000, 0);
  for (const t of [1, 3_000, 20_000]) {
    used.observe(1, t);
    assert.ok(used.estimate(t) > unused.estimate(t), `at ${t}: ${used.estimate(t)} <= ${unused.estimate(t)}`);
    assert.ok(used.estimate(t + 200) > unused.estimate(t + 200), `200 ms after ${t}`);
  }
});

test('rtt estimate: steady samples converge to the real latency at any rate (not to half of it)', () => {
  for (const everyMs of [1, 10, 200, 5_000]) {
    const e = new PeakEwma(30, 10_000, 0);
    let t = 0;
    while (t < 200_000) {
      t += everyMs;
      e.observe(4, t);
    }
    near(Math.round(e.estimate(t) * 1e6) / 1e6, 4, `sampled every ${everyMs} ms`);
  }
});

test('rtt estimate: a peak is taken at once and then blends down with tau', () => {
  const e = new PeakEwma(30, 10_000, 0);
  e.observe(5, 400_000); // the prior is gone (exp(-40)): the first sample is the estimate
  near(e.estimate(400_000), 5, 'first sample after the prior decayed');
  e.observe(80, 400_100);
  near(e.estimate(400_100), 80, 'peak');
  e.observe(5, 410_100);
  near(e.estimate(410_100), 80 * Math.exp(-1) + 5 * (1 - Math.exp(-1)), 'one tau later a 5 ms sample gets weight 1 - 1/e');
});
