import { connectControlPlane } from '../api.js';
import { choice, parse, str } from '../args.js';
import { json, table } from '../format.js';
import { UsageError, type Command } from '../io.js';
import { proxyTargets, scrapeProxies } from '../proxy-scrape.js';
import { STAT_KINDS, statRows, type StatKind, type StatRow } from '../../telemetry/golden/stat-rows.js';

// The rows themselves are shared with the control plane's stats API (src/telemetry/golden/).
export { statRows, type StatKind, type StatRow };

const usage = `Usage: trellis stat [services|workloads|routes] [--window D] [-o table|json] [--control-plane URL]

Golden metrics over a window: scrapes every proxy's /metrics (found through the control
plane's Prometheus service discovery; a proxy on another host through the control plane's
relay, GET /api/v1/proxies/<node>/metrics) twice, --window apart, and shows per row the requests
in between, requests per second, success rate (non-5xx; for gRPC also grpc-status OK) and
latency p50/p95/p99 from the histogram buckets ("-" when there were no requests).

  services   by destination service, as served (inbound side)   (default)
  workloads  by the scraped proxy's workload, as served (inbound side)
  routes     by route and destination service, as sent (outbound side, routed requests only)

A proxy that cannot be scraped is reported on stderr and left out.

Options:
  --window D              time between the two scrapes, e.g. 2s, 500ms, 1m (default 10s)
  -o, --output FORMAT     table (default) or json
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else the last "trellis up" (~/.config/trellis/context.json), else http://127.0.0.1:15000)
  -h, --help              this text
`;

/** `10s`, `500ms`, `1m` -> milliseconds; null when not a duration. */
export function parseWindow(text: string): number | null {
  const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m)$/.exec(text);
  if (m === null) return null;
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
  return ms > 0 ? ms : null;
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
    if (!STAT_KINDS.includes(kind)) throw new UsageError(`unknown kind "${kind}" (one of ${STAT_KINDS.join(', ')})`, usage);
    const output = choice(p, 'output', ['table', 'json'] as const, 'table', usage);
    const windowText = str(p, 'window') ?? '10s';
    const windowMs = parseWindow(windowText);
    if (windowMs === null) throw new UsageError(`--window must be a duration such as 10s, 500ms or 1m (got "${windowText}")`, usage);
    const base = connectControlPlane(str(p, 'control-plane'), io);

    const groups = await proxyTargets(base);
    const onError = (target: string, err: Error): void => io.err(`trellis stat: skipping ${target}: ${err.message}\n`);
    const first = await scrapeProxies(base, groups, onError);
    const started = Date.now();
    // On stderr so json stays clean; also tells a waiting user (and tests) the window has begun.
    io.err(`trellis stat: scraped ${first.length} of ${groups.length} proxies; next scrape in ${windowText}\n`);
    await new Promise((resolve) => setTimeout(resolve, windowMs));
    // Same targets as the first time: a proxy that came up in between has no baseline.
    const second = await scrapeProxies(base, groups, onError);
    const seconds = (Date.now() - started) / 1000;
    const rows = statRows(kind, first, second, seconds);
    io.out(output === 'json' ? json({ kind, windowSeconds: seconds, rows }) : renderStat(kind, rows));
    return 0;
  },
};
