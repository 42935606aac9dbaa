import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { callerEdges, callerIdentity } from './edge-rows.js';
import type { Labels } from './parse.js';
import type { TargetScrape } from './scrape.js';

const base = { src_namespace: 'default', src_service_account: 'a', dst_namespace: 'default', dst_service: 'b', status_code: '200' };
function target(direction: string, extra: Labels, count: number, fast: number): TargetScrape {
  const labels = { direction, ...base, ...extra };
  return {
    target: direction,
    targetLabels: {},
    samples: [
      { name: 'trellis_requests_total', labels, value: count },
      { name: 'trellis_request_duration_seconds_bucket', labels: { ...labels, le: '0.1' }, value: fast },
      { name: 'trellis_request_duration_seconds_bucket', labels: { ...labels, le: '+Inf' }, value: count },
    ],
  };
}

describe('callerEdges', () => {
  it('one edge per caller identity and destination: the served side (with its buckets) wins, the workload comes from the caller side', () => {
    const edges = callerEdges([target('outbound', { src_workload: 'a-v2' }, 12, 12), target('inbound', { src_workload: '' }, 10, 4)]);
    assert.equal(edges.length, 1);
    const e = edges[0]!;
    assert.deepEqual([e.callerNamespace, e.callerServiceAccount, e.callerWorkload, e.dstNamespace, e.dstService], ['default', 'a', 'a-v2', 'default', 'b']);
    assert.equal(e.totals.requests, 10);
    assert.deepEqual([...e.totals.buckets], [[0.1, 4], [Infinity, 10]]);
    assert.equal(callerIdentity(e, 'td'), 'spiffe://td/ns/default/sa/a');
  });

  it('the caller side alone when the destination was not scraped; an unmeshed caller has no identity', () => {
    const [sent] = callerEdges([target('outbound', { src_workload: 'a' }, 12, 12)]);
    assert.equal(sent!.totals.requests, 12);
    const [unmeshed] = callerEdges([target('inbound', { src_namespace: '', src_service_account: '' }, 3, 3)]);
    assert.equal(unmeshed!.callerWorkload, null);
    assert.equal(callerIdentity(unmeshed!, 'td'), null);
  });
});
