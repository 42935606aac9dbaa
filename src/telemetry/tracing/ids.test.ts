import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createIdGenerator, randomIds } from './ids.js';

test('ids are lower-hex of the right length and differ', () => {
  const ids = randomIds();
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const t = ids.traceId();
    const s = ids.spanId();
    assert.match(t, /^[0-9a-f]{32}$/);
    assert.match(s, /^[0-9a-f]{16}$/);
    seen.add(t);
  }
  // 2000 draws over a pool of 4096 bytes: the pool was refilled, and no id repeated
  assert.equal(seen.size, 2000);
});

test('injected fill: ids come from the pool in order, and all-zero ids are skipped', () => {
  let fills = 0;
  const ids = createIdGenerator((buf) => {
    fills++;
    // first 16 bytes zero (an all-zero trace id), then 1, 2, 3, ...
    for (let i = 0; i < buf.length; i++) buf[i] = i < 16 ? 0 : (i - 15) & 0xff;
  });
  assert.equal(ids.traceId(), '0102030405060708090a0b0c0d0e0f10');
  assert.equal(ids.spanId(), '1112131415161718');
  assert.equal(fills, 1);
  for (let i = 0; i < 4096 / 8; i++) ids.spanId();
  assert.equal(fills, 2);
});
