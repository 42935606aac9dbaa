import type { PrometheusTargetGroup } from '../../api/registry.js';
import { apiGet, controlPlaneUrl } from '../api.js';
import { choice, parse, str } from '../args.js';
import { json, table } from '../format.js';
import { UsageError, type Command } from '../io.js';
import { aggregate, histogramQuantile, scrapeTargets, windowDelta, type Labels, type RowTotals, type TargetScrape } from '../metrics-scrape.js';

const KINDS = ['services', 'workloads', 'routes'] as const;
export type StatKind = (typeof KINDS)[number];

const usage = `Usage: trellis stat [services|workloads|routes] [--window D] [-o table|json] [--control-plane URL]

Golden metrics over a window: scrapes every proxy's /metrics (found through the control
plane's Prometheus service discovery) twice, --window apart, and shows per row the requests
in between, requests per second, success rate (non-5xx; for gRPC also grpc-status OK) and
latency p50/p95/p99 from the histogram buckets ("-" when there were no requests).

  services   by destination service, as served (inbound side)   (default)
  workloads  by the scraped proxy's workload, as served (inbound side)
  routes     by route and destination service, as sent (outbound side, routed requests only)

A proxy that cannot be scraped is reported on stderr and left out.

Options:
  --window D              time between the two scrapes, e.g. 2s, 500ms, 1m (default 10s)
  -o, --output FORMAT     table (default) or json
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else http://127.0.0.1:15000)
  -h, --help              this text
`;

export interface StatRow {
  namespace: string;
  /** Service, workload, or route (`<ns>/<name>`) by kind. */
  name: string;
  /** Destination service of a route row; absent otherwise. */
  service?: string;
  requests: number;
  rps: number;
  /** 0..1; null when there were no requests. */
  successRate: number | null;
  /** Seconds; null when there were no requests. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** `10s`, `500ms`, `1m` -> milliseconds; null when not a duration. */
export function parseWindow(text: string): number | null {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)$/.exec(text);
  if (m === null) return null;
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
  return ms > 0 ? ms : null;
}

const SEP = '\u0000';

/** The row key of a series for `kind`, or null when the series is not part of that view. */
function rowKeyFor(kind: StatKind): (labels: Labels, target: Labels) => string | null {
  switch (kind) {
    case 'services':
      return (l) => (l.direction === 'inbound' ? [l.dst_namespace ?? '', l.dst_service ?? ''].join(SEP) : null);
    case 'workloads':
      return (l, t) => (l.direction === 'inbound' ? [t.trellis_namespace ?? '', t.trellis_workload ?? ''].join(SEP) : null);
    case 'routes':
      return (l) => {
        if (l.direction !== 'outbound' || (l.route ?? '') === '') return null;
        const route = l.route!;
        const slash = route.indexOf('/');
        return [slash === -1 ? '' : route.slice(0, slash), route, `${l.dst_namespace ?? ''}/${l.dst_service ?? ''}`].join(SEP);
      };
  }
}

/** Rows of `kind` from two scrapes `seconds` apart, sorted by namespace and name. */
export function statRows(kind: StatKind, before: readonly TargetScrape[], after: readonly TargetScrape[], seconds: number): StatRow[] {
  const totals = aggregate(windowDelta(before, after), rowKeyFor(kind));
  const rows: StatRow[] = [];
  for (const [key, t] of totals) rows.push(toRow(kind, key.split(SEP), t, seconds));
  return rows.sort((a, b) => (a.namespace + SEP + a.name + SEP + (a.service ?? '')).localeCompare(b.namespace + SEP + b.name + SEP + (b.service ?? '')));
}

function toRow(kind: StatKind, key: string[], t: RowTotals, seconds: number): StatRow {
  const none = t.requests === 0;
  const row: StatRow = {
    namespace: key[0] ?? '',
    name: key[1] ?? '',
    requests: t.requests,
    rps: seconds > 0 ? t.requests / seconds : 0,
    successRate: none ? null : t.successes / t.requests,
    p50: none ? null : histogramQuantile(0.5, t.buckets),
    p95: none ? null : histogramQuantile(0.95, t.buckets),
    p99: none ? null : histogramQuantile(0.99, t.buckets),
  };
  if (kind === 'routes') row.service = key[2] ?? '';
  return row;
}

const ms = (s: number | null): string => (s === null ? '-' : `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)}ms`);

export function renderStat(kind: StatKind, rows: readonly StatRow[]): string {
  const headers = kind === 'routes' ? ['ROUTE', 'SERVICE'] : ['NAMESPACE', kind === 'services' ? 'SERVICE' : 'WORKLOAD'];
  return table(
    [...headers, 'REQUESTS', 'RPS', 'SUCCESS', 'P50', 'P95', 'P99'],
    rows.map((r) => [
      ...(kind === 'routes' ? [r.name, r.service ?? ''] : [r.namespace, r.name]),
      String(r.requests),
      r.rps.toFixed(2),
      r.successRate === null ? '-' : `${(r.successRate * 100).toFixed(2)}%`,
      ms(r.p50),
      ms(r.p95),
      ms(r.p99),
    ]),
  );
}

export const statCommand: Command = {
  name: 'stat',
  usage,
  async run(argv, io) {
    const p = parse(argv, { 'control-plane': { type: 'string' }, window: { type: 'string' }, output: { type: 'string', short: 'o' } }, usage, io.out, 1);
    if (p === null) return 0;
    const kind = (p.positionals[0] ?? 'services') as StatKind;
    if (!KINDS.includes(kind)) throw new UsageError(`unknown kind "${kind}" (one of ${KINDS.join(', ')})`, usage);
    const output = choice(p, 'output', ['table', 'json'] as const, 'table', usage);
    const windowText = str(p, 'window') ?? '10s';
    const windowMs = parseWindow(windowText);
    if (windowMs === null) throw new UsageError(`--window must be a duration such as 10s, 500ms or 1m (got "${windowText}")`, usage);
    const base = controlPlaneUrl(str(p, 'control-plane'), io);

    const groups = await apiGet<PrometheusTargetGroup[]>(base, '/prometheus/targets');
    const onError = (target: string, err: Error): void => io.err(`trellis stat: skipping ${target}: ${err.message}\n`);
    const first = await scrapeTargets(groups, onError);
    const started = Date.now();
    // On stderr so json stays clean; also tells a waiting user (and tests) the window has begun.
    io.err(`trellis stat: scraped ${first.length} of ${groups.length} proxies; next scrape in ${windowText}\n`);
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    // Same targets as the first time: a proxy that came up in between has no baseline.
    const second = await scrapeTargets(groups, onError);
    const seconds = (Date.now() - started) / 1000;
    const rows = statRows(kind, first, second, seconds);
    io.out(output === 'json' ? json({ kind, windowSeconds: seconds, rows }) : renderStat(kind, rows));
    return 0;
  },
};
