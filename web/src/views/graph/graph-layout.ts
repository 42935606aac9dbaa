/**
 * Places the service graph with dagre (left to right: callers on the left). Positions depend
 * only on the set of node ids and edges, so the graph stays still while numbers update.
 */
import dagre from '@dagrejs/dagre';
import type { EdgeLabel, GraphLabel, NodeLabel } from '@dagrejs/dagre';
import type { GraphEdge, GraphNode } from '../../../../src/api/stats.js';

export const NODE_WIDTH = 230;
export const NODE_HEIGHT = 64;

export interface PlacedNode {
  id: string;
  x: number;
  y: number;
}

export interface PlacedEdge {
  source: string;
  target: string;
  /** SVG path `d` through dagre's points. */
  path: string;
  /** Where the label sits (the middle point). */
  labelX: number;
  labelY: number;
}

export interface GraphLayout {
  width: number;
  height: number;
  nodes: Map<string, PlacedNode>;
  edges: Map<string, PlacedEdge>;
}

export function edgeKey(source: string, target: string): string {
  return `${source}\u0000${target}`;
}

/** A key that changes only when the graph's shape does (for memoising the layout). */
export function shapeKey(nodes: readonly GraphNode[], edges: readonly GraphEdge[]): string {
  const n = nodes.map((x) => x.id).sort().join('|');
  const e = edges.map((x) => `${x.source}>${x.target}`).sort().join('|');
  return `${n}#${e}`;
}

export function layoutGraph(nodes: readonly GraphNode[], edges: readonly GraphEdge[]): GraphLayout {
  const g = new dagre.graphlib.Graph<GraphLabel, NodeLabel, EdgeLabel>();
  g.setGraph({ rankdir: 'LR', nodesep: 36, ranksep: 130, marginx: 24, marginy: 24 });
  g.setDefaultEdgeLabel(() => ({}));
  // Sorted input gives the same picture for the same graph whatever order the API used.
  for (const n of [...nodes].sort((a, b) => a.id.localeCompare(b.id))) g.setNode(n.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  const known = new Set(nodes.map((n) => n.id));
  for (const e of [...edges].sort((a, b) => edgeKey(a.source, a.target).localeCompare(edgeKey(b.source, b.target)))) {
    if (known.has(e.source) && known.has(e.target) && e.source !== e.target) g.setEdge(e.source, e.target, { width: 156, height: 34, labelpos: 'c' });
  }
  dagre.layout(g);

  const placedNodes = new Map<string, PlacedNode>();
  for (const id of g.nodes()) {
    const n = g.node(id);
    placedNodes.set(id, { id, x: n.x ?? 0, y: n.y ?? 0 });
  }
  const placedEdges = new Map<string, PlacedEdge>();
  for (const e of g.edges()) {
    const label = g.edge(e);
    const points = label.points ?? [];
    const mid = points[Math.floor(points.length / 2)] ?? { x: 0, y: 0 };
    placedEdges.set(edgeKey(e.v, e.w), {
      source: e.v,
      target: e.w,
      path: smoothPath(points),
      labelX: label.x ?? mid.x,
      labelY: label.y ?? mid.y,
    });
  }
  const graph = g.graph();
  return { width: graph.width ?? 0, height: graph.height ?? 0, nodes: placedNodes, edges: placedEdges };
}

/** A curve through the points (quadratic segments between midpoints), calmer than a polyline. */
function smoothPath(points: readonly { x: number; y: number }[]): string {
  if (points.length === 0) return '';
  const first = points[0]!;
  let d = `M${first.x},${first.y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const p = points[i]!;
    const next = points[i + 1]!;
    d += ` Q${p.x},${p.y} ${(p.x + next.x) / 2},${(p.y + next.y) / 2}`;
  }
  const last = points[points.length - 1]!;
  d += ` L${last.x},${last.y}`;
  return d;
}
