import type { GoldenMetrics } from '../../api/stats.js';
import { histogramQuantile } from './quantile.js';
import type { RowTotals } from './window.js';

/** The metrics of one row over `seconds`; no requests (or no row) gives nulls, not zeros. */
export function goldenMetrics(t: RowTotals | undefined, seconds: number): GoldenMetrics {
  if (t === undefined || t.requests === 0) return { requests: 0, rps: 0, successRate: null, p50: null, p95: null, p99: null };
  return {
    requests: t.requests,
    rps: seconds > 0 ? t.requests / seconds : 0,
    successRate: t.successes / t.requests,
    p50: histogramQuantile(0.5, t.buckets),
    p95: histogramQuantile(0.95, t.buckets),
    p99: histogramQuantile(0.99, t.buckets),
  };
}

/** Adds `from` into `into` (several series or callers folded into one row). */
export function addTotals(into: RowTotals, from: RowTotals): void {
  into.requests += from.requests;
  into.successes += from.successes;
  for (const [le, n] of from.buckets) into.buckets.set(le, (into.buckets.get(le) ?? 0) + n);
}
