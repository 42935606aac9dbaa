import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extract, extractFromRecord, formatsFor, inject, MAX_TRACESTATE_LENGTH, parseB3Single, parseTraceparent, TRACE_HEADERS } from './context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

test('traceparent: valid and invalid values (W3C Trace Context, section 3.2)', () => {
  const valid: [string, boolean][] = [
    [`00-${TRACE}-${SPAN}-01`, true],
    [`00-${TRACE}-${SPAN}-00`, false],
    [`00-${TRACE}-${SPAN}-09`, true], // unknown flag bits ignored, sampled bit read
    [`00-${TRACE}-${SPAN}-fe`, false],
    // future versions: read as 00 when the first 55 characters fit; more must follow a '-'
    [`01-${TRACE}-${SPAN}-01`, true],
    [`cc-${TRACE}-${SPAN}-01-what-the-future-will-be-like`, true],
  ];
  for (const [value, sampled] of valid) {
    assert.deepEqual(parseTraceparent(value), { traceId: TRACE, parentId: SPAN, sampled }, value);
  }
  const invalid = [
    '',
    `ff-${TRACE}-${SPAN}-01`, // version ff is forbidden
    `00-${TRACE}-${SPAN}-01-extra`, // version 00 has exactly 55 characters
    `cc-${TRACE}-${SPAN}-01.extra`, // future version: extra data must follow '-'
    `00-${TRACE.toUpperCase()}-${SPAN}-01`, // upper case rejected
    `00-${TRACE}-${SPAN.toUpperCase()}-01`,
    `00-${TRACE}-${SPAN}-0A`,
    `0A-${TRACE}-${SPAN}-01`,
    `00-${'0'.repeat(32)}-${SPAN}-01`, // all-zero trace id
    `00-${TRACE}-${'0'.repeat(16)}-01`, // all-zero parent id
    `00-${TRACE.slice(1)}-${SPAN}-01`, // short trace id
    `00-${TRACE}-${SPAN}0-1`,
    `00_${TRACE}_${SPAN}_01`,
    `00-${TRACE.slice(0, 31)}g-${SPAN}-01`,
  ];
  for (const value of invalid) assert.equal(parseTraceparent(value), null, value);
});

test('b3 single header: ids, sampling states, decision only, invalid forms', () => {
  assert.deepEqual(parseB3Single(`${TRACE}-${SPAN}-1-${'a'.repeat(16)}`), { traceId: TRACE, parentSpanId: SPAN, sampled: true, tracestate: undefined, format: 'b3single' });
  assert.equal(parseB3Single(`${TRACE}-${SPAN}`)?.sampled, undefined); // deferred
  assert.equal(parseB3Single(`${TRACE}-${SPAN}-0`)?.sampled, false);
  assert.equal(parseB3Single(`${TRACE}-${SPAN}-d`)?.sampled, true); // debug
  // 64-bit trace id: left-padded to 128 bits
  assert.equal(parseB3Single(`a3ce929d0e0e4736-${SPAN}-1`)?.traceId, '0000000000000000a3ce929d0e0e4736');
  assert.deepEqual(parseB3Single('0'), { traceId: undefined, parentSpanId: undefined, sampled: false, tracestate: undefined, format: 'b3single' });
  assert.equal(parseB3Single('1')?.sampled, true);
  for (const bad of ['', '2', `${TRACE}`, `${TRACE}-`, `${TRACE}-${SPAN}-x`, `${TRACE}-${SPAN}-1-zz`, `${TRACE.toUpperCase()}-${SPAN}-1`, `${TRACE.slice(2)}-${SPAN}-1`, `${'0'.repeat(32)}-${SPAN}-1`, `${TRACE}-${'0'.repeat(16)}-1`]) {
    assert.equal(parseB3Single(bad), null, bad);
  }
});

test('b3 multi headers: 64 and 128 bit ids, sampled, debug flag, sampled alone', () => {
  assert.deepEqual(extract(['x-b3-traceid', TRACE, 'x-b3-spanid', SPAN, 'x-b3-parentspanid', 'a'.repeat(16), 'x-b3-sampled', '1']), {
    traceId: TRACE,
    parentSpanId: SPAN,
    sampled: true,
    tracestate: undefined,
    format: 'b3multi',
  });
  assert.equal(extract(['x-b3-traceid', 'a3ce929d0e0e4736', 'x-b3-spanid', SPAN])?.traceId, '0000000000000000a3ce929d0e0e4736');
  assert.equal(extract(['x-b3-traceid', TRACE, 'x-b3-spanid', SPAN])?.sampled, undefined);
  assert.equal(extract(['x-b3-traceid', TRACE, 'x-b3-spanid', SPAN, 'x-b3-sampled', 'false'])?.sampled, false);
  assert.equal(extract(['x-b3-traceid', TRACE, 'x-b3-spanid', SPAN, 'x-b3-sampled', '0', 'x-b3-flags', '1'])?.sampled, true);
  assert.deepEqual(extract(['x-b3-sampled', '0']), { traceId: undefined, parentSpanId: undefined, sampled: false, tracestate: undefined, format: 'b3multi' });
  assert.equal(extract(['x-b3-traceid', TRACE]), null); // span id required
  assert.equal(extract(['x-b3-spanid', SPAN, 'x-b3-sampled', '1']), null);
  assert.equal(extract(['x-b3-traceid', TRACE, 'x-b3-spanid', SPAN, 'x-b3-sampled', 'yes']), null);
  assert.equal(extract(['x-b3-traceid', TRACE.slice(0, 20), 'x-b3-spanid', SPAN]), null);
});

test('extract: precedence traceparent > b3 > x-b3-*, and an invalid format does not hide a valid one', () => {
  const other = 'a'.repeat(32);
  const all = ['traceparent', `00-${TRACE}-${SPAN}-01`, 'b3', `${other}-${SPAN}-1`, 'x-b3-traceid', 'b'.repeat(32), 'x-b3-spanid', SPAN];
  assert.equal(extract(all)?.format, 'w3c');
  assert.equal(extract(all)?.b3Format, 'b3single'); // written back beside traceparent
  assert.equal(extract(all)?.traceId, TRACE);
  assert.equal(extract(all.slice(2))?.format, 'b3single');
  assert.equal(extract(all.slice(2))?.traceId, other);
  assert.equal(extract(all.slice(4))?.format, 'b3multi');
  assert.equal(extract(['traceparent', 'garbage', ...all.slice(2)])?.format, 'b3single');
  assert.equal(extract(['traceparent', 'garbage', 'b3', 'garbage', ...all.slice(4)])?.format, 'b3multi');
  assert.equal(extract(['content-type', 'text/plain', 'host', 'x']), null);
  assert.equal(extract([]), null);
  // two traceparent fields: invalid (W3C)
  assert.equal(extract(['traceparent', `00-${TRACE}-${SPAN}-01`, 'traceparent', `00-${TRACE}-${SPAN}-01`]), null);
});

test('tracestate: passed through with traceparent, fields combined, dropped when too long or alone', () => {
  const tp = `00-${TRACE}-${SPAN}-01`;
  assert.equal(extract(['traceparent', tp, 'tracestate', 'congo=t61rcWkgMzE'])?.tracestate, 'congo=t61rcWkgMzE');
  assert.equal(extract(['tracestate', 'a=1', 'traceparent', tp, 'tracestate', 'b=2'])?.tracestate, 'a=1,b=2');
  assert.equal(extract(['traceparent', tp, 'tracestate', 'a='.padEnd(MAX_TRACESTATE_LENGTH, 'x')])?.tracestate?.length, MAX_TRACESTATE_LENGTH);
  assert.equal(extract(['traceparent', tp, 'tracestate', 'a='.padEnd(MAX_TRACESTATE_LENGTH + 1, 'x')])?.tracestate, undefined);
  assert.equal(extract(['tracestate', 'a=1']), null); // tracestate without traceparent is ignored
});

test('extractFromRecord reads node header objects like extract reads flat arrays', () => {
  assert.deepEqual(
    extractFromRecord({ traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'a=1', host: 'x' }),
    extract(['traceparent', `00-${TRACE}-${SPAN}-01`, 'tracestate', 'a=1']),
  );
  assert.equal(extractFromRecord({ b3: '0' })?.sampled, false);
  assert.equal(extractFromRecord({ host: 'x' }), null);
});

test('inject writes W3C plus the B3 form the caller used, and each round-trips through extract', () => {
  const out = { traceId: TRACE, parentSpanId: 'a'.repeat(16), sampled: true, tracestate: 'a=1' };
  const next = '1234567890abcdef';
  assert.deepEqual(inject(out, next, formatsFor(extract(['traceparent', `00-${TRACE}-${SPAN}-01`]))), ['traceparent', `00-${TRACE}-${next}-01`, 'tracestate', 'a=1']);
  assert.deepEqual(inject(out, next, formatsFor(extract(['b3', '1']))), ['traceparent', `00-${TRACE}-${next}-01`, 'tracestate', 'a=1', 'b3', `${TRACE}-${next}-1-${'a'.repeat(16)}`]);
  assert.deepEqual(inject({ ...out, sampled: false }, next, formatsFor(extract(['traceparent', `00-${TRACE}-${SPAN}-01`, 'x-b3-sampled', '1']))).slice(4), [
    'x-b3-traceid', TRACE, 'x-b3-spanid', next, 'x-b3-parentspanid', 'a'.repeat(16), 'x-b3-sampled', '0',
  ]);
  for (const format of ['b3single', 'b3multi'] as const) {
    const headers = inject(out, next, [format]);
    assert.deepEqual(extract(headers), { traceId: TRACE, parentSpanId: next, sampled: true, tracestate: undefined, format });
  }
  assert.deepEqual(extract(inject(out, next)), { traceId: TRACE, parentSpanId: next, sampled: true, tracestate: 'a=1', format: 'w3c', b3Format: undefined });
  for (let i = 0; i < inject(out, next, ['w3c', 'b3multi']).length; i += 2) assert.ok(TRACE_HEADERS.has(inject(out, next, ['w3c', 'b3multi'])[i]!));
});
