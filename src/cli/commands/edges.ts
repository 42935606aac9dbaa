import type { PrometheusTargetGroup } from '../../api/registry.js';
import { apiGet, controlPlaneUrl } from '../api.js';
import { choice, parse, str } from '../args.js';
import { json, table } from '../format.js';
import type { Command } from '../io.js';
import { aggregate, scrapeTargets, type Labels, type TargetScrape } from '../metrics-scrape.js';

const usage = `Usage: trellis edges [-o table|json] [--control-plane URL]

Who calls whom, and with which identity: one scrape of every proxy's /metrics (found through
the control plane's Prometheus service discovery), cumulative since each proxy started.
Callers come from the servers' inbound side (the caller's verified identity) and from the
callers' outbound side (its workload name); both are merged into one row per caller and
destination. Requests and success are what the destination served when it saw them,
else what the caller sent. Unmeshed or unknown callers show as "-".

Options:
  -o, --output FORMAT     table (default) or json
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else http://127.0.0.1:15000)
  -h, --help              this text
`;

export interface EdgeRow {
  /** `<ns>/<workload>` when the caller's proxy reported it, else `<ns>/<service account>`; "-" when unknown. */
  src: string;
  /** `<ns>/<service>` */
  dst: string;
  /** The caller's SPIFFE id, "-" when it had none (unmeshed). */
  identity: string;
  requests: number;
  /** 0..1; null without requests. */
  successRate: number | null;
}

const SEP = '\u0000';

/** Rows from one scrape of every proxy, sorted by source then destination. */
export function edgeRows(scrapes: readonly TargetScrape[], trustDomain: string): EdgeRow[] {
  // Key: direction, caller namespace, caller service account, destination; the caller's workload
  // is carried separately (inbound series do not know it).
  const keyOf = (l: Labels): string | null => {
    if (l.direction !== 'inbound' && l.direction !== 'outbound') return null;
    return [l.direction, l.src_namespace ?? '', l.src_service_account ?? '', `${l.dst_namespace ?? ''}/${l.dst_service ?? ''}`].join(SEP);
  };
  const totals = aggregate(
    scrapes.map((s) => ({ ...s, samples: s.samples.filter((x) => x.name === 'trellis_requests_total') })),
    keyOf,
  );
  const workloadOf = new Map<string, string>();
  for (const t of scrapes) {
    for (const s of t.samples) {
      const l = s.labels;
      if (l.direction === 'outbound' && (l.src_workload ?? '') !== '') workloadOf.set([l.src_namespace, l.src_service_account].join(SEP), `${l.src_namespace ?? ''}/${l.src_workload}`);
    }
  }
  const rows = new Map<string, EdgeRow>();
  // Inbound first: the server's count wins over the caller's when both exist.
  const entries = [...totals].sort(([a], [b]) => (a.startsWith('inbound') === b.startsWith('inbound') ? 0 : a.startsWith('inbound') ? -1 : 1));
  for (const [key, t] of entries) {
    const [, ns = '', sa = '', dst = ''] = key.split(SEP);
    const caller = [ns, sa].join(SEP);
    const edgeKey = [caller, dst].join(SEP);
    if (rows.has(edgeKey)) continue;
    const known = sa !== '';
    rows.set(edgeKey, {
      src: workloadOf.get(caller) ?? (known ? `${ns}/${sa}` : '-'),
      dst,
      identity: known ? `spiffe://${trustDomain}/ns/${ns}/sa/${sa}` : '-',
      requests: t.requests,
      successRate: t.requests === 0 ? null : t.successes / t.requests,
    });
  }
  return [...rows.values()].sort((a, b) => (a.src + SEP + a.dst).localeCompare(b.src + SEP + b.dst));
}

export function renderEdges(rows: readonly EdgeRow[]): string {
  return table(
    ['SRC', 'DST', 'IDENTITY', 'REQUESTS', 'SUCCESS'],
    rows.map((r) => [r.src, r.dst, r.identity, String(r.requests), r.successRate === null ? '-' : `${(r.successRate * 100).toFixed(2)}%`]),
  );
}

export const edgesCommand: Command = {
  name: 'edges',
  usage,
  async run(argv, io) {
    const p = parse(argv, { 'control-plane': { type: 'string' }, output: { type: 'string', short: 'o' } }, usage, io.out, 0);
    if (p === null) return 0;
    const output = choice(p, 'output', ['table', 'json'] as const, 'table', usage);
    const base = controlPlaneUrl(str(p, 'control-plane'), io);
    const { trustDomain } = await apiGet<{ trustDomain: string }>(base, '/version');
    const groups = await apiGet<PrometheusTargetGroup[]>(base, '/prometheus/targets');
    const scrapes = await scrapeTargets(groups, (target, err) => io.err(`trellis edges: skipping ${target}: ${err.message}\n`));
    const rows = edgeRows(scrapes, trustDomain);
    io.out(output === 'json' ? json({ trustDomain, edges: rows }) : renderEdges(rows));
    return 0;
  },
};
