/** Every service's golden metrics, worst success rate first: the failing one is the top row. */
import type { ServiceStatsRow } from '../../../../src/api/stats.js';
import { HealthPill } from '../../components/health.js';
import { formatRps, formatSeconds } from '../../lib/format.js';
import { href } from '../../lib/route.js';

export function ServiceTable({ rows }: { rows: ServiceStatsRow[] }) {
  const sorted = [...rows].sort((a, b) => (a.successRate ?? 2) - (b.successRate ?? 2) || b.rps - a.rps || a.name.localeCompare(b.name));
  return (
    <table class="table" data-testid="service-table">
      <thead>
        <tr>
          <th>Service</th>
          <th>Success</th>
          <th class="num">Requests/s</th>
          <th class="num">p50</th>
          <th class="num">p95</th>
          <th class="num">p99</th>
        </tr>
      </thead>
      <tbody>
        {sorted.map((r) => (
          <tr key={`${r.namespace}/${r.name}`} data-testid="service-row" data-service={`${r.namespace}/${r.name}`}>
            <td>
              <a href={href('services', [r.namespace, r.name])}>{r.name}</a> <span class="muted">{r.namespace}</span>
            </td>
            <td>
              <HealthPill rate={r.successRate} requests={r.requests} />
            </td>
            <td class="num">{formatRps(r.rps)}</td>
            <td class="num">{formatSeconds(r.p50)}</td>
            <td class="num">{formatSeconds(r.p95)}</td>
            <td class="num">{formatSeconds(r.p99)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
