/**
 * The dashboard's service graph and tables from one window's increase: services as served,
 * routes as sent, and edges from each caller to each destination (the shared edge rule of
 * `trellis edges`: the destination's count when it was scraped, else the caller's).
 * A caller becomes its workload's node: the service it serves, or the ingress itself;
 * unmeshed callers are the one `external` node.
 */
import type { WorkloadView } from '../../api/registry.js';
import type { GraphEdge, GraphNode, RouteStatsRow, ServiceStatsRow } from '../../api/stats.js';
import { callerEdges, callerIdentity, type CallerEdge } from '../../telemetry/golden/edge-rows.js';
import { addTotals, goldenMetrics } from '../../telemetry/golden/golden-metrics.js';
import type { TargetScrape } from '../../telemetry/golden/scrape.js';
import { statRowsOfDelta } from '../../telemetry/golden/stat-rows.js';
import type { RowTotals } from '../../telemetry/golden/window.js';

/** Node id of every unmeshed caller. */
export const EXTERNAL_NODE_ID = 'external';

export interface ServiceGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  services: ServiceStatsRow[];
  routes: RouteStatsRow[];
}

type NodeRef = Omit<GraphNode, 'metrics'>;

const serviceNode = (namespace: string, name: string): NodeRef => ({ id: `${namespace}/${name}`, namespace, name, kind: 'service' });

/** Finds a caller's workload: by the name its own proxy reported, else by its service account. */
class CallerIndex {
  private readonly byName = new Map<string, WorkloadView>();
  private readonly byAccount = new Map<string, WorkloadView>();

  constructor(workloads: readonly WorkloadView[]) {
    for (const w of workloads) {
      this.byName.set(`${w.namespace}/${w.name}`, w);
      // Several workloads may share an account; the first (the registry's order) stands for it.
      if (!this.byAccount.has(`${w.namespace}/${w.serviceAccount}`)) this.byAccount.set(`${w.namespace}/${w.serviceAccount}`, w);
    }
  }

  nodeOf(e: CallerEdge): NodeRef {
    if (e.callerServiceAccount === '') return { id: EXTERNAL_NODE_ID, namespace: '', name: EXTERNAL_NODE_ID, kind: 'external' };
    const ns = e.callerNamespace;
    const w = (e.callerWorkload !== null ? this.byName.get(`${ns}/${e.callerWorkload}`) : undefined) ?? this.byAccount.get(`${ns}/${e.callerServiceAccount}`);
    if (w === undefined) return serviceNode(ns, e.callerWorkload ?? e.callerServiceAccount);
    return w.ingress ? { id: `${ns}/${w.name}`, namespace: ns, name: w.name, kind: 'ingress' } : serviceNode(ns, w.service);
  }
}

/** Graph and tables over a window of `seconds`; `delta` is the window's increase (windowDelta). */
export function serviceGraph(delta: readonly TargetScrape[], seconds: number, workloads: readonly WorkloadView[], trustDomain: string): ServiceGraph {
  const services = statRowsOfDelta('services', delta, seconds).map(({ namespace, name, service: _, ...m }): ServiceStatsRow => ({ namespace, name, ...m }));
  const routes = statRowsOfDelta('routes', delta, seconds).map(({ name, service, namespace: _, ...m }): RouteStatsRow => ({ route: name, service: service ?? '', ...m }));

  const nodes = new Map<string, GraphNode>();
  const addNode = (n: NodeRef): void => {
    if (!nodes.has(n.id)) nodes.set(n.id, n.kind === 'service' ? { ...n, metrics: goldenMetrics(undefined, seconds) } : { ...n });
  };
  for (const w of workloads) addNode(w.ingress ? { id: `${w.namespace}/${w.name}`, namespace: w.namespace, name: w.name, kind: 'ingress' } : serviceNode(w.namespace, w.service));
  for (const r of services) {
    const { namespace, name, ...metrics } = r;
    const id = `${namespace}/${name}`;
    nodes.set(id, { ...(nodes.get(id) ?? serviceNode(namespace, name)), metrics });
  }

  const callers = new CallerIndex(workloads);
  const edges = new Map<string, { source: string; target: string; identity: string | null; totals: RowTotals }>();
  for (const e of callerEdges(delta)) {
    // Edges are calls in the window; a pair that only ever talked before it is not drawn.
    if (e.totals.requests === 0) continue;
    const from = callers.nodeOf(e);
    const to = serviceNode(e.dstNamespace, e.dstService);
    addNode(from);
    addNode(to);
    const identity = callerIdentity(e, trustDomain);
    const key = `${from.id}\u0000${to.id}\u0000${identity ?? ''}`;
    const edge = edges.get(key);
    if (edge === undefined) edges.set(key, { source: from.id, target: to.id, identity, totals: { requests: 0, successes: 0, buckets: new Map() } });
    addTotals(edges.get(key)!.totals, e.totals);
  }

  const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const edgeList = [...edges.values()]
    .sort((a, b) => byId({ id: `${a.source}\u0000${a.target}` }, { id: `${b.source}\u0000${b.target}` }))
    .map(({ source, target, identity, totals }): GraphEdge => (identity === null ? { source, target, metrics: goldenMetrics(totals, seconds) } : { source, target, identity, metrics: goldenMetrics(totals, seconds) }));
  return { nodes: [...nodes.values()].sort(byId), edges: edgeList, services, routes };
}
