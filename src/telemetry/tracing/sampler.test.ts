import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createIdGenerator } from './ids.js';
import { parentBasedSampler, traceIdRatio } from './sampler.js';

/** A deterministic byte stream (xorshift32), so the rate test always sees the same ids. */
function seededIds(seed: number) {
  let x = seed;
  return createIdGenerator((buf) => {
    for (let i = 0; i < buf.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      buf[i] = x & 0xff;
    }
  });
}

test('parent decision is honoured both ways, whatever the ratio', () => {
  const trace = 'ffffffffffffffffffffffffffffffff';
  assert.equal(parentBasedSampler(0).shouldSample(trace, true), true);
  assert.equal(parentBasedSampler(1).shouldSample(trace, false), false);
});

test('ratio sampler: deterministic on the trace id, decided by its lower 64 bits', () => {
  const half = traceIdRatio(0.5);
  assert.equal(half('ffffffffffffffff0000000000000001'), true);
  assert.equal(half('00000000000000007fffffffffffffff'), true);
  assert.equal(half('00000000000000008000000000000001'), false);
  assert.equal(half('0000000000000000ffffffffffffffff'), false);
  const s = parentBasedSampler(0.25);
  const ids = seededIds(7);
  for (let i = 0; i < 100; i++) {
    const t = ids.traceId();
    assert.equal(s.shouldSample(t, undefined), s.shouldSample(t, undefined));
    assert.equal(s.shouldSample(t, undefined), parentBasedSampler(0.25).shouldSample(t, undefined));
  }
  assert.equal(traceIdRatio(0)('0000000000000000000000000000000f'), false);
  assert.equal(traceIdRatio(1)('ffffffffffffffffffffffffffffffff'), true);
  assert.throws(() => traceIdRatio(1.5), RangeError);
  assert.throws(() => traceIdRatio(Number.NaN), RangeError);
});

test('ratio sampler samples the configured share of new traces (within 2%)', () => {
  const ids = seededIds(12345);
  for (const ratio of [0.01, 0.1, 0.5, 0.9]) {
    const s = parentBasedSampler(ratio);
    let sampled = 0;
    const n = 20_000;
    for (let i = 0; i < n; i++) if (s.shouldSample(ids.traceId(), undefined)) sampled++;
    assert.ok(Math.abs(sampled / n - ratio) < 0.02, `ratio ${ratio}: sampled ${sampled} of ${n}`);
  }
});
