import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { extract, inject, parseB3Single, parseTraceparent, type TraceFormat } from './context.js';
import { OtlpTraceReceiver } from './receiver.js';

const SEED = 20261125;
const hexChar = fc.constantFrom(...'0123456789abcdef'.split(''));
const hex = (n: number) => fc.string({ unit: hexChar, minLength: n, maxLength: n }).filter((s) => /[1-9a-f]/.test(s));
const nearHex = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF-xz '.split('')), maxLength: 70 });
const headerName = fc.constantFrom('traceparent', 'tracestate', 'b3', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'host');

test('parsers never throw and accept only well-formed values', () => {
  fc.assert(
    fc.property(nearHex, (s) => {
      const tp = parseTraceparent(s);
      if (tp !== null) assert.match(`${tp.traceId}-${tp.parentId}`, /^[0-9a-f]{32}-[0-9a-f]{16}$/);
      const b3 = parseB3Single(s);
      if (b3?.traceId !== undefined) assert.match(b3.traceId, /^[0-9a-f]{32}$/);
    }),
    { seed: SEED, numRuns: 3000 },
  );
  fc.assert(
    fc.property(fc.array(fc.tuple(headerName, fc.oneof(nearHex, fc.string({ maxLength: 80 }))), { maxLength: 10 }), (pairs) => {
      const ctx = extract(pairs.flat());
      if (ctx?.traceId !== undefined) assert.match(ctx.traceId, /^[0-9a-f]{32}$/);
      if (ctx?.parentSpanId !== undefined) assert.match(ctx.parentSpanId, /^[0-9a-f]{16}$/);
    }),
    { seed: SEED, numRuns: 3000 },
  );
});

test('inject then extract gives back the trace, the new parent and the decision, in every format', () => {
  fc.assert(
    fc.property(hex(32), hex(16), hex(16), fc.boolean(), fc.constantFrom<TraceFormat>('w3c', 'b3single', 'b3multi'), (traceId, parent, span, sampled, format) => {
      const ctx = extract(inject({ traceId, parentSpanId: parent, sampled }, span, [format]));
      assert.equal(ctx?.traceId, traceId);
      assert.equal(ctx?.parentSpanId, span);
      assert.equal(ctx?.sampled, sampled);
      assert.equal(ctx?.format, format);
    }),
    { seed: SEED, numRuns: 1000 },
  );
});

test('the receiver never throws on arbitrary JSON', () => {
  const receiver = new OtlpTraceReceiver();
  fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 6 }), (body) => {
      receiver.parse(body);
      receiver.parse({ resourceSpans: [{ scopeSpans: [{ spans: [body] }] }] });
    }),
    { seed: SEED, numRuns: 1000 },
  );
});
