import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePrometheusText } from '../../telemetry/golden/parse.js';
import type { TargetScrape } from '../../telemetry/golden/scrape.js';
import { edgeRows, renderEdges } from './edges.js';
import { parseWindow, renderStat, statRows } from './stat.js';

const BOUNDS = ['0.01', '0.1', '1', '+Inf'];

/** Exposition text of one series: count and cumulative buckets. */
function series(labels: string, count: number, cumulative: number[]): string {
  const lines = [`trellis_requests_total{${labels}} ${count}`];
  BOUNDS.forEach((le, i) => lines.push(`trellis_request_duration_seconds_bucket{${labels},le="${le}"} ${cumulative[i] ?? 0}`));
  return lines.join('\n');
}

const inboundB = (status: string, grpc = ''): string =>
  `direction="inbound",src_namespace="default",src_workload="",src_service_account="a",dst_namespace="default",dst_service="b",route="",method="GET",status_code="${status}",grpc_status="${grpc}",reason=""`;
const outboundA = (status: string, route = ''): string =>
  `direction="outbound",src_namespace="default",src_workload="a",src_service_account="a",dst_namespace="default",dst_service="b",route="${route}",method="GET",status_code="${status}",grpc_status="",reason=""`;
const unmeshed = `direction="inbound",src_namespace="",src_workload="",src_service_account="",dst_namespace="default",dst_service="b",route="",method="GET",status_code="200",grpc_status="",reason=""`;

function scrapeOf(target: string, workload: string, text: string): TargetScrape {
  return { target, targetLabels: { trellis_namespace: 'default', trellis_workload: workload }, samples: parsePrometheusText(text) };
}

// Before: b served 10 (all ok); a sent 10 (2 via route default/r1).
const before = [
  scrapeOf('b0', 'b', [series(inboundB('200'), 10, [10, 10, 10, 10]), series(inboundB('503'), 0, [0, 0, 0, 0])].join('\n')),
  scrapeOf('a0', 'a', [series(outboundA('200'), 8, [8, 8, 8, 8]), series(outboundA('200', 'default/r1'), 2, [2, 2, 2, 2])].join('\n')),
];
// Window: b served 30 more: 20 ok in (0.01, 0.1], 4 ok in (0.1, 1], 6 x 503 in (0, 0.01]. a sent 10 via the route.
const after = [
  scrapeOf('b0', 'b', [series(inboundB('200'), 34, [10, 30, 34, 34]), series(inboundB('503'), 6, [6, 6, 6, 6]), series(unmeshed, 2, [2, 2, 2, 2])].join('\n')),
  scrapeOf('a0', 'a', [series(outboundA('200'), 28, [8, 28, 28, 28]), series(outboundA('200', 'default/r1'), 12, [2, 2, 12, 12])].join('\n')),
];

describe('statRows', () => {
  it('services: requests, RPS, success rate and quantiles of the window, inbound only', () => {
    const rows = statRows('services', before, after, 10);
    assert.equal(rows.length, 1);
    const b = rows[0]!;
    assert.equal(b.name, 'b');
    // 30 from a plus 2 unmeshed (new series count from 0).
    assert.equal(b.requests, 32);
    assert.equal(b.rps, 3.2);
    assert.equal(b.successRate, 26 / 32);
    // Cumulative over the window: le 0.01 -> 8, 0.1 -> 28, 1 -> 32. p50 rank 16: 8 of 20 into (0.01, 0.1].
    assert.ok(Math.abs(b.p50! - (0.01 + 0.09 * (8 / 20))) < 1e-12);
    // p95 rank 30.4: 2.4 of 4 into (0.1, 1].
    assert.ok(Math.abs(b.p95! - (0.1 + 0.9 * (2.4 / 4))) < 1e-12);
    assert.match(renderStat('services', rows), /^NAMESPACE +SERVICE +REQUESTS +RPS +SUCCESS +P50 +P95 +P99\ndefault +b +32 +3\.20 +81\.25% /);
  });

  it('workloads: by the scraped proxy, inbound only; routes: outbound with a route', () => {
    assert.deepEqual(statRows('workloads', before, after, 10).map((r) => [r.name, r.requests]), [['b', 32]]);
    const routes = statRows('routes', before, after, 10);
    assert.deepEqual(routes.map((r) => [r.namespace, r.name, r.service, r.requests, r.successRate]), [['default', 'default/r1', 'default/b', 10, 1]]);
  });

  it('says "-" when a row had no requests in the window', () => {
    const rows = statRows('services', after, after, 10);
    assert.equal(rows[0]!.requests, 0);
    assert.equal(rows[0]!.successRate, null);
    assert.match(renderStat('services', rows), /default +b +0 +0\.00 +- +- +- +-\n$/);
  });
});

describe('parseWindow', () => {
  it('accepts ms, s and m; rejects the rest', () => {
    assert.equal(parseWindow('2s'), 2000);
    assert.equal(parseWindow('500ms'), 500);
    assert.equal(parseWindow('1m'), 60_000);
    assert.equal(parseWindow('0s'), null);
    assert.equal(parseWindow('10'), null);
  });
});

describe('edgeRows', () => {
  it('one row per caller as the caller sent it (its own proxy was scraped); unmeshed callers as served, shown as "-"', () => {
    const rows = edgeRows(after, 'example.org');
    assert.deepEqual(rows, [
      { src: '-', dst: 'default/b', identity: '-', requests: 2, successRate: 1 },
      // The caller's side wins when its proxy was scraped (it also counts what the mesh failed itself).
      { src: 'default/a', dst: 'default/b', identity: 'spiffe://example.org/ns/default/sa/a', requests: 40, successRate: 1 },
    ]);
    assert.match(renderEdges(rows), /^SRC +DST +IDENTITY +REQUESTS +SUCCESS\n- +default\/b +- +2 +100\.00%\ndefault\/a +default\/b +spiffe:\/\/example\.org\/ns\/default\/sa\/a +40 +100\.00%\n$/);
  });

  it('the caller side alone gives the same row when the destination was not scraped', () => {
    const rows = edgeRows([after[1]!], 'example.org');
    assert.deepEqual(rows, [{ src: 'default/a', dst: 'default/b', identity: 'spiffe://example.org/ns/default/sa/a', requests: 40, successRate: 1 }]);
  });
});
