import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TraceSpanView } from '../../src/api/traces.js';
import { DURATION_INSIDE_FROM_PCT, MIN_BAR_PCT, orderSpans, spanTimeline } from '../../web/src/views/traces/span-tree.js';

function span(spanId: string, parentSpanId: string | undefined, startMs: number, durationMs = 1): TraceSpanView {
  return {
    traceId: 't1',
    spanId,
    ...(parentSpanId !== undefined ? { parentSpanId } : {}),
    service: 'default/web',
    name: spanId,
    kind: 'server',
    startTimeUnixNano: '0',
    endTimeUnixNano: '0',
    startMs,
    durationMs,
    status: 'ok',
    attributes: {},
  };
}

const order = (spans: TraceSpanView[]): string[] => orderSpans(spans).map((r) => `${r.span.spanId}@${r.depth}`);

test('orderSpans: depth-first from the root, siblings by start, whatever the input order', () => {
  const spans = [span('b', 'a', 5), span('b1', 'b', 6), span('a', undefined, 0), span('c', 'a', 2), span('c1', 'c', 3), span('c2', 'c', 2.5)];
  assert.deepEqual(order(spans), ['a@0', 'c@1', 'c2@2', 'c1@2', 'b@1', 'b1@2']);
  assert.deepEqual(order([...spans].reverse()), ['a@0', 'c@1', 'c2@2', 'c1@2', 'b@1', 'b1@2']);
});

test('orderSpans: a span whose parent was not kept is a root; roots by start', () => {
  const spans = [span('late', undefined, 10), span('orphan', 'missing', 4), span('orphan-kid', 'orphan', 5), span('early', undefined, 1)];
  assert.deepEqual(order(spans), ['early@0', 'orphan@0', 'orphan-kid@1', 'late@0']);
});

test('orderSpans: spans whose parents form a cycle still appear, each once', () => {
  const spans = [span('root', undefined, 0), span('x', 'y', 3), span('y', 'x', 4), span('self', 'self', 5)];
  assert.deepEqual(order(spans), ['root@0', 'x@0', 'y@1', 'self@0']);
});

test('orderSpans: repeated span ids neither loop nor drop a span', () => {
  const spans = [span('a', undefined, 0), span('a', 'a', 1), span('k', 'a', 2)];
  const rows = orderSpans(spans);
  assert.equal(rows.length, 3);
  assert.equal(new Set(rows.map((r) => r.span)).size, 3);
  assert.deepEqual(
    rows.map((r) => r.depth),
    [0, 1, 1],
  );
});

test('orderSpans: a very deep chain is walked without overflowing the stack', () => {
  const spans = Array.from({ length: 50_000 }, (_, i) => span(`s${i}`, i === 0 ? undefined : `s${i - 1}`, i));
  const rows = orderSpans(spans);
  assert.equal(rows.length, spans.length);
  assert.equal(rows[rows.length - 1]!.span.spanId, 's49999');
  assert.equal(rows[rows.length - 1]!.depth, 49_999);
});

test('spanTimeline: bars placed in percent of the trace, from its first start to its last end', () => {
  const { rows, totalMs } = spanTimeline([span('a', undefined, 100, 100), span('b', 'a', 150, 25), span('c', 'a', 110, 10)]);
  assert.equal(totalMs, 100);
  assert.deepEqual(
    rows.map((r) => [r.span.spanId, r.depth, r.leftPct, r.widthPct]),
    [
      ['a', 0, 0, 100],
      ['c', 1, 10, 10],
      ['b', 1, 50, 25],
    ],
  );
});

test('spanTimeline: the duration is written inside bars that reach the right edge only', () => {
  const { rows } = spanTimeline([span('a', undefined, 0, 100), span('early', 'a', 0, 10), span('late', 'a', 90, 10)]);
  const inside = Object.fromEntries(rows.map((r) => [r.span.spanId, r.durationInside]));
  assert.deepEqual(inside, { a: true, early: false, late: true });
  assert.ok(DURATION_INSIDE_FROM_PCT > 10 && DURATION_INSIDE_FROM_PCT < 100);
});

test('spanTimeline: instant spans keep a visible bar and finite numbers', () => {
  const { rows, totalMs } = spanTimeline([span('a', undefined, 7, 0), span('b', 'a', 7, 0)]);
  assert.equal(totalMs, 0);
  for (const r of rows) {
    assert.equal(r.leftPct, 0);
    assert.equal(r.widthPct, MIN_BAR_PCT);
  }
  const short = spanTimeline([span('a', undefined, 0, 1000), span('b', 'a', 500, 0.001)]);
  assert.equal(short.rows[1]!.widthPct, MIN_BAR_PCT);
});

test('spanTimeline: no spans, no rows', () => {
  assert.deepEqual(spanTimeline([]), { rows: [], totalMs: 0 });
});
