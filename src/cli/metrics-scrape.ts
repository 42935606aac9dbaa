/**
 * Scraping the proxies' golden metrics for `trellis stat` and `trellis edges`: find every proxy
 * through the control plane's Prometheus service discovery, read its admin `/metrics`, parse
 * the two request series, and fold them into rows (per service, workload, route or edge).
 *
 * prom-client only writes the text format, it has no parser; the parser here is small and
 * strict on purpose: it reads the lines our own proxies emit (metrics.ts), not every dialect.
 */
import { request } from 'undici';
import type { PrometheusTargetGroup } from '../api/registry.js';

export type Labels = Record<string, string>;

export interface Sample {
  name: string;
  labels: Labels;
  value: number;
}

const REQUESTS = 'trellis_requests_total';
const BUCKETS = 'trellis_request_duration_seconds_bucket';

/** `name{a="x",b="y"} 12` or `name 12` per line; `#` lines and blank lines skipped. Throws on anything else. */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    let name: string;
    let rest: string;
    const labels: Labels = {};
    if (brace !== -1 && (space === -1 || brace < space)) {
      name = line.slice(0, brace);
      let i = brace + 1;
      while (line[i] !== '}') {
        const eq = line.indexOf('="', i);
        if (eq === -1) throw new Error(`metrics line ${n + 1}: bad label in ${JSON.stringify(line)}`);
        const key = line.slice(i, eq);
        i = eq + 2;
        let value = '';
        for (;;) {
          const c = line[i];
          if (c === undefined) throw new Error(`metrics line ${n + 1}: unterminated label value`);
          if (c === '"') break;
          if (c === '\\') {
            const e = line[i + 1];
            value += e === 'n' ? '\n' : (e ?? '');
            i += 2;
          } else {
            value += c;
            i++;
          }
        }
        labels[key] = value;
        i++; // closing quote
        if (line[i] === ',') i++;
        if (i >= line.length) throw new Error(`metrics line ${n + 1}: unterminated labels`);
      }
      rest = line.slice(i + 1).trim();
    } else {
      if (space === -1) throw new Error(`metrics line ${n + 1}: no value in ${JSON.stringify(line)}`);
      name = line.slice(0, space);
      rest = line.slice(space + 1).trim();
    }
    const valueText = rest.split(' ')[0] ?? '';
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    if (valueText === '' || (Number.isNaN(value) && valueText !== 'NaN')) throw new Error(`metrics line ${n + 1}: bad value ${JSON.stringify(valueText)}`);
    samples.push({ name, labels, value });
  }
  return samples;
}

/** One proxy's request counters and histogram buckets, as read at one moment. */
export interface TargetScrape {
  /** `host:port` of the admin listener. */
  target: string;
  /** Service-discovery labels (trellis_workload, trellis_namespace, ...). */
  targetLabels: Labels;
  samples: Sample[];
}

/** Fetches /metrics of every target; a failing target goes to `onError` and is left out. */
export async function scrapeTargets(groups: readonly PrometheusTargetGroup[], onError: (target: string, err: Error) => void): Promise<TargetScrape[]> {
  const jobs = groups.flatMap((g) => g.targets.map((target) => ({ target, targetLabels: g.labels })));
  const results = await Promise.all(
    jobs.map(async ({ target, targetLabels }): Promise<TargetScrape | null> => {
      try {
        const res = await request(`http://${target}/metrics`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`answered ${res.statusCode}`);
        const samples = parsePrometheusText(text).filter((s) => s.name === REQUESTS || s.name === BUCKETS);
        return { target, targetLabels, samples };
      } catch (err) {
        onError(target, err as Error);
        return null;
      }
    }),
  );
  return results.filter((r): r is TargetScrape => r !== null);
}

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

/** Non-5xx, and for gRPC an OK (or absent) grpc-status. Status 0 (no response) is a failure. */
export function isSuccess(labels: Labels): boolean {
  const status = Number(labels.status_code ?? '0');
  if (status === 0 || status >= 500) return false;
  const grpc = labels.grpc_status ?? '';
  return grpc === '' || grpc === '0';
}

/**
 * Sums request counts and buckets per row; `rowOf` names the row of a series (with the scraped
 * target's labels) or returns null to leave it out.
 */
export function aggregate(scrapes: readonly TargetScrape[], rowOf: (labels: Labels, target: Labels) => string | null): Map<string, RowTotals> {
  const rows = new Map<string, RowTotals>();
  for (const t of scrapes) {
    for (const s of t.samples) {
      const key = rowOf(s.labels, t.targetLabels);
      if (key === null) continue;
      let row = rows.get(key);
      if (row === undefined) rows.set(key, (row = emptyTotals()));
      if (s.name === REQUESTS) {
        row.requests += s.value;
        if (isSuccess(s.labels)) row.successes += s.value;
      } else if (s.name === BUCKETS) {
        const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
        row.buckets.set(le, (row.buckets.get(le) ?? 0) + s.value);
      }
    }
  }
  return rows;
}

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
