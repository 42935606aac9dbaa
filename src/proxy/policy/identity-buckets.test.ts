import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { IdentityBuckets } from './identity-buckets.js';
import { compileOne, inbound, limit, req, who } from './test-helpers.js';

test('the least recently seen caller is the one forgotten, and comes back with a full bucket', () => {
  const b = new IdentityBuckets(3);
  for (const k of ['a', 'b', 'c']) b.setTat(b.slot(k), 1_000);
  b.slot('a'); // a is now the most recent; b the least
  b.slot('d');
  assert.equal(b.size, 3);
  assert.equal(b.has('b'), false);
  assert.deepEqual(['a', 'c', 'd'].map((k) => b.has(k)), [true, true, true]);
  assert.equal(b.evictions, 1);
  assert.equal(b.tat(b.slot('a')), 1_000, 'a kept its state');
  assert.equal(b.tat(b.slot('b')), 0, 'b is new again: a full bucket');
  assert.equal(b.has('c'), false, 'c was the least recent when b came back');
});

test('slots grow by doubling and never past the capacity', () => {
  const b = new IdentityBuckets(100);
  for (let i = 0; i < 17; i++) b.slot(`k${i}`);
  assert.equal(b.allocated, 32);
  for (let i = 0; i < 1_000; i++) b.slot(`x${i}`);
  assert.equal(b.allocated, 100);
  assert.equal(b.size, 100);
});

/** Heap in use after a full collection (gc exposed for this process: tests run without flags). */
function heapAfterGc(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

test('memory stays flat under 100,000 distinct identities (per-identity limit, the proxy code path)', () => {
  const capacity = 1_000;
  const p = compileOne(inbound({ rateLimits: [limit('fair', { perIdentity: { requestsPerSecond: 1, burst: 1 } })] }), { identityCapacity: capacity });
  const limiter = p.enforce[0];
  assert.ok(limiter !== undefined);
  const ids = limiter.state.identities;
  const run = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      assert.equal(p.admit(req({ peer: who(`caller-${i}`) }), i), null, 'a new caller has a full bucket');
    }
  };
  run(0, 10_000); // warm up: every slot allocated, the map at its largest
  const before = heapAfterGc();
  run(10_000, 110_000);
  const after = heapAfterGc();
  assert.equal(ids.size, capacity);
  assert.equal(ids.allocated, capacity);
  assert.equal(ids.evictions, 110_000 - capacity);
  // 100,000 more identities: remembering them would take several MB (a key string and a slot
  // each); the table holds the same 1,000 slots, so the heap moves by far less than that.
  const grown = after - before;
  assert.ok(grown < 1_000_000, `heap grew by ${grown} bytes over 100,000 identities`);
});
