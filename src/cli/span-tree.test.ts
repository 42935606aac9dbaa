import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TraceSpanView } from '../api/traces.js';
import { renderTrace } from './commands/get.js';
import { orderSpans } from './span-tree.js';

const T0 = 1_767_225_600_000_000_000n; // 2026-01-01T00:00:00Z in ns

/** A span starting `startUs` microseconds after T0. */
function span(spanId: string, parentSpanId: string | undefined, startUs: number, durationMs: number, service = 'default/a', kind: TraceSpanView['kind'] = 'server'): TraceSpanView {
  const start = T0 + BigInt(startUs) * 1000n;
  return {
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId,
    ...(parentSpanId !== undefined ? { parentSpanId } : {}),
    service,
    name: `${kind} ${spanId}`,
    kind,
    startTimeUnixNano: start.toString(),
    endTimeUnixNano: (start + BigInt(Math.round(durationMs * 1e6))).toString(),
    startMs: Number(start / 1000n) / 1000,
    durationMs,
    status: 'ok',
    attributes: {},
  };
}

const order = (spans: TraceSpanView[]): string[] => orderSpans(spans).map((r) => `${r.span.spanId}@${r.depth}`);

describe('span tree for `get traces <id>`', () => {
  // The API lists spans by start time. a's proxy records the client span, b's proxy (another
  // process, another clock) the server span: b's clock is 0.3 ms behind, so the child starts first.
  const skewed = [span('server-b', 'client-a', -300, 4, 'default/b', 'server'), span('client-a', undefined, 0, 5, 'default/a', 'client'), span('server-c', 'client-b', 1_000, 1, 'default/c')];
  skewed.push(span('client-b', 'server-b', 900, 2, 'default/b', 'client'));

  it('a child whose clock runs behind still prints under its parent', () => {
    assert.deepEqual(order(skewed), ['client-a@0', 'server-b@1', 'client-b@2', 'server-c@3']);
  });

  it('a parent and child with the same start time: parent first, whatever the input order', () => {
    const same = [span('child', 'root', 0, 1), span('root', undefined, 0, 1)];
    assert.deepEqual(order(same), ['root@0', 'child@1']);
    assert.deepEqual(order([...same].reverse()), ['root@0', 'child@1']);
  });

  it('a root that arrived after its children (listed last) still prints first', () => {
    const lateRoot = [span('kid-1', 'root', 50, 1), span('kid-2', 'root', 20, 1), span('root', undefined, 100, 10, 'default/a', 'client')];
    assert.deepEqual(order(lateRoot), ['root@0', 'kid-2@1', 'kid-1@1']);
  });

  it('siblings by start time; on equal starts the longer (enclosing) one first', () => {
    const spans = [span('root', undefined, 0, 10), span('s2', 'root', 5, 1), span('s1', 'root', 1, 1), span('s3b', 'root', 7, 1), span('s3a', 'root', 7, 2)];
    assert.deepEqual(order(spans), ['root@0', 's1@1', 's2@1', 's3a@1', 's3b@1']);
  });

  it('true roots first, then spans whose parent was not kept, each with its subtree', () => {
    const spans = [span('orphan', 'gone', -50, 1), span('orphan-kid', 'orphan', -40, 1), span('root', undefined, 0, 1), span('root-kid', 'root', 1, 1)];
    assert.deepEqual(order(spans), ['root@0', 'root-kid@1', 'orphan@0', 'orphan-kid@1']);
  });

  it('parent cycles and repeated ids: every span once, no endless walk', () => {
    const spans = [span('root', undefined, 0, 1), span('x', 'y', 3, 1), span('y', 'x', 4, 1), span('self', 'self', 5, 1), span('root', 'root', 6, 1)];
    const rows = orderSpans(spans);
    assert.equal(rows.length, spans.length);
    assert.equal(new Set(rows.map((r) => r.span)).size, spans.length);
    assert.equal(rows[0]!.span.spanId, 'root');
  });

  it('a very deep chain does not overflow the stack', () => {
    const spans = Array.from({ length: 50_000 }, (_, i) => span(`s${i}`, i === 0 ? undefined : `s${i - 1}`, 50_000 - i, 1));
    const rows = orderSpans(spans);
    assert.equal(rows.length, spans.length);
    assert.equal(rows.at(-1)!.depth, 49_999);
  });

  it('renderTrace prints the root client span first and the child server span indented under it', () => {
    const lines = renderTrace({ traceId: skewed[0]!.traceId, spans: skewed }).trimEnd().split('\n');
    assert.match(lines[0]!, /^SPAN\s+SERVICE\s+KIND\s+OFFSET/);
    assert.match(lines[1]!, /^client client-a\s+default\/a\s+client\s+\+0\.30ms/);
    assert.match(lines[2]!, /^ {2}server server-b\s+default\/b\s+server\s+\+0\.00ms/);
    assert.match(lines[3]!, /^ {4}client client-b\s/);
    assert.match(lines[4]!, /^ {6}server server-c\s/);
  });
});
