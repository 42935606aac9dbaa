import { apiGet, connectControlPlane } from '../api.js';
import { choice, parse, str } from '../args.js';
import { json, table } from '../format.js';
import type { Command } from '../io.js';
import { edgeRows, type EdgeRow } from '../../telemetry/golden/edge-rows.js';
import { proxyTargets, scrapeProxies } from '../proxy-scrape.js';

const usage = `Usage: trellis edges [-o table|json] [--control-plane URL]

Who calls whom, and with which identity: one scrape of every proxy's /metrics (found through
the control plane's Prometheus service discovery), cumulative since each proxy started.
A caller whose own proxy was scraped is shown as it sent: its outbound series, per workload,
to the service it sent to (a routed request's backend, e.g. a version subset), counting what
its proxy answered itself (fault aborts, timeouts, no route, overload...). A caller whose proxy
was not scraped is shown as the destinations served it, by its verified identity.
Unmeshed or unknown callers show as "-".

Options:
  -o, --output FORMAT     table (default) or json
  --control-plane URL     REST API (default: $TRELLIS_CONTROL_PLANE, else ./.trellis/control-plane.json, else the last "trellis up" (~/.config/trellis/context.json), else http://127.0.0.1:15000)
  -h, --help              this text
`;

// The rows themselves are shared with the control plane's stats API (src/telemetry/golden/).
export { edgeRows, type EdgeRow };

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
    const base = connectControlPlane(str(p, 'control-plane'), io);
    const { trustDomain } = await apiGet<{ trustDomain: string }>(base, '/version');
    const groups = await proxyTargets(base);
    const scrapes = await scrapeProxies(base, groups, (target, err) => io.err(`trellis edges: skipping ${target}: ${err.message}\n`));
    const rows = edgeRows(scrapes, trustDomain);
    io.out(output === 'json' ? json({ trustDomain, edges: rows }) : renderEdges(rows));
    return 0;
  },
};
