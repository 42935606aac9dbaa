/**
 * Every ready endpoint gets traffic (issue 9, Part 3.1), over simulated time with seeded
 * randomness: the balancers with the lease contract the proxy keeps (pending held for the whole
 * exchange, the round trip observed, failures reported with observeFailure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBalancer } from './registry.js';
import { DEFAULT_DECAY_MS } from './rtt-estimate.js';
import { LoadSimulation, around, shares, simEndpoint } from './sim-test-support.js';
import type { SimEndpoint } from './sim-test-support.js';

const SEEDS = 200;

/** Sequential requests at `perSecond` for `ms` of simulated time from `start`. */
function sequential(sim: LoadSimulation, balancer: string, eps: SimEndpoint[], perSecond: number, ms: number, start = sim.now): string[] {
  const bal = createBalancer(balancer, sim.deps);
  const order: string[] = [];
  for (let t = start; t < start + ms; t += 1000 / perSecond) order.push(sim.send(t, bal, eps)!.name);
  return order;
}

/** Longest run of consecutive picks without `name`. */
function longestGap(order: readonly string[], name: string): number {
  let gap = 0;
  let run = 0;
  for (const n of order) {
    run = n === name ? 0 : run + 1;
    if (run > gap) gap = run;
  }
  return gap;
}

test('peak-ewma: two replicas, sequential requests at 5/s for 10 s: each gets a share (equal latencies: turn about)', () => {
  const sim = new LoadSimulation(1);
  const eps = [simEndpoint('a', 0, () => 1), simEndpoint('b', 0, () => 1)];
  const order = sequential(sim, 'peak-ewma', eps, 5, 10_000);
  // With equal histories the endpoint left alone is always the cheaper one (rtt-estimate.ts),
  // so identical replicas take turns.
  for (const e of eps) assert.ok(e.served >= 20, shares(eps));
  assert.ok(longestGap(order, 'a') <= 1 && longestGap(order, 'b') <= 1, order.join(''));
});

test('peak-ewma: two replicas with noisy latencies, 5/s for 10 s: each gets at least 20%, whatever the seed', () => {
  // Replicas that appear together or 2 s apart (readiness), traffic from the start or 8 s later.
  // Bound: an endpoint left alone decays by exp(-t/tau) while the other's estimate stays above
  // the lowest latency, so within tau x ln(1.3/0.7) (0.62 s, 4 picks) it is the cheaper one and
  // is picked: no endpoint is passed over for longer, so each gets at least 1 pick in 6 (16%).
  // 20% is asserted (42% was the least seen in 1,000 seeds).
  const worstWait = Math.ceil((DEFAULT_DECAY_MS * Math.log(1.3 / 0.7)) / 200) + 2;
  for (const [secondAt, start] of [[0, 0], [0, 8_000], [2_000, 8_000]] as const) {
    for (let seed = 1; seed <= SEEDS; seed++) {
      const sim = new LoadSimulation(seed);
      const eps = [simEndpoint('a', 0, around(1, 0.3)), simEndpoint('b', secondAt, around(1, 0.3))];
      const order = sequential(sim, 'peak-ewma', eps, 5, 10_000, start);
      for (const e of eps) {
        const how = `second replica at ${secondAt} ms, traffic from ${start} ms, seed ${seed}`;
        assert.ok(e.served >= 10, `${how}: ${shares(eps)}`);
        assert.ok(longestGap(order, e.name) <= worstWait, `${how}: ${e.name} waited ${longestGap(order, e.name)} picks`);
      }
    }
  }
});

test('peak-ewma: four healthy replicas at 100/s for 20 s: none is passed over for long, each gets 2/3 of a fair share', () => {
  // The issue saw one of four replicas get 0 of about 4,700 requests.
  const worstWait = Math.ceil((DEFAULT_DECAY_MS * Math.log(1.3 / 0.7)) / 10) + 20;
  for (let seed = 1; seed <= SEEDS / 10; seed++) {
    const sim = new LoadSimulation(seed);
    const eps = ['a', 'b', 'c', 'd'].map((n) => simEndpoint(n, 0, around(2, 0.3)));
    const order = sequential(sim, 'peak-ewma', eps, 100, 20_000);
    // Same bound as for two (once the cheapest of all, a replica still has to be drawn as one
    // of the two candidates: 20 picks of slack). The share: peak-EWMA favours whichever
    // replica looked fastest lately, so shares wander, but not far: 2/3 of 500 is asserted.
    for (const e of eps) {
      assert.ok(e.served >= 333, `seed ${seed}: ${shares(eps)}`);
      assert.ok(longestGap(order, e.name) <= worstWait, `seed ${seed}: ${e.name} waited ${longestGap(order, e.name)} picks`);
    }
  }
});

test('peak-ewma: two replicas ejected, one failing fast, one healthy: the healthy one gets the majority', () => {
  for (let seed = 1; seed <= SEEDS / 10; seed++) {
    const run = (penalizeFailures: boolean): SimEndpoint[] => {
      const sim = new LoadSimulation(seed);
      sim.penalizeFailures = penalizeFailures;
      const eps = ['f1', 'f2', 'f3', 'healthy'].map((n) => simEndpoint(n, 0, around(2, 0.3)));
      sequential(sim, 'peak-ewma', eps, 100, 20_000); // all healthy for a while
      for (const f of eps.slice(0, 3)) {
        f.failing = true;
        f.latency = around(0.3, 0.3); // a 503 comes back faster than a real answer
      }
      for (const e of eps) e.served = 0;
      const ejected = new Set(eps.slice(0, 2)); // outlier detection's cap: two of four
      const bal = createBalancer('peak-ewma', sim.deps);
      const start = sim.now;
      for (let k = 0; k < 1_000; k++) sim.send(start + k * 10, bal, eps, ejected);
      return eps;
    };
    const eps = run(true);
    assert.equal(eps[0]!.served + eps[1]!.served, 0, 'ejected endpoints are never picked');
    // Each failure doubles f3's estimate; it is probed again once it has decayed below the
    // healthy one's, about every tau x ln 2 (0.7 s): some 15 of the 1,000.
    assert.ok(eps[3]!.served > 900, `seed ${seed}: ${shares(eps)}`);
    // Without the failure penalty the failing replica, being the fastest, takes the traffic:
    // what the issue saw (990 of 1,000 requests).
    const unpenalized = run(false);
    assert.ok(unpenalized[2]!.served > 500, `seed ${seed} without the penalty: ${shares(unpenalized)}`);
  }
});

test('peak-ewma: a replica added to a busy cluster gets traffic within a bounded number of picks, then a fair share', () => {
  const perSecond = 400;
  for (let seed = 1; seed <= SEEDS / 10; seed++) {
    const sim = new LoadSimulation(seed);
    const eps = ['a', 'b', 'c'].map((n) => simEndpoint(n, 0, around(10, 0.3)));
    const bal = createBalancer('peak-ewma', sim.deps);
    let t = 0;
    for (; t < 20_000; t += 1000 / perSecond) sim.send(t, bal, eps); // about 1.3 requests pending per endpoint
    sim.advance(t);
    const added = simEndpoint('d', t, around(10, 0.3));
    eps.push(added);
    let first = -1;
    for (let k = 0; k < 4_000; k++, t += 1000 / perSecond) {
      if (sim.send(t, bal, eps) === added && first < 0) first = k;
    }
    // Bound: the newcomer's 30 ms prior falls below any peer's cost (at least its fastest
    // answer, 7 ms) within tau x ln(30/7) (1.5 s, 582 picks); from then on it wins whenever it
    // is one of the two candidates (half the picks): 20 picks of slack.
    const bound = Math.ceil(((DEFAULT_DECAY_MS * Math.log(30 / 7)) / 1000) * perSecond) + 20;
    assert.ok(first >= 0 && first <= bound, `seed ${seed}: first pick of the new replica at ${first} (bound ${bound})`);
    assert.ok(added.served >= 4_000 / 4 / 2, `seed ${seed}: ${shares(eps)}`);
  }
});

test('peak-ewma: a replica added at low load gets traffic within a bounded number of picks', () => {
  for (let seed = 1; seed <= SEEDS / 10; seed++) {
    const sim = new LoadSimulation(seed);
    const eps = [simEndpoint('a', 0, around(1, 0.3))];
    sequential(sim, 'peak-ewma', eps, 5, 30_000);
    const added = simEndpoint('b', sim.now, around(1, 0.3));
    eps.push(added);
    const order = sequential(sim, 'peak-ewma', eps, 5, 10_000, sim.now + 200);
    // Bound: the 30 ms prior falls below a's estimate (at least 0.7 ms, decayed for at most one
    // 200 ms gap) within tau x ln(30/(0.7 x e^-0.2)) = 4 s (20 picks at 5/s); then b is the
    // cheaper of the only two.
    const bound = Math.ceil((DEFAULT_DECAY_MS * Math.log(30 / (0.7 * Math.exp(-200 / DEFAULT_DECAY_MS)))) / 200) + 1;
    assert.ok(order.indexOf('b') >= 0 && order.indexOf('b') <= bound, `seed ${seed}: ${order.join('')}`);
    assert.ok(added.served >= 10, `seed ${seed}: ${shares(eps)}`);
  }
});

test('long-lived connections count while open: 10 picks with the first 9 still pending spread over both endpoints', () => {
  // The issue: 10 WebSockets opened through one caller all went to one of two replicas. The
  // tunnels open at once (no 101 back yet) or one after another (each 101 timed before the
  // next pick), after sequential traffic or after a long idle spell. Every tunnel stays open:
  // its lease holds the pending count.
  for (const name of ['peak-ewma', 'least-request', 'round-robin']) {
    for (const idle of [false, true]) {
      for (const oneAfterAnother of [false, true]) {
        for (let seed = 1; seed <= 20; seed++) {
          const sim = new LoadSimulation(seed);
          const eps = [simEndpoint('a', 0, around(1, 0.3)), simEndpoint('b', 0, around(1, 0.3))];
          const bal = createBalancer(name, sim.deps);
          sequential(sim, name, eps, 5, 5_000);
          for (const e of eps) e.served = 0;
          const start = idle ? 600_000 : 5_000;
          for (let k = 0; k < 10; k++) {
            sim.advance(start + k);
            const ep = bal.pick(eps)!;
            ep.load.pending++;
            ep.served++;
            if (oneAfterAnother) ep.load.rtt.observe(ep.latency(sim.random), sim.now);
          }
          // Least request and round robin split 5/5. Peak-EWMA weighs the open tunnels by each
          // replica's estimate; those are within 1.3/0.7, times e^0.2 for one 200 ms gap in
          // sampling (2.3x) of each other, so the split is at worst 7/3 (4/6 was the worst seen).
          const how = `${name}, ${idle ? 'after idling' : 'after traffic'}, ${oneAfterAnother ? 'one after another' : 'at once'}, seed ${seed}`;
          for (const e of eps) assert.ok(e.served >= 3, `${how}: ${shares(eps)}`);
          assert.equal(eps[0]!.load.pending + eps[1]!.load.pending, 10);
        }
      }
    }
  }
});

test('least-request and round-robin: two replicas, sequential requests at 5/s for 10 s, each gets a share', () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    for (const name of ['least-request', 'round-robin']) {
      const sim = new LoadSimulation(seed);
      const eps = [simEndpoint('a', 0, around(1, 0.3)), simEndpoint('b', 0, around(3, 0.3))];
      sequential(sim, name, eps, 5, 10_000);
      // Round robin: exact turns. Least request: nothing is pending at a sequential pick, so the
      // random candidate order decides: each has p = 1/2 per pick, and 10 of 50 is 4 sigma below.
      const floor = name === 'round-robin' ? 25 : 10;
      for (const e of eps) assert.ok(e.served >= floor, `${name} seed ${seed}: ${shares(eps)}`);
    }
  }
});
