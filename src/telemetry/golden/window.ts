/**
 * Golden metrics over a window: the increase of every request series between two scrapes,
 * folded into rows (per service, route, edge: the caller decides with `rowOf`).
 */
import { BUCKETS_METRIC, REQUESTS_METRIC, type Labels, type Sample } from './parse.js';
import type { TargetScrape } from './scrape.js';

/** Identifies one series of one target: counters of different replicas are separate. */
function seriesKey(target: string, s: Sample): string {
  return `${target}\u0000${s.name}\u0000${Object.entries(s.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join('\u0001')}`;
}

/**
 * The increase of every request series between two scrapes. A counter that went down was
 * reset (the proxy restarted): its increase is its new value, as Prometheus' increase() does.
 * A target missing from `before` is left out: its totals are not an increase over the window.
 */
export function windowDelta(before: readonly TargetScrape[], after: readonly TargetScrape[]): TargetScrape[] {
  const old = new Map<string, number>();
  for (const t of before) for (const s of t.samples) old.set(seriesKey(t.target, s), s.value);
  const seen = new Set(before.map((t) => t.target));
  return after.filter((t) => seen.has(t.target)).map((t) => ({
    ...t,
    samples: t.samples.map((s) => {
      const prev = old.get(seriesKey(t.target, s)) ?? 0;
      return { ...s, value: s.value >= prev ? s.value - prev : s.value };
    }),
  }));
}

/** Requests of one row, and their latency buckets (upper bound in seconds -> cumulative count). */
export interface RowTotals {
  requests: number;
  successes: number;
  buckets: Map<number, number>;
}

const emptyTotals = (): RowTotals => ({ requests: 0, successes: 0, buckets: new Map() });

/**
 * Non-5xx, and for gRPC an OK (or absent) grpc-status. Status 0 (no response) is a failure.
 * The series a listener folds into past its series budget say only a status class (`2xx`,
 * with grpc_status `other`): those count by their class.
 */
export function isSuccess(labels: Labels): boolean {
  const code = labels.status_code ?? '0';
  if (/^[1-5]xx$/.test(code)) return code < '5';
  const status = Number(code);
  if (status === 0 || status >= 500) return false;
  const grpc = labels.grpc_status ?? '';
  return grpc === '' || grpc === '0';
}

/**
 * Sums request counts and buckets per row; `rowOf` names the row of a request series (with the
 * scraped target's labels) or returns null to leave it out. Other series (TCP) are skipped.
 */
export function aggregate(scrapes: readonly TargetScrape[], rowOf: (labels: Labels, target: Labels) => string | null): Map<string, RowTotals> {
  const rows = new Map<string, RowTotals>();
  for (const t of scrapes) {
    for (const s of t.samples) {
      if (s.name !== REQUESTS_METRIC && s.name !== BUCKETS_METRIC) continue;
      const key = rowOf(s.labels, t.targetLabels);
      if (key === null) continue;
      let row = rows.get(key);
      if (row === undefined) rows.set(key, (row = emptyTotals()));
      if (s.name === REQUESTS_METRIC) {
        row.requests += s.value;
        if (isSuccess(s.labels)) row.successes += s.value;
      } else if (s.name === BUCKETS_METRIC) {
        const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
        row.buckets.set(le, (row.buckets.get(le) ?? 0) + s.value);
      }
    }
  }
  return rows;
}
