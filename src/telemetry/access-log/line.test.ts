import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AccessLineFormatter } from './line.js';
import type { AccessRecord } from './record.js';

const base: AccessRecord = { direction: 'inbound', listener: 'http', protocol: 'http', bytesIn: 1, bytesOut: 2, durationMs: 0.5, startedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 67) };

/** What the previous implementation wrote (and what the line must still equal, parsed), with durationMs to the microsecond. */
function reference(r: AccessRecord): unknown {
  const durationMs = r.durationMs >= 0 && r.durationMs < 1e9 ? Math.round(r.durationMs * 1000) / 1000 : r.durationMs;
  return JSON.parse(JSON.stringify({ time: new Date(r.startedAt).toISOString(), ...r, durationMs, startedAt: undefined })) as unknown;
}

test('a line is one JSON object and a newline, fields in the documented order', () => {
  const line = new AccessLineFormatter().format({ ...base, method: 'GET', target: '/x', status: 200, traceId: 'a'.repeat(32), spanId: 'b'.repeat(16) });
  assert.ok(line.endsWith('}\n'));
  assert.equal(line.indexOf('\n'), line.length - 1);
  assert.deepEqual(Object.keys(JSON.parse(line) as object), ['time', 'direction', 'listener', 'protocol', 'method', 'target', 'status', 'bytesIn', 'bytesOut', 'durationMs', 'traceId', 'spanId']);
  assert.equal((JSON.parse(line) as { time: string }).time, '2026-01-02T03:04:05.067Z');
});

test('the policy fields of an inbound line come last, in order', () => {
  const line = new AccessLineFormatter().format({ ...base, status: 403, reason: 'unauthorized', policy: 'shop/no-admin', audit: 'shop/watch', rateLimit: 'shop/orders' });
  assert.deepEqual(Object.keys(JSON.parse(line) as object).slice(-3), ['policy', 'audit', 'rateLimit']);
  assert.match(line, /"policy":"shop\/no-admin","audit":"shop\/watch","rateLimit":"shop\/orders"\}/);
});

test('hostile strings (quotes, backslashes, control characters, lone surrogates) parse back exactly', () => {
  const hostile = ['"', '\\', '\\"', '\u0000', '\n\r\t\b\f', '\u001f\u007f', '\ud800', '\udfff', 'a\ud83d', '\ud83d\ude00', '</script>', '\u2028\u2029', '{"a":1}', ''];
  const f = new AccessLineFormatter();
  for (const s of hostile) {
    const r: AccessRecord = { ...base, method: s, target: s, reason: s, peerIdentity: s, upstream: s, listener: s, traceId: s, spanId: s };
    const line = f.format(r);
    // One line whatever the input: no raw newline before the end.
    assert.equal(line.indexOf('\n'), line.length - 1, JSON.stringify(s));
    // Valid UTF-8 once written: no lone surrogate survives raw.
    assert.equal(Buffer.from(line, 'utf8').toString('utf8'), line, JSON.stringify(s));
    assert.deepEqual(JSON.parse(line), reference(r), JSON.stringify(s));
  }
});

test('any record formats to what JSON.stringify of it would (property-based)', () => {
  const f = new AccessLineFormatter();
  const text = fc.option(fc.string({ unit: 'binary' }), { nil: undefined });
  const number = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
  fc.assert(
    fc.property(
      fc.record({
        direction: fc.constantFrom('inbound' as const, 'outbound' as const),
        listener: fc.string({ unit: 'binary' }),
        protocol: fc.constantFrom('http' as const, 'http2' as const, 'tcp' as const),
        method: text,
        target: text,
        status: fc.option(fc.integer({ min: 0, max: 999 }), { nil: undefined }),
        reason: text,
        peerIdentity: text,
        upstream: text,
        bytesIn: number,
        bytesOut: number,
        durationMs: number,
        startedAt: fc.integer({ min: 0, max: 253_402_300_799_999 }),
        traceId: text,
        spanId: text,
        policy: text,
        audit: text,
        rateLimit: text,
      }),
      (r) => {
        const line = f.format(r);
        assert.deepEqual(JSON.parse(line), reference(r));
      },
    ),
    { numRuns: 2000 },
  );
});

test('numbers JSON cannot hold and times no Date can hold become null instead of throwing', () => {
  const line = new AccessLineFormatter().format({ ...base, durationMs: Number.NaN, bytesIn: Infinity, startedAt: Number.NaN });
  const parsed = JSON.parse(line) as Record<string, unknown>;
  assert.equal(parsed.durationMs, null);
  assert.equal(parsed.bytesIn, null);
  assert.equal(parsed.time, null);
  assert.equal((JSON.parse(new AccessLineFormatter().format({ ...base, startedAt: 1e20 })) as { time: unknown }).time, null);
});

test('durationMs is written to the microsecond, as short as it reads', () => {
  const f = new AccessLineFormatter();
  const text = (durationMs: number): string => /"durationMs":([^,}]*)/.exec(f.format({ ...base, durationMs }))![1]!;
  assert.deepEqual(
    [0, 7, 12.3, 12.34, 12.345, 12.3456, 0.045, 0.0004, 0.0005, 1.05, 1.005, 999.9999, -1.5, 2e9].map(text),
    ['0', '7', '12.3', '12.34', '12.345', '12.346', '0.045', '0', '0.001', '1.05', '1.005', '1000', '-1.5', '2000000000'],
  );
});

test('the per-second time cache never reuses a stale second', () => {
  const f = new AccessLineFormatter();
  const times = [999, 1000, 1999, 59_999, 60_000, 999, 86_400_000 - 1, 86_400_000];
  for (const t of times) assert.equal((JSON.parse(f.format({ ...base, startedAt: t })) as { time: string }).time, new Date(t).toISOString());
});
