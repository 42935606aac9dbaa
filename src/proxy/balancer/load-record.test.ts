import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EndpointLoad, FAILURE_RTT_CAP_MS, FAILURE_RTT_FLOOR_MS, MIN_COST_RTT_MS, cost, newLoadRecord } from './load-record.js';
import { DEFAULT_DECAY_MS } from './rtt-estimate.js';

test('load record: a new record starts at its prior, stamped at its creation', () => {
  const load = newLoadRecord(12, 1_000);
  assert.equal(load.pending, 0);
  assert.equal(load.rtt.estimate(1_000), 12);
  assert.ok(load.rtt.estimate(1_000 + DEFAULT_DECAY_MS) < 12 / 2.7, 'decays with tau from creation');
});

test('load record: each failure at least doubles the estimate, even when the failure itself was fast', () => {
  const load = new EndpointLoad(30, 0);
  load.rtt.observe(0.5, 100_000); // prior long gone: a fast endpoint
  let after = 0;
  for (let k = 1; k <= 8; k++) {
    const t = 100_000 + k * 10;
    load.rtt.observe(0.3, t); // the fast 503's own round trip, as the lease observes it at the head
    const atHead = load.rtt.estimate(t);
    load.observeFailure(t, 0.3);
    after = load.rtt.estimate(t);
    assert.ok(after >= 2 * atHead, `failure ${k}: ${atHead} -> ${after}`);
  }
  assert.ok(after > 30, `eight fast failures in a row cost more than the 30 ms prior (${after})`);
});

test('load record: a failure counts at least as long as it took, within the floor and the cap', () => {
  const slow = new EndpointLoad(30, 0);
  slow.observeFailure(1_000_000, 2_500); // a 2.5 s timeout on an endpoint whose estimate decayed to ~0
  assert.equal(slow.rtt.estimate(1_000_000), 5_000);
  const idle = new EndpointLoad(30, 0);
  idle.observeFailure(10_000_000); // nothing known, no duration: the floor
  assert.equal(idle.rtt.estimate(10_000_000), FAILURE_RTT_FLOOR_MS);
  const hung = new EndpointLoad(30, 0);
  hung.observeFailure(10_000_000, 3_600_000);
  assert.equal(hung.rtt.estimate(10_000_000), FAILURE_RTT_CAP_MS);
});

test('load record: cost is estimate x (pending + 1); pending still weighs after the estimate decayed to nothing', () => {
  const a = newLoadRecord(10, 0);
  a.pending = 3;
  assert.equal(cost(a, 0), 40);
  // Long without a sample, exp() underflows to 0, yet open tunnels must keep counting.
  const idle = newLoadRecord(10, 0);
  const busy = newLoadRecord(10, 0);
  busy.pending = 5;
  const later = 3 * 3_600_000;
  assert.equal(idle.rtt.estimate(later), 0);
  assert.equal(cost(idle, later), MIN_COST_RTT_MS);
  assert.ok(cost(busy, later) > cost(idle, later));
});
