import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { GoldenMetrics, GraphEdge, GraphNode } from '../../src/api/stats.js';
import { edgeKey, layoutGraph, NODE_HEIGHT, NODE_WIDTH, shapeKey, type GraphLayout } from '../../web/src/views/graph/graph-layout.js';

const idle: GoldenMetrics = { requests: 0, rps: 0, successRate: null, p50: null, p95: null, p99: null };

function node(id: string, subsetOf?: string): GraphNode {
  const [namespace = '', name = id] = id.includes('/') ? id.split('/') : ['', id];
  const kind = id === 'external' ? 'external' : id.endsWith('/web') ? 'ingress' : 'service';
  return { id, namespace, name, kind, ...(subsetOf !== undefined ? { subsetOf } : {}) };
}

const edge = (source: string, target: string): GraphEdge => ({ source, target, metrics: idle });

/** external -> web -> catalog (with subsets v1, v2) -> db; web also calls a subset directly. */
const NODES: GraphNode[] = [
  node('external'),
  node('default/web'),
  node('default/catalog'),
  node('default/catalog-v2', 'default/catalog'),
  node('default/catalog-v1', 'default/catalog'),
  node('default/db'),
];
const EDGES: GraphEdge[] = [
  edge('external', 'default/web'),
  edge('default/web', 'default/catalog'),
  edge('default/web', 'default/catalog-v2'),
  edge('default/catalog-v1', 'default/db'),
  edge('default/catalog', 'default/db'),
];

function placed(layout: GraphLayout, id: string): { x: number; y: number } {
  const n = layout.nodes.get(id);
  assert.ok(n !== undefined, `${id} is placed`);
  return n;
}

/** Every coordinate pair in an SVG path `d`, in order. */
function pathPoints(d: string): { x: number; y: number }[] {
  return [...d.matchAll(/(-?[\d.]+),(-?[\d.]+)/g)].map((m) => ({ x: Number(m[1]), y: Number(m[2]) }));
}

test('layoutGraph: every node placed once, inside the drawing', () => {
  const layout = layoutGraph(NODES, EDGES);
  assert.deepEqual([...layout.nodes.keys()].sort(), NODES.map((n) => n.id).sort());
  for (const n of layout.nodes.values()) {
    assert.ok(Number.isFinite(n.x) && Number.isFinite(n.y), n.id);
    assert.ok(n.x - NODE_WIDTH / 2 >= 0 && n.x + NODE_WIDTH / 2 <= layout.width, `${n.id} within width`);
    assert.ok(n.y - NODE_HEIGHT / 2 >= 0 && n.y + NODE_HEIGHT / 2 <= layout.height, `${n.id} within height`);
  }
});

test('layoutGraph: callers sit left of whom they call', () => {
  const layout = layoutGraph(NODES, EDGES);
  const x = (id: string): number => placed(layout, id).x;
  assert.ok(x('external') < x('default/web'));
  assert.ok(x('default/web') < x('default/catalog'));
  assert.ok(x('default/catalog') < x('default/db'));
});

test('layoutGraph: subsets stack under their parent, left-aligned, sorted, not overlapping', () => {
  const layout = layoutGraph(NODES, EDGES);
  const parent = placed(layout, 'default/catalog');
  const v1 = placed(layout, 'default/catalog-v1');
  const v2 = placed(layout, 'default/catalog-v2');
  assert.equal(v1.x, parent.x);
  assert.equal(v2.x, parent.x);
  assert.ok(v1.y - parent.y >= NODE_HEIGHT, 'v1 below the parent');
  assert.ok(v2.y - v1.y >= NODE_HEIGHT, 'v2 below v1');
  // No other node overlaps the stack's boxes.
  for (const other of ['external', 'default/web', 'default/db']) {
    const o = placed(layout, other);
    for (const m of [parent, v1, v2]) {
      const apart = Math.abs(o.x - m.x) >= NODE_WIDTH || Math.abs(o.y - m.y) >= NODE_HEIGHT;
      assert.ok(apart, `${other} clear of the stack`);
    }
  }
});

test('layoutGraph: a connector from each subset to its parent, none for other nodes', () => {
  const layout = layoutGraph(NODES, EDGES);
  assert.deepEqual([...layout.subsetLinks.keys()].sort(), ['default/catalog-v1', 'default/catalog-v2']);
  const parent = placed(layout, 'default/catalog');
  for (const [id, d] of layout.subsetLinks) {
    const start = pathPoints(d)[0]!;
    assert.equal(start.x, parent.x + NODE_WIDTH / 2, `${id} starts on the parent's right side`);
    assert.ok(start.y > parent.y - NODE_HEIGHT / 2 && start.y < parent.y + NODE_HEIGHT / 2);
    // `V<y>` takes the connector down to the subset's middle.
    assert.equal(Number(/ V(-?[\d.]+) /.exec(d)?.[1]), placed(layout, id).y);
  }
});

test('layoutGraph: every edge has a route from its source to its target', () => {
  const layout = layoutGraph(NODES, EDGES);
  assert.deepEqual([...layout.edges.keys()].sort(), EDGES.map((e) => edgeKey(e.source, e.target)).sort());
  for (const e of layout.edges.values()) {
    const points = pathPoints(e.path);
    assert.ok(points.length >= 2, `${e.source} -> ${e.target} has points`);
    assert.ok(e.path.startsWith('M'));
    const from = placed(layout, e.source);
    const to = placed(layout, e.target);
    const first = points[0]!;
    const last = points[points.length - 1]!;
    assert.ok(first.x >= from.x && last.x <= to.x, `${e.source} -> ${e.target} runs left to right`);
    assert.ok(first.x < e.labelX && e.labelX < last.x, 'label between the ends');
  }
});

test('layoutGraph: an edge to or from a stack member ends on that member, not on the stack', () => {
  const layout = layoutGraph(NODES, EDGES);
  const ends = (source: string, target: string): { first: { x: number; y: number }; last: { x: number; y: number } } => {
    const points = pathPoints(layout.edges.get(edgeKey(source, target))!.path);
    return { first: points[0]!, last: points[points.length - 1]! };
  };
  const v2 = placed(layout, 'default/catalog-v2');
  assert.deepEqual(ends('default/web', 'default/catalog-v2').last, { x: v2.x - NODE_WIDTH / 2, y: v2.y });
  const parent = placed(layout, 'default/catalog');
  assert.deepEqual(ends('default/web', 'default/catalog').last, { x: parent.x - NODE_WIDTH / 2, y: parent.y });
  const v1 = placed(layout, 'default/catalog-v1');
  assert.deepEqual(ends('default/catalog-v1', 'default/db').first, { x: v1.x + NODE_WIDTH / 2, y: v1.y });
});

test('layoutGraph: the same graph in any order gives the same picture', () => {
  const a = layoutGraph(NODES, EDGES);
  const b = layoutGraph([...NODES].reverse(), [...EDGES].reverse());
  assert.deepEqual([...b.nodes].sort(), [...a.nodes].sort());
  assert.deepEqual([...b.edges].sort(), [...a.edges].sort());
  assert.deepEqual([...b.subsetLinks].sort(), [...a.subsetLinks].sort());
  assert.equal(b.width, a.width);
  assert.equal(b.height, a.height);
});

test('layoutGraph: a subset whose parent is absent stands alone; edges to unknown nodes are skipped', () => {
  const layout = layoutGraph([node('default/web'), node('default/catalog-v1', 'default/catalog')], [edge('default/web', 'default/catalog-v1'), edge('default/web', 'default/gone')]);
  assert.equal(layout.nodes.size, 2);
  assert.equal(layout.subsetLinks.size, 0);
  assert.deepEqual([...layout.edges.keys()], [edgeKey('default/web', 'default/catalog-v1')]);
  assert.ok(placed(layout, 'default/web').x < placed(layout, 'default/catalog-v1').x);
});

test('layoutGraph: an empty graph lays out to nothing', () => {
  const layout = layoutGraph([], []);
  assert.equal(layout.nodes.size, 0);
  assert.equal(layout.edges.size, 0);
});

test('shapeKey: changes with the shape only, not with input order or numbers', () => {
  const key = shapeKey(NODES, EDGES);
  assert.equal(shapeKey([...NODES].reverse(), [...EDGES].reverse()), key);
  const busier = EDGES.map((e) => ({ ...e, metrics: { ...idle, requests: 100, rps: 3, successRate: 0.5 } }));
  assert.equal(shapeKey(NODES, busier), key);
  assert.notEqual(shapeKey(NODES, EDGES.slice(1)), key);
  assert.notEqual(shapeKey(NODES.map((n) => (n.id === 'default/catalog-v1' ? node(n.id) : n)), EDGES), key);
});
