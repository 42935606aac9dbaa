import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConsistentHashBalancer } from './consistent-hash.js';
import { hash32 } from './hash.js';
import { compileHashPolicy, findCookie, requestHash } from './hash-key.js';
import { newLoadRecord } from './peak-ewma.js';
import type { Balanced } from './types.js';

function ep(key: string): Balanced {
  return { key, load: newLoadRecord() };
}

const deps = { random: () => 0.5, now: () => 0 };
const KEYS = Array.from({ length: 2000 }, (_, i) => hash32(`user-${i}`));

function mapping(bal: ConsistentHashBalancer, eps: readonly Balanced[]): string[] {
  return KEYS.map((h) => bal.pick(eps, undefined, h)!.key);
}

test('consistent-hash: the same key maps to the same endpoint while the set is unchanged', () => {
  const eps = ['10.0.0.1:1', '10.0.0.2:1', '10.0.0.3:1', '10.0.0.4:1'].map(ep);
  const bal = new ConsistentHashBalancer(deps);
  const first = mapping(bal, eps);
  assert.deepEqual(mapping(bal, eps), first);
  // a new array with the same endpoints (a snapshot that changed nothing) does not rebuild the ring
  assert.deepEqual(mapping(bal, [...eps]), first);
  assert.equal(bal.builds, 1);
  // every endpoint gets a fair share (160 points each)
  for (const e of eps) {
    const share = first.filter((k) => k === e.key).length / KEYS.length;
    assert.ok(share > 0.15 && share < 0.35, `${e.key} share ${share}`);
  }
  // another balancer (another proxy) with the endpoints in another order agrees
  assert.deepEqual(mapping(new ConsistentHashBalancer(deps), [...eps].reverse()), first);
});

test('consistent-hash: when one endpoint of five leaves, only its keys (~1/5) move', () => {
  const eps = ['a:1', 'b:1', 'c:1', 'd:1', 'e:1'].map(ep);
  const bal = new ConsistentHashBalancer(deps);
  const before = mapping(bal, eps);
  const after = mapping(bal, eps.filter((e) => e.key !== 'c:1'));
  assert.equal(bal.builds, 2);
  let moved = 0;
  for (let i = 0; i < KEYS.length; i++) {
    if (before[i] === after[i]) continue;
    moved++;
    assert.equal(before[i], 'c:1', 'a key not on the removed endpoint never moves');
  }
  const share = moved / KEYS.length;
  assert.ok(share > 0.12 && share < 0.28, `moved ${share}`);
});

test('consistent-hash: an excluded endpoint passes its keys on; without a key the pick is random', () => {
  const eps = ['a:1', 'b:1', 'c:1'].map(ep);
  const bal = new ConsistentHashBalancer(deps);
  const before = mapping(bal, eps);
  const without = KEYS.map((h) => bal.pick(eps, new Set([eps[0]!]), h)!.key);
  for (let i = 0; i < KEYS.length; i++) {
    if (before[i] !== 'a:1') assert.equal(without[i], before[i]);
    else assert.notEqual(without[i], 'a:1');
  }
  assert.equal(bal.pick(eps, new Set(eps), 42), undefined);
  assert.equal(new ConsistentHashBalancer({ random: () => 0, now: () => 0 }).pick(eps)?.key, 'a:1');
  assert.equal(new ConsistentHashBalancer({ random: () => 0.99, now: () => 0 }).pick(eps)?.key, 'c:1');
});

test('hash key from a header: first value; absent means no key', () => {
  const policy = compileHashPolicy({ header: 'X-User' })!;
  const h = requestHash(policy, ['x-user', 'alice', 'x-user', 'bob'], Math.random);
  assert.equal(h.hash, hash32('alice'));
  assert.equal(h.responseHeaders, undefined);
  assert.equal(requestHash(policy, ['host', 'x'], Math.random).hash, undefined);
});

test('hash key from a cookie: honoured when present, made up and set when absent', () => {
  const policy = compileHashPolicy({ cookie: { name: 'sticky', ttlMs: 3_600_000 } })!;
  const present = requestHash(policy, ['cookie', 'a=1; sticky=abc123; b=2'], () => 0);
  assert.equal(present.hash, hash32('abc123'));
  assert.equal(present.responseHeaders, undefined);

  const made = requestHash(policy, ['cookie', 'other=1'], () => 0.5);
  assert.deepEqual(made.responseHeaders, ['set-cookie', 'sticky=8000000080000000; Path=/; HttpOnly; Max-Age=3600']);
  assert.equal(made.hash, hash32('8000000080000000'));
  // the client sends it back: same hash, so the same endpoint
  const back = requestHash(policy, ['cookie', 'sticky=8000000080000000'], () => 0.1);
  assert.equal(back.hash, made.hash);

  const session = compileHashPolicy({ cookie: { name: 's', ttlMs: 0 } })!;
  assert.deepEqual(requestHash(session, [], () => 0).responseHeaders, ['set-cookie', 's=0000000000000000; Path=/; HttpOnly']);
});

test('findCookie: split cookie fields (h2), spaces, quotes, prefixes of other names', () => {
  assert.equal(findCookie(['cookie', 'ab=1', 'cookie', 'a=2'], 'a'), '2');
  assert.equal(findCookie(['cookie', ' a = "q" ;b=3'], 'a'), 'q');
  assert.equal(findCookie(['cookie', 'aa=1'], 'a'), undefined);
});
