/**
 * The dashboard's service graph and tables from one window's increase: services as served,
 * routes as sent, and edges from each caller to each destination (the shared edge rule of
 * `trellis edges`, src/telemetry/golden/edge-rows.ts: as the caller sent when its proxy was
 * scraped, mesh-made failures included, else as the destination served).
 * A caller becomes its workload's node: the service it serves, or the ingress itself;
 * unmeshed callers are the one `external` node. Services declared by label selector get
 * nodes as served by their matching workloads; opaque TCP relays become `tcp` edges.
 */
import type { ServiceView, WorkloadView } from '../../api/registry.js';
import type { GraphEdge, GraphNode, RouteStatsRow, ServiceStatsRow, TcpTraffic } from '../../api/stats.js';
import { callerEdges, callerIdentity, type CallerEdge } from '../../telemetry/golden/edge-rows.js';
import { addTotals, goldenMetrics } from '../../telemetry/golden/golden-metrics.js';
import type { TargetScrape } from '../../telemetry/golden/scrape.js';
import { statRowsOfDelta } from '../../telemetry/golden/stat-rows.js';
import { aggregate, type RowTotals } from '../../telemetry/golden/window.js';
import { selectorServices, servedByWorkloads } from './selector-services.js';
import { tcpTraffic, type TcpTotals } from './tcp-traffic.js';

/** Node id of every unmeshed caller. */
export const EXTERNAL_NODE_ID = 'external';

export interface ServiceGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
  services: ServiceStatsRow[];
  routes: RouteStatsRow[];
}

type NodeRef = Pick<GraphNode, 'id' | 'namespace' | 'name' | 'kind'>;

const serviceNode = (namespace: string, name: string): NodeRef => ({ id: `${namespace}/${name}`, namespace, name, kind: 'service' });
const workloadNode = (w: WorkloadView): NodeRef => (w.ingress ? { id: `${w.namespace}/${w.name}`, namespace: w.namespace, name: w.name, kind: 'ingress' } : serviceNode(w.namespace, w.service));

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
    return w === undefined ? serviceNode(ns, e.callerWorkload ?? e.callerServiceAccount) : workloadNode(w);
  }
}

function tcpOf(t: TcpTotals, seconds: number): TcpTraffic {
  return { connections: t.connections, connectionsPerSecond: seconds > 0 ? t.connections / seconds : 0, bytes: t.bytes, bytesPerSecond: seconds > 0 ? t.bytes / seconds : 0 };
}

const byId = (a: { id: string }, b: { id: string }): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Graph and tables over a window of `seconds`; `delta` is the window's increase (windowDelta).
 * `services` (the registry's) names the selector services; the others are known from workloads.
 */
export function serviceGraph(delta: readonly TargetScrape[], seconds: number, workloads: readonly WorkloadView[], trustDomain: string, services: readonly ServiceView[] = []): ServiceGraph {
  const serviceRows = statRowsOfDelta('services', delta, seconds).map(({ namespace, name, service: _, ...m }): ServiceStatsRow => ({ namespace, name, ...m }));
  const routes = statRowsOfDelta('routes', delta, seconds).map(({ name, service, namespace: _, ...m }): RouteStatsRow => ({ route: name, service: service ?? '', ...m }));

  const nodes = new Map<string, GraphNode>();
  const addNode = (n: NodeRef): GraphNode => {
    let node = nodes.get(n.id);
    if (node === undefined) nodes.set(n.id, (node = n.kind === 'service' ? { ...n, metrics: goldenMetrics(undefined, seconds) } : { ...n }));
    return node;
  };
  for (const w of workloads) addNode(workloadNode(w));
  for (const r of serviceRows) {
    const { namespace, name, ...metrics } = r;
    addNode(serviceNode(namespace, name)).metrics = metrics;
  }
  for (const sel of selectorServices(services, workloads)) {
    const id = `${sel.namespace}/${sel.name}`;
    // A name some workload serves is that service (the registry leaves such a selector out too).
    if (nodes.has(id)) continue;
    const node = addNode(serviceNode(sel.namespace, sel.name));
    node.metrics = goldenMetrics(aggregate(delta, servedByWorkloads(sel.workloads)).get(''), seconds);
    if (sel.subsetOf !== undefined) node.subsetOf = sel.subsetOf;
  }

  const callers = new CallerIndex(workloads);
  const edges = new Map<string, { source: string; target: string; identity: string | null; totals: RowTotals }>();
  for (const e of callerEdges(delta)) {
    // Edges are calls in the window; a pair that only ever talked before it is not drawn.
    if (e.totals.requests === 0) continue;
    const from = addNode(callers.nodeOf(e));
    const to = addNode(serviceNode(e.dstNamespace, e.dstService));
    const identity = callerIdentity(e, trustDomain);
    const key = `${from.id}\u0000${to.id}\u0000${identity ?? ''}`;
    let edge = edges.get(key);
    if (edge === undefined) edges.set(key, (edge = { source: from.id, target: to.id, identity, totals: { requests: 0, successes: 0, buckets: new Map() } }));
    addTotals(edge.totals, e.totals);
  }
  const edgeList = [...edges.values()].map(({ source, target, identity, totals }): GraphEdge => (identity === null ? { source, target, metrics: goldenMetrics(totals, seconds) } : { source, target, identity, metrics: goldenMetrics(totals, seconds) }));

  const tcp = tcpTraffic(delta, workloads);
  for (const e of tcp.edges) {
    if (e.connections === 0 && e.bytes === 0) continue;
    const from = addNode(workloadNode(e.caller));
    const to = addNode(serviceNode(e.dstNamespace, e.dstService));
    const t = tcpOf(e, seconds);
    edgeList.push({ source: from.id, target: to.id, identity: e.caller.identity, protocol: 'tcp', ...t, metrics: goldenMetrics(undefined, seconds) });
  }
  for (const [id, t] of tcp.served) if (t.connections > 0 || t.bytes > 0) addNode(serviceNode(id.slice(0, id.indexOf('/')), id.slice(id.indexOf('/') + 1))).tcp = tcpOf(t, seconds);

  const edgeOrder = (e: GraphEdge): string => `${e.source}\u0000${e.target}\u0000${e.protocol ?? ''}`;
  edgeList.sort((a, b) => byId({ id: edgeOrder(a) }, { id: edgeOrder(b) }));
  return { nodes: [...nodes.values()].sort(byId), edges: edgeList, services: serviceRows, routes };
}
