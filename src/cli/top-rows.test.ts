import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TapEvent } from '../api/tap.js';
import { formatTapLine } from './commands/tap.js';
import { renderTop } from './commands/top.js';
import { isSuccess, MAX_TOP_ROWS, TopTable } from './top-rows.js';

const A = 'spiffe://td/ns/default/sa/a';

function ev(over: Partial<TapEvent> = {}): TapEvent {
  return {
    startedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
    durationMs: 2,
    direction: 'inbound',
    protocol: 'http',
    proxy: { nodeId: 'default/b/0', namespace: 'default', workload: 'b' },
    src: { identity: A },
    dst: { service: 'default/b' },
    method: 'GET',
    path: '/a',
    status: 200,
    bytesIn: 0,
    bytesOut: 0,
    ...over,
  };
}

describe('TopTable', () => {
  it('groups by source, destination, method and path without query; counts, success, best/worst/last', () => {
    const t = new TopTable();
    for (const [path, ms] of [['/a?x=1', 3], ['/a', 1], ['/a?y', 5]] as const) t.add(ev({ path, durationMs: ms }));
    t.add(ev({ path: '/b', status: 503, durationMs: 9 }));
    t.add(ev({ path: '/b', durationMs: 4 }));
    t.add(ev({ method: 'POST', path: '/b' }));
    t.add(ev({ direction: 'outbound', src: { identity: 'spiffe://td/ns/default/sa/b' }, dst: { service: 'default/c' }, path: '/c' }));
    const rows = t.rows();
    assert.deepEqual(
      rows.map((r) => [r.source, r.destination, r.method, r.path, r.count, r.successes, r.successRate, r.bestMs, r.worstMs, r.lastMs]),
      [
        ['default/a', 'default/b', 'GET', '/a', 3, 3, 1, 1, 5, 5],
        ['default/a', 'default/b', 'GET', '/b', 2, 1, 0.5, 4, 9, 4],
        ['default/a', 'default/b', 'POST', '/b', 1, 1, 1, 2, 2, 2],
        // Outbound rows are named after the proxy's workload.
        ['default/b', 'default/c', 'GET', '/c', 1, 1, 1, 2, 2, 2],
      ],
    );
    assert.match(renderTop(rows), /^SOURCE +DESTINATION +METHOD +PATH +COUNT +SUCCESS +BEST +WORST +LAST +STATUS +LAST FAILURE\ndefault\/a +default\/b +GET +\/a +3 +100\.00% +1\.0 +5\.0 +5\.0 +200 +-\n/);
    assert.deepEqual(rows.map((r) => [r.lastStatus, r.lastFailure]).slice(0, 2), [['200', null], ['200', '503']]);
  });

  it('counts 5xx, no response and a failed grpc-status as failures', () => {
    assert.deepEqual([200, 404, 500, 0].map((status) => isSuccess(ev({ status }))), [true, true, false, false]);
    assert.equal(isSuccess(ev({ status: 200, grpcStatus: 14 })), false);
    assert.equal(isSuccess(ev({ status: 200, grpcStatus: 0 })), true);
  });

  it('a gRPC call that fails in a 200 lowers the success rate and shows its grpc-status', () => {
    const t = new TopTable();
    const call = (grpcStatus: number): TapEvent => ev({ protocol: 'http2', method: 'POST', path: '/shop.Catalog/List', status: 200, grpcStatus });
    t.add(call(0));
    t.add(call(14));
    t.add(call(0));
    t.add(call(0));
    const [row] = t.rows();
    assert.deepEqual(row && [row.count, row.successes, row.successRate, row.lastStatus, row.lastFailure], [4, 3, 0.75, '200 grpc=OK(0)', '200 grpc=UNAVAILABLE(14)']);
    assert.match(renderTop(t.rows()), /POST +\/shop\.Catalog\/List +4 +75\.00% .* 200 grpc=OK\(0\) +200 grpc=UNAVAILABLE\(14\)\n$/);
  });

  it('folds paths beyond the row limit into (other)', () => {
    const t = new TopTable();
    for (let i = 0; i < MAX_TOP_ROWS + 10; i++) t.add(ev({ path: `/p${i}` }));
    const rows = t.rows();
    assert.equal(rows.length, MAX_TOP_ROWS + 1);
    assert.deepEqual(rows[0] && [rows[0].path, rows[0].count], ['(other)', 10]);
  });
});

describe('formatTapLine', () => {
  it('shows a gRPC call\'s grpc-status beside the HTTP status', () => {
    assert.equal(formatTapLine(ev({ protocol: 'http2', method: 'POST', path: '/shop.Catalog/List', grpcStatus: 14 })), '03:04:05.678 inbound default/a -> default/b POST /shop.Catalog/List 200 grpc=UNAVAILABLE(14) 2.0ms');
    assert.equal(formatTapLine(ev({ grpcStatus: 0 })), '03:04:05.678 inbound default/a -> default/b GET /a 200 grpc=OK(0) 2.0ms');
  });

  it('prints time, direction, short identities, request, status, latency, reason and trace', () => {
    assert.equal(formatTapLine(ev()), '03:04:05.678 inbound default/a -> default/b GET /a 200 2.0ms');
    assert.equal(
      formatTapLine(ev({ status: 503, reason: 'no_healthy_upstream', traceId: 'ab'.repeat(16), src: {} })),
      `03:04:05.678 inbound - -> default/b GET /a 503 2.0ms no_healthy_upstream trace=${'ab'.repeat(16)}`,
    );
  });
});
