import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rate } from './gcra.js';
import { PolicyTable } from './policy-table.js';
import { compileOne, CountingCounters, inbound, limit, req, who } from './test-helpers.js';

describe('GCRA', () => {
  test('a full bucket admits `burst` at once, then one per interval; a refused request says how long to wait', () => {
    const r = new Rate(10, 3); // 100 ms interval
    let tat = 0;
    const now = 1_000;
    for (let i = 0; i < 3; i++) {
      assert.equal(r.wait(tat, now), 0, `request ${i} of the burst`);
      tat = r.next(tat, now);
    }
    assert.equal(r.wait(tat, now), 100);
    assert.equal(r.wait(tat, now + 60), 40);
    assert.equal(r.wait(tat, now + 100), 0);
    // After a long pause the bucket is full again, never fuller.
    assert.equal(r.remaining(tat, now + 10_000), 3);
  });

  test('remaining and the window advertised in RateLimit-Policy', () => {
    const r = new Rate(2, 5);
    assert.equal(r.remaining(0, 1_000), 5);
    assert.equal(r.remaining(r.next(0, 1_000), 1_000), 4);
    assert.equal(r.windowSeconds, 3, '5 requests at 2/s refill in 2.5 s: w is whole seconds, rounded up');
    assert.equal(new Rate(100, 10).windowSeconds, 1, 'at least 1');
  });

  test('fractional rates (one request every 2 s)', () => {
    const r = new Rate(0.5, 1);
    const tat = r.next(0, 0);
    assert.equal(r.wait(tat, 0), 2_000);
    assert.equal(r.wait(tat, 1_999), 1);
    assert.equal(r.wait(tat, 2_000), 0);
  });
});

describe('RateLimitPolicy on a port', () => {
  test('total: all callers together; over it the request is refused and consumes nothing', () => {
    const p = compileOne(inbound({ rateLimits: [limit('orders', { total: { requestsPerSecond: 1, burst: 2 } })] }));
    assert.equal(p.admit(req({ peer: who('a') }), 0), null);
    assert.equal(p.admit(req({ peer: who('b') }), 0), null);
    const over = p.admit(req({ peer: who('c') }), 0);
    assert.equal(over?.label, 'shop/orders');
    assert.equal(p.waitMs, 1_000);
    assert.equal(p.admit(req(), 500)?.label, 'shop/orders');
    assert.equal(p.waitMs, 500, 'the refusals did not push the wait further');
    assert.equal(p.admit(req(), 1_000), null);
  });

  test('perIdentity: each SPIFFE ID its own bucket; callers without identity share one', () => {
    const p = compileOne(inbound({ rateLimits: [limit('fair', { perIdentity: { requestsPerSecond: 1, burst: 1 } })] }));
    assert.equal(p.admit(req({ peer: who('a') }), 0), null);
    assert.notEqual(p.admit(req({ peer: who('a') }), 0), null);
    assert.equal(p.admit(req({ peer: who('b') }), 0), null, 'b has its own bucket');
    assert.equal(p.admit(req({ peer: null }), 0), null);
    assert.notEqual(p.admit(req({ peer: null }), 0), null, 'the anonymous bucket is shared');
  });

  test('overrides give named identities their own rate', () => {
    const p = compileOne(inbound({ rateLimits: [limit('fair', { perIdentity: { requestsPerSecond: 1, burst: 1 }, overrides: [{ principal: who('batch'), requestsPerSecond: 1, burst: 3 }] })] }));
    for (let i = 0; i < 3; i++) assert.equal(p.admit(req({ peer: who('batch') }), 0), null, `batch request ${i}`);
    assert.notEqual(p.admit(req({ peer: who('batch') }), 0), null);
    assert.equal(p.admit(req({ peer: who('web') }), 0), null);
    assert.notEqual(p.admit(req({ peer: who('web') }), 0), null);
    // overrides alone: only the named identities are limited
    const only = compileOne(inbound({ rateLimits: [limit('vip', { overrides: [{ principal: who('batch'), requestsPerSecond: 1, burst: 1 }] })] }));
    for (let i = 0; i < 5; i++) assert.equal(only.admit(req({ peer: who('web') }), 0), null);
    assert.equal(only.admit(req({ peer: who('batch') }), 0), null);
    assert.notEqual(only.admit(req({ peer: who('batch') }), 0), null);
  });

  test('total and perIdentity together: the request needs both, and a refusal by one takes nothing from the other', () => {
    const p = compileOne(inbound({ rateLimits: [limit('both', { total: { requestsPerSecond: 1, burst: 3 }, perIdentity: { requestsPerSecond: 1, burst: 1 } })] }));
    assert.equal(p.admit(req({ peer: who('a') }), 0), null);
    assert.notEqual(p.admit(req({ peer: who('a') }), 0), null, 'a is over its own limit');
    assert.equal(p.admit(req({ peer: who('b') }), 0), null, "a's refusal took nothing from the total");
    assert.equal(p.admit(req({ peer: who('c') }), 0), null);
    assert.notEqual(p.admit(req({ peer: who('d') }), 0), null, 'total spent');
  });

  test('two enforced policies: refused by one, the request is taken from neither', () => {
    const p = compileOne(inbound({ rateLimits: [limit('wide', { total: { requestsPerSecond: 1, burst: 2 } }), limit('narrow', { perIdentity: { requestsPerSecond: 1, burst: 1 } })] }));
    assert.equal(p.admit(req({ peer: who('a') }), 0), null);
    assert.equal(p.admit(req({ peer: who('a') }), 0)?.label, 'shop/narrow');
    assert.equal(p.admit(req({ peer: who('b') }), 0), null, 'wide still has the place the refused request did not take');
  });

  test('the 429 fields (draft-ietf-httpapi-ratelimit-headers) name each exceeded limit', () => {
    const p = compileOne(inbound({ rateLimits: [limit('both', { total: { requestsPerSecond: 2, burst: 1 }, perIdentity: { requestsPerSecond: 0.5, burst: 1 } })] }));
    assert.equal(p.admit(req(), 0), null);
    const l = p.admit(req(), 100);
    assert.ok(l !== null);
    assert.equal(p.waitMs, 1_900);
    assert.deepEqual(l.exceeded(100), {
      policy: ['"shop/both/total";q=1;w=1', '"shop/both/identity";q=1;w=2'],
      limit: ['"shop/both/total";r=0;t=1', '"shop/both/identity";r=0;t=2'],
    });
  });

  test('shadow mode admits everything and counts what enforce would have refused', () => {
    const counters = new CountingCounters();
    const p = compileOne(inbound({ rateLimits: [limit('trial', { mode: 'shadow', total: { requestsPerSecond: 1, burst: 1 } })] }), { counters });
    let over = 0;
    for (let i = 0; i < 5; i++) {
      assert.equal(p.admit(req(), 0), null, 'shadow limits never refuse');
      if (p.shadowCheck(req(), 0) !== null) over++;
    }
    assert.equal(over, 4);
    assert.equal(counters.get('shop/trial|shadow|admitted'), 1);
    assert.equal(counters.get('shop/trial|shadow|limited'), 4);
  });

  test('enforced decisions are counted per policy', () => {
    const counters = new CountingCounters();
    const p = compileOne(inbound({ rateLimits: [limit('orders', { total: { requestsPerSecond: 1, burst: 1 } })] }), { counters });
    p.admit(req(), 0);
    p.admit(req(), 0);
    p.admit(req(), 0);
    assert.equal(counters.get('shop/orders|enforce|admitted'), 1);
    assert.equal(counters.get('shop/orders|enforce|limited'), 2);
  });

  test('a policy on a route limits only the requests that route selects', () => {
    const route = { kind: 'HTTPRoute' as const, namespace: 'shop', name: 'search', createdAt: 0, rules: [{ matches: [{ path: { type: 'PathPrefix' as const, value: '/search' } }], backends: [{ cluster: 'shop/api:http' }] }] };
    const p = compileOne(inbound({ rateLimits: [limit('search', { route, total: { requestsPerSecond: 1, burst: 1 } })] }));
    assert.equal(p.admit(req({ path: '/search' }), 0), null);
    assert.notEqual(p.admit(req({ path: '/search/x' }), 0), null);
    assert.equal(p.admit(req({ path: '/cart' }), 0), null);
    assert.equal(p.admit(req({ path: '/cart' }), 0), null);
  });

  test('explain says which limits cover a request and never takes from a bucket', () => {
    const p = compileOne(inbound({ healthCheck: { httpPaths: ['/healthz'], grpc: false }, rateLimits: [limit('one', { total: { requestsPerSecond: 1, burst: 1 } })] }));
    assert.deepEqual(p.explain(req()).rateLimits, [{ policy: 'shop/one', mode: 'enforce', applies: true }]);
    assert.deepEqual(p.explain(req({ path: '/healthz' })).rateLimits, [{ policy: 'shop/one', mode: 'enforce', applies: false }]);
    assert.equal(p.admit(req(), 0), null, 'explain took nothing');
  });
});

describe('PolicyTable', () => {
  const one = (rps: number) => [inbound({ rateLimits: [limit('orders', { total: { requestsPerSecond: rps, burst: 1 } })] })];

  test('buckets survive a new snapshot while the policy stays, and start full once it was removed', () => {
    const t = new PolicyTable();
    assert.equal(t.slot('http').current, null);
    const slot = { get current() { return t.get('http'); } };
    const a = t.prepare(one(1));
    assert.ok(a.ok);
    a.commit();
    assert.equal(t.slot('http').current, t.get('http'), 'the slot a stage holds sees the commit');
    assert.notEqual(t.get('http'), null);
    assert.equal(slot.current?.admit(req(), 0), null);
    assert.notEqual(slot.current?.admit(req(), 0), null);
    const b = t.prepare(one(1));
    assert.ok(b.ok);
    b.commit();
    assert.notEqual(slot.current?.admit(req(), 0), null, 'the new snapshot kept the spent bucket');
    const none = t.prepare([inbound()]);
    assert.ok(none.ok);
    none.commit();
    assert.equal(slot.current?.hasRateLimits, false);
    const c = t.prepare(one(1));
    assert.ok(c.ok);
    c.commit();
    assert.equal(slot.current?.admit(req(), 0), null, 'removed, then added: a new full bucket');
  });

  test('a global share that changes keeps the bucket\'s level: no fresh burst when a replica leaves, and it keeps admitting when one joins', () => {
    // 60 rps, burst 60 split over 3 replicas (20/20), then 2 (30/30), then 4 (15/15), as the
    // control plane's globalShare gives them; the same PolicyTable, as a proxy across pushes.
    const share = (n: number) => [inbound({ rateLimits: [limit('global', { total: { requestsPerSecond: 60 / n, burst: 60 / n, global: { requestsPerSecond: 60, burst: 60, replicas: n } } })] })];
    const t = new PolicyTable();
    const push = (n: number): void => {
      const p = t.prepare(share(n));
      assert.ok(p.ok);
      p.commit();
    };
    /** Requests admitted at `now` until the first refusal. */
    const drain = (now: number): number => {
      let n = 0;
      while (t.get('http')?.admit(req(), now) === null) n++;
      return n;
    };
    push(3);
    assert.equal(drain(1_000), 20, 'a full share at first');
    push(2);
    assert.ok(drain(1_000) <= 1, 'the share grew, but the spent bucket did not refill');
    // Half a second later: half the bucket's depth at the new share (30 rps): about 15, not 30.
    const half = drain(1_500);
    assert.ok(half >= 14 && half <= 16, `admitted ${half} after 0.5 s at 30 rps`);
    push(4);
    assert.ok(drain(1_500) <= 1, 'the share shrank: still spent');
    const later = drain(2_500);
    assert.ok(later >= 14 && later <= 15, `a full bucket at the new share after 1 s: ${later}`);
  });

  test('a refused config changes nothing; a port left out of a snapshot has no policy', () => {
    const t = new PolicyTable();
    const ok = t.prepare([inbound({ defaultAction: 'deny' })]);
    assert.ok(ok.ok);
    ok.commit();
    const bad = t.prepare([inbound({ defaultAction: 'never' as 'deny' })]);
    assert.equal(bad.ok, false);
    assert.equal(t.get('http')?.config.defaultAction, 'deny');
    const other = t.prepare([inbound({ port: 'grpc' })]);
    assert.ok(other.ok);
    other.commit();
    assert.equal(t.get('http'), null);
    assert.equal(t.slot('grpc').current?.port, 'grpc');
  });
});
