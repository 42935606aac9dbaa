import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callerEdges, callerIdentity, edgeRows } from './edge-rows.js';
import type { Labels } from './parse.js';
import type { TargetScrape } from './scrape.js';

const base = { src_namespace: 'default', src_service_account: 'a', dst_namespace: 'default', dst_service: 'b', status_code: '200', reason: '' };
function series(direction: string, extra: Labels, count: number, fast: number): TargetScrape['samples'] {
  const labels = { direction, ...base, ...extra };
  return [
    { name: 'trellis_requests_total', labels, value: count },
    { name: 'trellis_request_duration_seconds_bucket', labels: { ...labels, le: '0.1' }, value: fast },
    { name: 'trellis_request_duration_seconds_bucket', labels: { ...labels, le: '+Inf' }, value: count },
  ];
}
const target = (name: string, ...samples: TargetScrape['samples'][]): TargetScrape => ({ target: name, targetLabels: {}, samples: samples.flat() });

describe('callerEdges', () => {
  it('a scraped caller is shown as it sent: its outbound count (with what its proxy answered itself), not what was served', () => {
    const edges = callerEdges([
      // a sent 12: 10 served by b, 2 answered by a's own proxy (fault aborts) that b never saw.
      target('a', series('outbound', { src_workload: 'a-v2' }, 10, 10), series('outbound', { src_workload: 'a-v2', status_code: '503', reason: 'fault_injected' }, 2, 2)),
      target('b', series('inbound', { src_workload: '' }, 10, 4)),
    ]);
    assert.equal(edges.length, 1);
    const e = edges[0]!;
    assert.deepEqual([e.callerNamespace, e.callerServiceAccount, e.callerWorkload, e.dstNamespace, e.dstService, e.side], ['default', 'a', 'a-v2', 'default', 'b', 'outbound']);
    assert.deepEqual([e.totals.requests, e.totals.successes], [12, 10]);
    assert.deepEqual([...e.totals.buckets], [[0.1, 12], [Infinity, 12]]);
    assert.equal(callerIdentity(e, 'td'), 'spiffe://td/ns/default/sa/a');
  });

  it('a routed request goes to its backend service as sent; the service that served it is not a second edge', () => {
    const edges = callerEdges([
      target('frontend', series('outbound', { src_service_account: 'frontend', src_workload: 'frontend', dst_service: 'catalog-v1', route: 'default/canary' }, 8, 8)),
      target('catalog', series('inbound', { src_service_account: 'frontend', dst_service: 'catalog' }, 8, 8)),
    ]);
    assert.deepEqual(edges.map((e) => [e.callerWorkload, e.dstService, e.totals.requests]), [['frontend', 'catalog-v1', 8]]);
  });

  it('a caller whose proxy was not scraped keeps the served side; an unmeshed caller has no identity', () => {
    const edges = callerEdges([target('b', series('inbound', {}, 3, 3), series('inbound', { src_namespace: '', src_service_account: '' }, 4, 4))]);
    const served = edges.find((e) => e.callerServiceAccount === 'a')!;
    assert.deepEqual([served.callerWorkload, served.side, served.totals.requests], [null, 'inbound', 3]);
    const unmeshed = edges.find((e) => e.callerServiceAccount === '')!;
    assert.equal(unmeshed.totals.requests, 4);
    assert.equal(callerIdentity(unmeshed, 'td'), null);
  });

  it('leaves TCP series out of request edges', () => {
    const tcp = { name: 'trellis_tcp_connections_opened_total', labels: { direction: 'outbound', listener: 'inventory-tcp' }, value: 5 };
    assert.deepEqual(callerEdges([target('orders', [tcp])]), []);
  });
});

describe('edgeRows', () => {
  it('names the caller by workload when its proxy reported it, else by account, else "-"; sorted', () => {
    const rows = edgeRows(
      [
        target('a', series('outbound', { src_workload: 'a-v2', dst_service: 'c' }, 4, 4), series('outbound', { src_workload: 'a-v2', dst_service: 'c', status_code: '504', reason: 'request_timeout' }, 1, 1)),
        target('b', series('inbound', { src_service_account: 'x' }, 2, 2), series('inbound', { src_namespace: '', src_service_account: '' }, 1, 1)),
      ],
      'td',
    );
    assert.deepEqual(rows, [
      { src: '-', dst: 'default/b', identity: '-', requests: 1, successRate: 1 },
      { src: 'default/a-v2', dst: 'default/c', identity: 'spiffe://td/ns/default/sa/a', requests: 5, successRate: 0.8 },
      { src: 'default/x', dst: 'default/b', identity: 'spiffe://td/ns/default/sa/x', requests: 2, successRate: 1 },
    ]);
  });
});
