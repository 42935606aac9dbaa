import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePrometheusText } from '../../telemetry/golden/parse.js';
import type { TargetScrape } from '../../telemetry/golden/scrape.js';
import { ScrapeRing } from './scrape-ring.js';
import { seriesPoints, type SeriesSelector } from './series.js';
import { exposition, requestLabels } from './test-support.js';

const INTERVAL = 2000;
const served = (ok: number, failed: number): TargetScrape[] => [
  {
    target: 'b0:1',
    targetLabels: {},
    samples: parsePrometheusText(
      exposition([
        { labels: requestLabels('inbound', { dst_service: 'b' }), count: ok },
        { labels: requestLabels('inbound', { dst_service: 'b', status_code: '500' }), count: failed },
        { labels: requestLabels('outbound', { dst_service: 'c', route: 'default/to-c' }), count: ok * 2 },
      ]),
    ),
  },
];
const B: SeriesSelector = { kind: 'service', namespace: 'default', name: 'b' };

/** Scrapes about 2 s apart (timers drift a little) with these cumulative counts; the proxy restarted before the 5th. */
function ring(): ScrapeRing {
  const r = new ScrapeRing(15 * 60_000);
  const counts: [number, number][] = [[0, 0], [10, 0], [10, 2], [30, 2], [4, 1], [14, 1]];
  counts.forEach(([ok, failed], i) => r.push(100_000 + i * INTERVAL + (i % 2 === 0 ? 0 : 15), served(ok, failed)));
  return r;
}

describe('seriesPoints', () => {
  it('one point per consecutive pair at step = interval; a reset counts from zero; the sum is the total', () => {
    const points = seriesPoints(ring(), B, 15 * 60_000, INTERVAL, INTERVAL);
    assert.deepEqual(points.map((p) => p.requests), [10, 2, 20, 5, 10]);
    assert.deepEqual(points.map((p) => p.t), [102_015, 104_000, 106_015, 108_000, 110_015]);
    assert.equal(points[1]!.successRate, 0);
    assert.equal(points[3]!.successRate, 4 / 5);
    assert.equal(points.reduce((n, p) => n + p.requests, 0), 47);
    assert.equal(points[0]!.rps, 10 / 2.015);
  });

  it('a longer step spans several scrapes, newest last; the window limits how far back', () => {
    // Anchors 4 s apart from the newest back: 110015, 106015, 102015; the reset inside the last
    // step hides what was served before it (as PromQL's increase() over that step would).
    const twoSteps = seriesPoints(ring(), B, 15 * 60_000, 2 * INTERVAL, INTERVAL);
    assert.deepEqual(twoSteps.map((p) => [p.t, p.requests]), [[106_015, 22], [110_015, 15]]);
    const lastFour = seriesPoints(ring(), B, 4000, INTERVAL, INTERVAL);
    assert.deepEqual(lastFour.map((p) => p.requests), [5, 10]);
  });

  it('routes count as sent; an unknown service has no points; fewer than two scrapes, none', () => {
    const route = seriesPoints(ring(), { kind: 'route', namespace: 'default', name: 'default/to-c' }, 15 * 60_000, INTERVAL, INTERVAL);
    assert.deepEqual(route.map((p) => p.requests), [20, 0, 40, 8, 20]);
    assert.deepEqual(seriesPoints(ring(), { ...B, name: 'nope' }, 15 * 60_000, INTERVAL, INTERVAL), []);
    const one = new ScrapeRing(60_000);
    one.push(1, served(1, 1));
    assert.deepEqual(seriesPoints(one, B, 60_000, INTERVAL, INTERVAL), []);
  });

  it('an idle step is a point with zero requests and null rates', () => {
    const r = new ScrapeRing(60_000);
    r.push(0, served(5, 0));
    r.push(2000, served(5, 0));
    assert.deepEqual(seriesPoints(r, B, 60_000, INTERVAL, INTERVAL), [{ t: 2000, requests: 0, rps: 0, successRate: null, p50: null, p95: null, p99: null }]);
  });
});
