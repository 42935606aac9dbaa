import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ReceivedSpan } from './receiver.js';
import { TraceStore } from './trace-store.js';

function span(trace: number, id: number, parent: number | undefined, start: number, end: number, over: Partial<ReceivedSpan> = {}): ReceivedSpan {
  return {
    service: `svc${id % 3}`,
    traceId: trace.toString(16).padStart(32, '0'),
    spanId: id.toString(16).padStart(16, '0'),
    parentSpanId: parent === undefined ? undefined : parent.toString(16).padStart(16, '0'),
    name: `span${id}`,
    kind: 'server',
    startNs: BigInt(start),
    endNs: BigInt(end),
    attributes: {},
    status: 'unset',
    ...over,
  };
}

const traceId = (n: number) => n.toString(16).padStart(32, '0');

test('spans are grouped by trace; a trace lists by start time with a summary', () => {
  const store = new TraceStore(100);
  // arrive out of order: child first, as collectors often deliver them
  store.add(span(1, 3, 2, 30, 40));
  store.add(span(1, 2, 1, 20, 50, { status: 'error' }));
  store.add(span(2, 9, undefined, 5, 6));
  store.add(span(1, 1, undefined, 10, 60));
  assert.deepEqual(store.trace(traceId(1)).map((s) => s.name), ['span1', 'span2', 'span3']);
  assert.deepEqual(store.trace(traceId(3)), []);
  const recent = store.recent();
  assert.deepEqual(recent.map((t) => t.traceId), [traceId(1), traceId(2)]); // trace 1 updated last
  assert.deepEqual(recent[0], {
    traceId: traceId(1),
    rootName: 'span1',
    rootService: 'svc1',
    startNs: 10n,
    durationNs: 50n,
    spanCount: 3,
    services: ['svc1', 'svc2', 'svc0'],
    error: true,
  });
  assert.equal(recent[1]!.error, false);
  assert.equal(store.recent(1).length, 1);
});

test('memory is bounded: the oldest spans leave their traces, empty traces are forgotten', () => {
  const store = new TraceStore(5);
  for (let i = 1; i <= 3; i++) store.add(span(1, i, i === 1 ? undefined : i - 1, i, i + 10));
  for (let i = 4; i <= 6; i++) store.add(span(2, i, undefined, i, i + 10));
  assert.equal(store.spanCount, 5);
  assert.deepEqual(store.trace(traceId(1)).map((s) => s.name), ['span2', 'span3']);
  // span2's parent is gone: it is the root shown now
  assert.equal(store.recent().find((t) => t.traceId === traceId(1))!.rootName, 'span2');
  for (let i = 7; i <= 20; i++) store.add(span(3 + i, i, undefined, i, i + 1));
  assert.equal(store.spanCount, 5);
  assert.equal(store.traceCount, 5);
  assert.deepEqual(store.trace(traceId(1)), []);
  assert.deepEqual(store.trace(traceId(2)), []);
  assert.deepEqual(store.recent().map((t) => t.traceId), [23, 22, 21, 20, 19].map(traceId));
  assert.throws(() => new TraceStore(0), RangeError);
});
