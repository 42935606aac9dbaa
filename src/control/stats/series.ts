/**
 * A service's or route's golden metrics over time: one point per step, each the increase
 * between two kept scrapes about a step apart (consecutive ones when the step is the scrape
 * interval), so the points' requests add up to the whole window's.
 */
import type { SeriesPoint } from '../../api/stats.js';
import { goldenMetrics } from '../../telemetry/golden/golden-metrics.js';
import type { Labels } from '../../telemetry/golden/parse.js';
import { aggregate } from '../../telemetry/golden/window.js';
import { storedDelta, type ScrapeRing, type StoredScrape } from './scrape-ring.js';
import { servedByWorkloads } from './selector-services.js';

export interface SeriesSelector {
  kind: 'service' | 'route';
  namespace: string;
  /** Service name, or the route as `<ns>/<name>`. */
  name: string;
  /**
   * A service declared by label selector: `<ns>/<workload>` of its matching workloads, whose
   * proxies served its requests (counted under their own service's name).
   */
  servedBy?: ReadonlySet<string>;
}

/** '' for a series of the selected service (as served) or route (as sent, every destination); null otherwise. */
function rowOf(sel: SeriesSelector): (l: Labels, target: Labels) => string | null {
  if (sel.servedBy !== undefined) return servedByWorkloads(sel.servedBy);
  if (sel.kind === 'service') return (l) => (l.direction === 'inbound' && l.dst_namespace === sel.namespace && l.dst_service === sel.name ? '' : null);
  return (l) => (l.direction === 'outbound' && l.route === sel.name ? '' : null);
}

/**
 * Scrapes about `stepMs` apart, newest last, reaching back `windowMs` from the newest.
 * Timers drift, so "a step apart" allows half an interval either way.
 */
function anchors(ring: ScrapeRing, windowMs: number, stepMs: number, intervalMs: number): StoredScrape[] {
  const newest = ring.newest();
  if (newest === undefined) return [];
  const slack = intervalMs / 2;
  const picked: StoredScrape[] = [newest];
  let last = newest;
  for (let i = ring.length - 2; i >= 0; i--) {
    const s = ring.get(i)!;
    if (newest.at - s.at > windowMs + slack) break;
    if (last.at - s.at >= stepMs - slack) {
      picked.push(s);
      last = s;
    }
  }
  return picked.reverse();
}

/** Points oldest first; none when the service or route had no series in the window (unknown, or never called). */
export function seriesPoints(ring: ScrapeRing, sel: SeriesSelector, windowMs: number, stepMs: number, intervalMs: number): SeriesPoint[] {
  const picked = anchors(ring, windowMs, stepMs, intervalMs);
  const key = rowOf(sel);
  const points: SeriesPoint[] = [];
  let seen = false;
  for (let i = 1; i < picked.length; i++) {
    const before = picked[i - 1]!;
    const after = picked[i]!;
    const totals = aggregate(storedDelta(before, after), key).get('');
    if (totals !== undefined) seen = true;
    points.push({ t: after.at, ...goldenMetrics(totals, (after.at - before.at) / 1000) });
  }
  return seen ? points : [];
}
