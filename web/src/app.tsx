/** The dashboard's shell: a top bar with the views as tabs, and the view the hash names. */
import type { ComponentChildren } from 'preact';
import { api } from './lib/api-client.js';
import { href, type Route } from './lib/route.js';
import { useRoute } from './lib/router.js';
import { usePoll } from './lib/use-poll.js';
import { GraphView } from './views/graph/graph-view.js';
import { ServicesView } from './views/services/services-view.js';
import { RoutesView } from './views/routes/routes-view.js';
import { WorkloadsView } from './views/workloads/workloads-view.js';
import { ResourcesView } from './views/resources/resources-view.js';
import { TracesView } from './views/traces/traces-view.js';
import { TapView } from './views/tap/tap-view.js';

const TABS: { view: string; label: string }[] = [
  { view: 'graph', label: 'Graph' },
  { view: 'services', label: 'Services' },
  { view: 'routes', label: 'Routes' },
  { view: 'workloads', label: 'Workloads' },
  { view: 'resources', label: 'Policies' },
  { view: 'traces', label: 'Traces' },
  { view: 'tap', label: 'Tap' },
];

export function App() {
  const route = useRoute();
  const version = usePoll((signal) => api.version(signal), [], 15_000);
  return (
    <div class="app">
      <header class="topbar">
        <a class="brand" href={href('graph')}>
          <span class="brand-mark" aria-hidden="true" />
          Trellis
        </a>
        <nav>
          {TABS.map((t) => (
            <a key={t.view} href={href(t.view)} class={route.view === t.view ? 'tab active' : 'tab'} data-testid={`tab-${t.view}`}>
              {t.label}
            </a>
          ))}
        </nav>
        <span class={`conn ${version.error !== undefined ? 'conn-bad' : 'conn-ok'}`} data-testid="connection">
          {version.error !== undefined ? 'control plane unreachable' : version.data !== undefined ? `${version.data.trustDomain} · v${version.data.version}` : '…'}
        </span>
      </header>
      <main>{viewFor(route)}</main>
    </div>
  );
}

function viewFor(route: Route): ComponentChildren {
  switch (route.view) {
    case 'services':
      return <ServicesView args={route.args} />;
    case 'routes':
      return <RoutesView args={route.args} />;
    case 'workloads':
      return <WorkloadsView />;
    case 'resources':
      return <ResourcesView />;
    case 'traces':
      return <TracesView args={route.args} />;
    case 'tap':
      return <TapView key={route.query.get('workload') ?? ''} query={route.query} />;
    default:
      return <GraphView />;
  }
}
