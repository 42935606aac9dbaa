/** Per-route golden metrics: the routes that carried traffic, and one route's charts. */
import type { RouteStatsRow } from '../../../../src/api/stats.js';
import { api } from '../../lib/api-client.js';
import { formatRps, formatSeconds } from '../../lib/format.js';
import { href } from '../../lib/route.js';
import { usePoll } from '../../lib/use-poll.js';
import { HealthPill } from '../../components/health.js';
import { Collecting, Empty, PollState } from '../../components/notice.js';
import { GoldenCharts, SERIES_WINDOW } from '../charts/golden-charts.js';
import { GRAPH_WINDOW } from '../graph/graph-view.js';

export function RoutesView({ args }: { args: string[] }) {
  const stats = usePoll((signal) => api.stats(GRAPH_WINDOW, signal), []);
  const [ns, name] = args;
  return (
    <section class="view" data-testid="view-routes">
      <header class="view-head">
        <h1>Routes</h1>
        <span class="muted">traffic per route over the last {GRAPH_WINDOW}, by the backend it was sent to</span>
      </header>
      <PollState polled={stats} what="route metrics">
        {(view) => (view.warmingUp ? <Collecting /> : <RouteTable rows={view.routes} />)}
      </PollState>
      {ns !== undefined && name !== undefined ? (
        <>
          <header class="view-head">
            <h2 data-testid="route-title">
              {ns}/{name}
            </h2>
            <span class="muted">last {SERIES_WINDOW}</span>
          </header>
          <GoldenCharts kind="route" namespace={ns} name={`${ns}/${name}`} />
        </>
      ) : null}
    </section>
  );
}

function RouteTable({ rows }: { rows: RouteStatsRow[] }) {
  if (rows.length === 0) {
    return (
      <Empty title="No route carried traffic in this window.">
        Routes are HTTPRoute/GRPCRoute resources (see the Resources tab); apply one with <code>trellis apply -f route.yaml</code> and send requests to its service.
      </Empty>
    );
  }
  return (
    <table class="table" data-testid="route-table">
      <thead>
        <tr>
          <th>Route</th>
          <th>Backend</th>
          <th>Success</th>
          <th class="num">Requests/s</th>
          <th class="num">p50</th>
          <th class="num">p99</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => {
          const [ns = '', name = r.route] = r.route.split('/');
          return (
            <tr key={`${r.route}>${r.service}`} data-testid="route-row" data-route={r.route}>
              <td>
                <a href={href('routes', [ns, name])}>{r.route}</a>
              </td>
              <td>{r.service}</td>
              <td>
                <HealthPill rate={r.successRate} requests={r.requests} />
              </td>
              <td class="num">{formatRps(r.rps)}</td>
              <td class="num">{formatSeconds(r.p50)}</td>
              <td class="num">{formatSeconds(r.p99)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
