import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePrometheusText } from '../../telemetry/golden/parse.js';
import type { TargetScrape } from '../../telemetry/golden/scrape.js';
import { windowDelta } from '../../telemetry/golden/window.js';
import { ScrapeRing, storedDelta } from './scrape-ring.js';
import { exposition, requestLabels, type SeriesSpec } from './test-support.js';

const ok = requestLabels('inbound', { dst_service: 'b', src_service_account: 'a' });
const failed = requestLabels('inbound', { dst_service: 'b', src_service_account: 'a', status_code: '503' });

function scrape(target: string, series: SeriesSpec[]): TargetScrape {
  return { target, targetLabels: { trellis_workload: 'b' }, samples: parsePrometheusText(exposition(series)) };
}

describe('ScrapeRing', () => {
  it('shares the series table between scrapes with the same series, and answers the same increase as windowDelta', () => {
    const ring = new ScrapeRing(60_000);
    const s1 = [scrape('r0', [{ labels: ok, count: 10 }])];
    const s2 = [scrape('r0', [{ labels: ok, count: 25 }])];
    // A new series appears: a new table; the old series keeps its increase, the new one counts from 0.
    const s3 = [scrape('r0', [{ labels: ok, count: 30 }, { labels: failed, count: 4 }])];
    ring.push(1000, s1);
    ring.push(2000, s2);
    ring.push(3000, s3);
    const [a, b, c] = [ring.get(0)!, ring.get(1)!, ring.get(2)!];
    assert.equal(a.targets[0]!.table, b.targets[0]!.table);
    assert.notEqual(b.targets[0]!.table, c.targets[0]!.table);
    assert.deepEqual(storedDelta(a, b), windowDelta(s1, s2));
    assert.deepEqual(storedDelta(b, c), windowDelta(s2, s3));
    assert.deepEqual(storedDelta(a, c), windowDelta(s1, s3));
    assert.deepEqual(ScrapeRing.samples(c), s3);
  });

  it('counts a reset counter from zero and leaves out a target missing from the start', () => {
    const ring = new ScrapeRing(60_000);
    ring.push(1000, [scrape('r0', [{ labels: ok, count: 100 }])]);
    ring.push(2000, [scrape('r0', [{ labels: ok, count: 7 }]), scrape('r1', [{ labels: ok, count: 50 }])]);
    const delta = storedDelta(ring.get(0)!, ring.get(1)!);
    assert.deepEqual(delta.map((t) => t.target), ['r0']);
    assert.equal(delta[0]!.samples.find((s) => s.name === 'trellis_requests_total')!.value, 7);
  });

  it('keeps keepMs of scrapes behind the newest', () => {
    const ring = new ScrapeRing(10_000);
    for (let at = 0; at <= 30_000; at += 2000) ring.push(at, [scrape('r0', [{ labels: ok, count: at }])]);
    assert.equal(ring.get(0)!.at, 20_000);
    assert.equal(ring.newest()!.at, 30_000);
    assert.equal(ring.length, 6);
  });

  it('baseline: the newest scrape at least the window older, else the oldest kept', () => {
    const ring = new ScrapeRing(60_000);
    for (const at of [0, 2000, 4100, 6000, 8000]) ring.push(at, []);
    const newest = ring.newest()!;
    assert.equal(ring.baseline(newest, 4000)!.at, 2000, '4100 is not 4 s before 8000');
    assert.equal(ring.baseline(newest, 3900)!.at, 4100);
    assert.equal(ring.baseline(newest, 2000)!.at, 6000);
    assert.equal(ring.baseline(newest, 60_000)!.at, 0);
    ring.clear();
    assert.equal(ring.newest(), undefined);
  });
});
