/**
 * The service graph: who calls whom, each edge labelled with its request rate and success
 * rate as the caller sent it (failures the mesh made included), each node coloured by the
 * success rate it serves. A version subset hangs off its service with a dashed connector;
 * opaque TCP edges carry connections and bytes in a neutral colour. Click a service for its charts.
 */
import { useMemo } from 'preact/hooks';
import type { GraphEdge, GraphNode, StatsView } from '../../../../src/api/stats.js';
import { api } from '../../lib/api-client.js';
import { formatBytes, formatPercent, formatRps, formatSeconds, metricsHealth, shortName } from '../../lib/format.js';
import { href } from '../../lib/route.js';
import { usePoll } from '../../lib/use-poll.js';
import { Collecting, Empty, PollState } from '../../components/notice.js';
import { edgeKey, layoutGraph, NODE_HEIGHT, NODE_WIDTH, shapeKey, type GraphLayout } from './graph-layout.js';
import { ServiceTable } from './service-table.js';

export const GRAPH_WINDOW = '30s';

export function GraphView() {
  const stats = usePoll((signal) => api.stats(GRAPH_WINDOW, signal), []);
  return (
    <section class="view" data-testid="view-graph">
      <header class="view-head">
        <h1>Service graph</h1>
        <span class="muted">last {GRAPH_WINDOW} · edges: requests/s and success rate as sent (TCP: connections/s) · colour: success rate</span>
      </header>
      <PollState polled={stats} what="the service graph">
        {(view) => <GraphBody view={view} />}
      </PollState>
    </section>
  );
}

function GraphBody({ view }: { view: StatsView }) {
  if (view.warmingUp) return <Collecting />;
  if (view.nodes.length === 0) {
    return (
      <Empty title="No traffic in the last 30 s.">
        Send a few requests through an ingress (for the demo: <code>curl http://127.0.0.1:8080/</code>) and the graph draws itself.
      </Empty>
    );
  }
  return (
    <>
      <Graph nodes={view.nodes} edges={view.edges} />
      <ServiceTable rows={view.services} />
    </>
  );
}

function Graph({ nodes, edges }: { nodes: GraphNode[]; edges: GraphEdge[] }) {
  const key = shapeKey(nodes, edges);
  // Layout only when the shape changes: numbers update every poll, positions stay put.
  const layout = useMemo(() => layoutGraph(nodes, edges), [key]);
  return (
    <div class="graph-frame" data-testid="graph">
      <svg class="graph" viewBox={`0 0 ${Math.max(layout.width, 1)} ${Math.max(layout.height, 1)}`} width={layout.width} height={layout.height} role="img" aria-label="service graph">
        <defs>
          {(['ok', 'warn', 'bad', 'idle', 'tcp'] as const).map((h) => (
            <marker id={`arrow-${h}`} viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto-start-reverse">
              <path d="M0,0 L10,5 L0,10 z" class={`arrow arrow-${h}`} />
            </marker>
          ))}
        </defs>
        {[...layout.subsetLinks].map(([id, d]) => (
          <path key={`subset-${id}`} d={d} class="subset-link" data-testid="graph-subset-link" data-id={id} />
        ))}
        {edges.map((e) => (e.protocol === 'tcp' ? <TcpEdge key={`tcp-${edgeKey(e.source, e.target)}`} edge={e} layout={layout} /> : <Edge key={edgeKey(e.source, e.target)} edge={e} layout={layout} />))}
        {nodes.map((n) => (
          <Node key={n.id} node={n} layout={layout} />
        ))}
      </svg>
    </div>
  );
}

function Edge({ edge, layout }: { edge: GraphEdge; layout: GraphLayout }) {
  const placed = layout.edges.get(edgeKey(edge.source, edge.target));
  if (placed === undefined) return null;
  const h = metricsHealth(edge.metrics);
  const m = edge.metrics;
  return (
    <g class={`edge edge-${h}`} data-testid="graph-edge" data-source={edge.source} data-target={edge.target} data-rps={m.rps} data-success-rate={m.successRate ?? ''}>
      <title>
        {`${edge.source} → ${edge.target}\n${m.requests} requests, ${formatRps(m.rps)}, success ${formatPercent(m.successRate)}\np50 ${formatSeconds(m.p50)} · p95 ${formatSeconds(m.p95)} · p99 ${formatSeconds(m.p99)}${edge.identity !== undefined ? `\ncaller ${edge.identity}` : ''}`}
      </title>
      <path d={placed.path} class="edge-line" marker-end={`url(#arrow-${h})`} />
      <g transform={`translate(${placed.labelX},${placed.labelY})`} class="edge-label" data-testid="graph-edge-label">
        <rect x={-74} y={-17} width={148} height={34} rx={6} />
        <text y={-3} text-anchor="middle" class="edge-rps">
          {formatRps(m.rps)}
        </text>
        <text y={11} text-anchor="middle" class={`edge-sr edge-sr-${h}`}>
          {formatPercent(m.successRate)} · p95 {formatSeconds(m.p95)}
        </text>
      </g>
    </g>
  );
}

/** Opaque TCP: no requests or success to colour by, so a neutral line labelled with connections and bytes. */
function TcpEdge({ edge, layout }: { edge: GraphEdge; layout: GraphLayout }) {
  const placed = layout.edges.get(edgeKey(edge.source, edge.target));
  if (placed === undefined) return null;
  const perSecond = edge.connectionsPerSecond ?? 0;
  return (
    <g class="edge edge-tcp" data-testid="graph-edge" data-protocol="tcp" data-source={edge.source} data-target={edge.target} data-rps={0} data-connections-per-second={perSecond}>
      <title>
        {`${edge.source} → ${edge.target} (TCP)\n${edge.connections ?? 0} connections, ${formatPerSecond(perSecond, 'conn')}, ${formatBytes(edge.bytes ?? 0)} relayed${edge.identity !== undefined ? `\ncaller ${edge.identity}` : ''}`}
      </title>
      <path d={placed.path} class="edge-line" marker-end="url(#arrow-tcp)" />
      <g transform={`translate(${placed.labelX},${placed.labelY})`} class="edge-label" data-testid="graph-edge-label">
        <rect x={-74} y={-17} width={148} height={34} rx={6} />
        <text y={-3} text-anchor="middle" class="edge-rps">
          {formatPerSecond(perSecond, 'conn')}
        </text>
        <text y={11} text-anchor="middle" class="edge-sr">
          TCP · {formatBytes(Math.round(edge.bytesPerSecond ?? 0))}/s
        </text>
      </g>
    </g>
  );
}

/** "0.50 conn/s": rates below one per second keep two decimals. */
function formatPerSecond(rate: number, unit: string): string {
  return `${rate === 0 ? '0' : rate < 10 ? rate.toFixed(2) : rate.toFixed(1)} ${unit}/s`;
}

/** The node's second line: served metrics, TCP connections, or what it stands for. */
function nodeSummary(node: GraphNode): string {
  const m = node.metrics;
  if (m === undefined) return node.kind === 'ingress' ? 'entry point' : 'outside the mesh';
  if (m.requests > 0) return `${formatPercent(m.successRate)} · ${formatRps(m.rps)} · p95 ${formatSeconds(m.p95)}`;
  if (node.tcp !== undefined) return `TCP · ${formatPerSecond(node.tcp.connectionsPerSecond, 'conn')} · ${formatBytes(Math.round(node.tcp.bytesPerSecond))}/s`;
  return 'no requests';
}

function Node({ node, layout }: { node: GraphNode; layout: GraphLayout }) {
  const placed = layout.nodes.get(node.id);
  if (placed === undefined) return null;
  const h = node.kind === 'service' ? metricsHealth(node.metrics) : 'idle';
  const tcpOnly = h === 'idle' && node.tcp !== undefined;
  const x = placed.x - NODE_WIDTH / 2;
  const y = placed.y - NODE_HEIGHT / 2;
  const body = (
    <g
      class={`node node-${node.kind} node-${h}${tcpOnly ? ' node-tcp' : ''}${node.subsetOf !== undefined ? ' node-subset' : ''}`}
      data-testid="graph-node"
      data-id={node.id}
      data-kind={node.kind}
      data-health={h}
      data-subset-of={node.subsetOf}
    >
      <rect x={x} y={y} width={NODE_WIDTH} height={NODE_HEIGHT} rx={10} />
      <rect x={x} y={y} width={6} height={NODE_HEIGHT} rx={3} class="node-stripe" />
      <text x={x + 16} y={y + 24} class="node-name">
        {node.name}
      </text>
      <text x={x + NODE_WIDTH - 10} y={y + 24} text-anchor="end" class={node.subsetOf !== undefined ? 'node-kind node-subset-of' : 'node-kind'}>
        {node.subsetOf !== undefined ? `subset of ${shortName(node.subsetOf)}` : node.kind === 'service' ? node.namespace : node.kind}
      </text>
      <text x={x + 16} y={y + 46} class="node-metrics">
        {nodeSummary(node)}
      </text>
    </g>
  );
  if (node.kind !== 'service') return body;
  return <a href={href('services', [node.namespace, node.name])}>{body}</a>;
}
