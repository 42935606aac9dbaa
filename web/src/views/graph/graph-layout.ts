/**
 * Places the service graph with dagre (left to right: callers on the left). Positions depend
 * only on the set of node ids, subsets and edges, so the graph stays still while numbers update.
 *
 * A subset service (a version subset declared by label selector, `subsetOf` its parent) is
 * stacked under its parent: dagre places the parent and its subsets as one tall box, and each
 * member sits in it, so a subset never drifts away from the service whose replicas serve it.
 */
import dagre from '@dagrejs/dagre';
import type { EdgeLabel, Graph, GraphLabel, NodeLabel } from '@dagrejs/dagre';
import type { GraphEdge, GraphNode } from '../../../../src/api/stats.js';

export const NODE_WIDTH = 230;
export const NODE_HEIGHT = 64;
/** Vertical gap between a parent and its subsets in a stack. */
const STACK_GAP = 22;
/** How far the subset connector reaches right of the stack (into the gap between ranks). */
const BRACKET = 12;

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
  /** Dashed, arrow-less connectors from each subset to its parent (SVG path `d`), by subset id. */
  subsetLinks: Map<string, string>;
}

export function edgeKey(source: string, target: string): string {
  return `${source}\u0000${target}`;
}

/** A key that changes only when the graph's shape does (for memoising the layout). */
export function shapeKey(nodes: readonly GraphNode[], edges: readonly GraphEdge[]): string {
  const n = nodes.map((x) => (x.subsetOf === undefined ? x.id : `${x.id}<${x.subsetOf}`)).sort().join('|');
  const e = edges.map((x) => `${x.source}>${x.target}`).sort().join('|');
  return `${n}#${e}`;
}

/** Parent id -> its subsets' ids (sorted), for subsets whose parent is in the graph. */
function stacks(nodes: readonly GraphNode[]): Map<string, string[]> {
  const ids = new Set(nodes.map((n) => n.id));
  const out = new Map<string, string[]>();
  for (const n of nodes) {
    if (n.subsetOf === undefined || n.subsetOf === n.id || !ids.has(n.subsetOf)) continue;
    const members = out.get(n.subsetOf) ?? [];
    members.push(n.id);
    out.set(n.subsetOf, members);
  }
  for (const members of out.values()) members.sort();
  return out;
}

export function layoutGraph(nodes: readonly GraphNode[], edges: readonly GraphEdge[]): GraphLayout {
  const g = new dagre.graphlib.Graph<GraphLabel, NodeLabel, EdgeLabel>({ multigraph: true });
  g.setGraph({ rankdir: 'LR', nodesep: 36, ranksep: 130, marginx: 24, marginy: 24 });
  g.setDefaultEdgeLabel(() => ({}));

  // Each node's box in dagre: its own, or its parent's stack (parent on top, subsets below).
  const boxOf = new Map<string, { box: string; offsetY: number }>();
  const stacked = stacks(nodes);
  for (const [parent, subsets] of stacked) {
    [parent, ...subsets].forEach((id, i) => boxOf.set(id, { box: parent, offsetY: i * (NODE_HEIGHT + STACK_GAP) }));
  }
  // Sorted input gives the same picture for the same graph whatever order the API used.
  for (const n of [...nodes].sort((a, b) => a.id.localeCompare(b.id))) {
    const members = stacked.get(n.id);
    if (members !== undefined) g.setNode(n.id, { width: NODE_WIDTH, height: (members.length + 1) * NODE_HEIGHT + members.length * STACK_GAP });
    else if (!boxOf.has(n.id)) g.setNode(n.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  }
  const box = (id: string): string => boxOf.get(id)?.box ?? id;
  for (const e of [...edges].sort((a, b) => edgeKey(a.source, a.target).localeCompare(edgeKey(b.source, b.target)))) {
    const [v, w] = [box(e.source), box(e.target)];
    if (g.hasNode(v) && g.hasNode(w) && v !== w) g.setEdge(v, w, { width: 156, height: 34, labelpos: 'c', source: e.source, target: e.target }, edgeKey(e.source, e.target));
  }
  dagre.layout(g);

  const placedNodes = new Map<string, PlacedNode>();
  for (const id of g.nodes()) {
    const n = g.node(id);
    const members = stacked.get(id);
    if (members === undefined) {
      placedNodes.set(id, { id, x: n.x ?? 0, y: n.y ?? 0 });
      continue;
    }
    const top = (n.y ?? 0) - (n.height ?? 0) / 2;
    const x = n.x ?? 0;
    for (const m of [id, ...members]) placedNodes.set(m, { id: m, x, y: top + boxOf.get(m)!.offsetY + NODE_HEIGHT / 2 });
  }

  const placedEdges = new Map<string, PlacedEdge>();
  for (const bundle of bundles(g)) {
    // dagre sees edges into (or out of) a stack as alike and may cross them: hand their routes
    // out again, top route to the edge whose ends sit highest, then move the ends onto the
    // members' own boxes.
    const ends = bundle.map((l) => ({ l, from: placedNodes.get(l.source), to: placedNodes.get(l.target) }));
    const routes = bundle.map((l) => ({ points: l.points ?? [], x: l.x, y: l.y })).sort((a, b) => (a.y ?? 0) - (b.y ?? 0));
    ends.sort((a, b) => (a.from?.y ?? 0) + (a.to?.y ?? 0) - ((b.from?.y ?? 0) + (b.to?.y ?? 0)));
    ends.forEach(({ l, from, to }, i) => {
      const route = routes[i]!;
      const points = [...route.points];
      if (points.length >= 2 && from !== undefined && boxOf.has(l.source)) points[0] = { x: from.x + NODE_WIDTH / 2, y: from.y };
      if (points.length >= 2 && to !== undefined && boxOf.has(l.target)) points[points.length - 1] = { x: to.x - NODE_WIDTH / 2, y: to.y };
      const mid = points[Math.floor(points.length / 2)] ?? { x: 0, y: 0 };
      placedEdges.set(edgeKey(l.source, l.target), { source: l.source, target: l.target, path: smoothPath(points), labelX: route.x ?? mid.x, labelY: route.y ?? mid.y });
    });
  }

  // A bracket on the stack's right: out of the parent, down, into each subset.
  const subsetLinks = new Map<string, string>();
  for (const [parent, subsets] of stacked) {
    const p = placedNodes.get(parent)!;
    const right = p.x + NODE_WIDTH / 2;
    for (const s of subsets) subsetLinks.set(s, `M${right},${p.y + NODE_HEIGHT / 4} h${BRACKET} V${placedNodes.get(s)!.y} h${-BRACKET}`);
  }
  const graph = g.graph();
  return { width: graph.width ?? 0, height: graph.height ?? 0, nodes: placedNodes, edges: placedEdges, subsetLinks };
}

type SourcedLabel = EdgeLabel & { source: string; target: string };

/** Laid-out edges grouped by the dagre boxes they join (several only where a stack is involved). */
function bundles(g: Graph<GraphLabel, NodeLabel, EdgeLabel>): SourcedLabel[][] {
  const byBoxes = new Map<string, SourcedLabel[]>();
  for (const e of g.edges()) {
    const key = edgeKey(e.v, e.w);
    const list = byBoxes.get(key) ?? [];
    list.push(g.edge(e) as SourcedLabel);
    byBoxes.set(key, list);
  }
  return [...byBoxes.values()];
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
