import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bucketOf, bucketValue, changedNodes, readBucket, SNAPSHOT_BUCKETS } from './snapshot-buckets.js';

test('a node always lands in the same bucket, and a thousand nodes spread over all of them', () => {
  assert.equal(bucketOf('default/web/0'), bucketOf('default/web/0'));
  const counts = new Map<string, number>();
  for (let i = 0; i < 1000; i++) {
    const b = bucketOf(`default/svc-${Math.floor(i / 10)}/${i % 10}`);
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  assert.equal(counts.size, SNAPSHOT_BUCKETS);
  assert.ok(Math.max(...counts.values()) < 40, `no bucket holds many more than 1000/64: ${Math.max(...counts.values())}`);
});

test('a rewrite keeps the other entries at their versions; claimed entries take the revision of the write', () => {
  const first = readBucket(Buffer.from(bucketValue(undefined, new Map([['a', 'h1'], ['b', 'h2']]), 7)), 100);
  assert.deepEqual(first, new Map([['a', { version: 100, hash: 'h1', basis: 7 }], ['b', { version: 100, hash: 'h2', basis: 7 }]]));
  // b is claimed again at revision 120; a keeps 100 (written out), c is forgotten.
  const withC = new Map(first);
  withC.set('c', { version: 90, hash: 'h3', basis: 5 });
  const value = bucketValue(withC, new Map([['b', 'h4']]), 9, new Set(['c']));
  assert.deepEqual(JSON.parse(value), { a: { hash: 'h1', basis: 7, version: 100 }, b: { hash: 'h4', basis: 9 } });
  const second = readBucket(Buffer.from(value), 120);
  assert.deepEqual(second?.get('a'), { version: 100, hash: 'h1', basis: 7 });
  assert.deepEqual(second?.get('b'), { version: 120, hash: 'h4', basis: 9 });
  assert.deepEqual(changedNodes(withC, second ?? undefined).sort(), ['b', 'c']);
});

test('malformed bucket values are refused whole or entry by entry, never thrown', () => {
  for (const bad of ['', 'not json', '[]', 'null', '42']) assert.equal(readBucket(Buffer.from(bad), 1), null, bad);
  const partly = readBucket(Buffer.from(JSON.stringify({ ok: { hash: 'h', basis: 1 }, noHash: { basis: 1 }, nul: null, str: 'x' })), 5);
  assert.deepEqual(partly, new Map([['ok', { version: 5, hash: 'h', basis: 1 }]]));
});
