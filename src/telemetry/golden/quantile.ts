/** Latency quantiles from the proxies' cumulative histogram buckets. */

/**
 * The q-quantile (0..1) from cumulative buckets, as PromQL histogram_quantile computes it:
 * linear inside the bucket the rank falls in (the first bucket starts at 0); a rank in the
 * +Inf bucket answers the highest finite bound. null when there were no requests.
 */
export function histogramQuantile(q: number, buckets: ReadonlyMap<number, number>): number | null {
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.length === 0 ? 0 : sorted[sorted.length - 1]![1];
  if (total <= 0 || sorted[sorted.length - 1]![0] !== Infinity) return null;
  const rank = q * total;
  let lower = 0;
  let countBelow = 0;
  for (let i = 0; i < sorted.length; i++) {
    const [upper, cumulative] = sorted[i]!;
    if (cumulative >= rank) {
      if (upper === Infinity) return i === 0 ? null : sorted[i - 1]![0];
      const inBucket = cumulative - countBelow;
      if (inBucket === 0) return upper;
      return lower + (upper - lower) * ((rank - countBelow) / inBucket);
    }
    lower = upper;
    countBelow = cumulative;
  }
  return null;
}
