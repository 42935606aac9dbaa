/**
 * Per-service golden metrics: pick a service on the left (worst success rate first), see its
 * request rate, success rate and latency over the last 5 minutes on the right.
 */
import type { ServiceView } from '../../../../src/api/registry.js';
import type { ServiceStatsRow } from '../../../../src/api/stats.js';
import { api } from '../../lib/api-client.js';
import { href } from '../../lib/route.js';
import { usePoll } from '../../lib/use-poll.js';
import { HealthPill } from '../../components/health.js';
import { Empty, ErrorNotice } from '../../components/notice.js';
import { GoldenCharts, SERIES_WINDOW } from '../charts/golden-charts.js';
import { GRAPH_WINDOW } from '../graph/graph-view.js';
import { WhyPanel } from '../why/why-panel.js';

interface Listed {
  namespace: string;
  name: string;
  stats?: ServiceStatsRow;
  endpoints?: string;
}

export function ServicesView({ args }: { args: string[] }) {
  const services = usePoll((signal) => api.services(signal), []);
  const stats = usePoll((signal) => api.stats(GRAPH_WINDOW, signal), []);
  const listed = mergeServices(services.data ?? [], stats.data?.services ?? []);
  const [ns, name] = args;
  const selected = ns !== undefined && name !== undefined ? { namespace: ns, name } : undefined;

  return (
    <section class="view split" data-testid="view-services">
      <aside class="side-list">
        <h2>Services</h2>
        {services.error !== undefined ? <ErrorNotice error={services.error} /> : null}
        {listed.length === 0 && !services.loading ? <Empty title="No services registered.">Start a mesh with <code>trellis up &lt;dir&gt;</code>.</Empty> : null}
        <ul>
          {listed.map((s) => (
            <li key={`${s.namespace}/${s.name}`} class={selected?.namespace === s.namespace && selected.name === s.name ? 'active' : ''}>
              <a href={href('services', [s.namespace, s.name])} data-testid="service-link" data-service={`${s.namespace}/${s.name}`}>
                <span>{s.name}</span>
                {s.stats !== undefined ? <HealthPill rate={s.stats.successRate} requests={s.stats.requests} /> : <span class="muted small">{s.endpoints}</span>}
              </a>
            </li>
          ))}
        </ul>
      </aside>
      <div class="main-pane">
        {selected === undefined ? (
          <Empty title="Pick a service on the left.">Its request rate, success rate and latency over the last {SERIES_WINDOW} appear here.</Empty>
        ) : (
          <>
            <header class="view-head">
              <h1 data-testid="service-title">
                {selected.name} <span class="muted">{selected.namespace}</span>
              </h1>
              <span class="muted">last {SERIES_WINDOW}, as served (inbound) · </span>
              <a href={href('tap', [], { workload: `${selected.namespace}/${selected.name}` })}>tap its requests →</a>
            </header>
            <GoldenCharts kind="service" namespace={selected.namespace} name={selected.name} />
            <WhyPanel key={`${selected.namespace}/${selected.name}`} namespace={selected.namespace} name={selected.name} services={services.data ?? []} />
          </>
        )}
      </div>
    </section>
  );
}

/** Registered services, with their stats when there are any; failing ones first. */
function mergeServices(services: ServiceView[], stats: ServiceStatsRow[]): Listed[] {
  const byId = new Map<string, Listed>();
  for (const s of services) byId.set(`${s.namespace}/${s.name}`, { namespace: s.namespace, name: s.name, endpoints: `${s.endpointsReady}/${s.endpointsTotal} ready` });
  for (const row of stats) {
    const id = `${row.namespace}/${row.name}`;
    byId.set(id, { ...(byId.get(id) ?? { namespace: row.namespace, name: row.name }), stats: row });
  }
  return [...byId.values()].sort((a, b) => (a.stats?.successRate ?? 2) - (b.stats?.successRate ?? 2) || a.name.localeCompare(b.name));
}
