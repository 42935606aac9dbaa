import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceView, WorkloadView } from '../../api/registry.js';
import { parsePrometheusText } from '../../telemetry/golden/parse.js';
import type { TargetScrape } from '../../telemetry/golden/scrape.js';
import { serviceGraph } from './service-graph.js';
import { exposition, requestLabels, type SeriesSpec } from './test-support.js';

const TD = 'example.org';
const id = (sa: string): string => `spiffe://${TD}/ns/default/sa/${sa}`;

function workload(name: string, service: string, over: Partial<WorkloadView> = {}): WorkloadView {
  return { namespace: 'default', name, service, serviceAccount: name, ports: [], upstreams: [], ingress: false, replicas: [], agentId: 'h1', identity: id(name), ...over };
}

function target(name: string, series: SeriesSpec[], extra = ''): TargetScrape {
  return { target: `${name}:1`, targetLabels: { trellis_namespace: 'default', trellis_workload: name }, samples: parsePrometheusText(exposition(series) + extra) };
}

const inboundB = (sa: string, status = '200'): SeriesSpec['labels'] => requestLabels('inbound', { src_service_account: sa, src_namespace: sa === '' ? '' : 'default', dst_service: 'b', status_code: status });
const outbound = (from: string, to: string, route = '', status = '200', reason = ''): SeriesSpec['labels'] =>
  requestLabels('outbound', { src_workload: from, src_service_account: from, dst_service: to, route, status_code: status, reason });

// A window's increase (10 s): b served a (20 ok, 5 failed), an unmeshed caller (3) and the
// ingress gw (4); a's own proxy sent 26 to b (those 25 and 1 its proxy timed out itself), 6 to
// c (c not scraped, 1 failed, via route default/r-c) and none to d; gw sent 4 to b via default/web.
const delta = [
  target('b', [
    { labels: inboundB('a'), count: 20 },
    { labels: inboundB('a', '503'), count: 5 },
    { labels: inboundB(''), count: 3 },
    { labels: inboundB('gw'), count: 4 },
  ]),
  target('a', [
    { labels: outbound('a', 'b'), count: 20 },
    { labels: outbound('a', 'b', '', '503'), count: 5 },
    { labels: outbound('a', 'b', '', '504', 'request_timeout'), count: 1 },
    { labels: outbound('a', 'c', 'default/r-c'), count: 5 },
    { labels: outbound('a', 'c', 'default/r-c', '503'), count: 1 },
    { labels: outbound('a', 'd'), count: 0 },
  ]),
  target('gw', [{ labels: outbound('gw', 'b', 'default/web'), count: 4 }]),
];
const workloads = [workload('a', 'a'), workload('b', 'b'), workload('c', 'c'), workload('e', 'e'), workload('gw', 'gw', { ingress: true })];

describe('serviceGraph', () => {
  const g = serviceGraph(delta, 10, workloads, TD);

  it('has a node per service (served metrics, zero when idle), one per ingress and one external', () => {
    assert.deepEqual(
      g.nodes.map((n) => [n.id, n.kind, n.metrics?.requests]),
      [
        ['default/a', 'service', 0],
        ['default/b', 'service', 32],
        ['default/c', 'service', 0],
        ['default/e', 'service', 0],
        ['default/gw', 'ingress', undefined],
        ['external', 'external', undefined],
      ],
    );
    const b = g.nodes.find((n) => n.id === 'default/b')!.metrics!;
    assert.equal(b.successRate, 27 / 32);
    assert.equal(b.rps, 3.2);
  });

  it('draws an edge per caller identity as its proxy sent it (mesh-made failures included), as served for callers not scraped; skips idle pairs', () => {
    assert.deepEqual(
      g.edges.map((e) => [e.source, e.target, e.identity, e.metrics.requests, e.metrics.successRate]),
      [
        ['default/a', 'default/b', id('a'), 26, 20 / 26],
        ['default/a', 'default/c', id('a'), 6, 5 / 6],
        ['default/gw', 'default/b', id('gw'), 4, 1],
        ['external', 'default/b', undefined, 3, 1],
      ],
    );
    const ab = g.edges[0]!;
    assert.equal(ab.metrics.rps, 2.6);
    assert.equal(ab.metrics.p50, 0.005, 'all in the first bucket (0, 0.01]');
    assert.equal('identity' in g.edges[3]!, false, 'unmeshed: no identity key');
    assert.equal('protocol' in ab, false, 'request edges have no protocol key');
  });

  it('has service rows as served and route rows as sent', () => {
    assert.deepEqual(
      g.services.map((r) => [r.namespace, r.name, r.requests]),
      [['default', 'b', 32]],
    );
    assert.deepEqual(
      g.routes.map((r) => [r.route, r.service, r.requests, r.successRate]),
      [
        ['default/r-c', 'default/c', 6, 5 / 6],
        ['default/web', 'default/b', 4, 1],
      ],
    );
    assert.equal('namespace' in g.routes[0]!, false);
    assert.equal('service' in g.services[0]!, false);
  });

  it("maps a caller known only by its service account to its workload's service", () => {
    // b's inbound side only (a's proxy not scraped): a is found by account "a".
    const graph = serviceGraph([delta[0]!], 10, [workload('a', 'shop')], TD);
    assert.deepEqual(
      graph.edges.map((e) => [e.source, e.target, e.metrics.requests]),
      [
        ['default/gw', 'default/b', 4],
        ['default/shop', 'default/b', 25],
        ['external', 'default/b', 3],
      ],
    );
  });
});

describe('serviceGraph: routed traffic to a selector service', () => {
  // frontend's canary route sends to catalog-v1 (catalog workloads labelled version=v1); its proxy
  // aborted 2 of 12 with a fault (503). catalog's two replicas served the other 10 (and 1 more
  // sent to catalog directly by an unmeshed caller); catalog-v2 (version=v2) served nothing.
  const fe = (status: string, count: number, reason = ''): SeriesSpec => ({ labels: outbound('frontend', 'catalog-v1', 'default/canary', status, reason), count });
  const served = (sa: string, count: number): SeriesSpec => ({ labels: requestLabels('inbound', { src_service_account: sa, src_namespace: sa === '' ? '' : 'default', dst_service: 'catalog' }), count });
  const routed = [
    target('frontend', [fe('200', 10), fe('503', 2, 'fault_injected')]),
    { ...target('catalog', [served('frontend', 6), served('', 1)]), target: 'catalog:1' },
    { ...target('catalog', [served('frontend', 4)]), target: 'catalog:2' },
    target('catalog-v2', []),
  ];
  const shop = [workload('frontend', 'frontend'), workload('catalog', 'catalog', { labels: { app: 'catalog', version: 'v1' } }), workload('catalog-v2', 'catalog', { labels: { app: 'catalog', version: 'v2' } })];
  const selector = (name: string, version: string): ServiceView => ({ namespace: 'default', name, identity: id('catalog'), ports: [], endpointsReady: 1, endpointsTotal: 1, selector: { app: 'catalog', version } });
  const services: ServiceView[] = [{ namespace: 'default', name: 'catalog', identity: id('catalog'), ports: [], endpointsReady: 3, endpointsTotal: 3 }, selector('catalog-v1', 'v1'), selector('catalog-v2', 'v2'), { ...selector('odd', 'v1'), selector: { version: 'v1' } }];
  const g = serviceGraph(routed, 10, shop, TD, services);

  it('draws one edge frontend -> catalog-v1 with the count frontend sent, fault aborts included', () => {
    assert.deepEqual(
      g.edges.map((e) => [e.source, e.target, e.identity, e.metrics.requests, e.metrics.successRate]),
      [
        ['default/frontend', 'default/catalog-v1', id('frontend'), 12, 10 / 12],
        ['external', 'default/catalog', undefined, 1, 1],
      ],
    );
  });

  it('gives the subset node what the workloads it selects served, and names the service it is a subset of', () => {
    const node = (nodeId: string) => g.nodes.find((n) => n.id === nodeId)!;
    assert.deepEqual([node('default/catalog-v1').metrics?.requests, node('default/catalog-v1').subsetOf], [11, 'default/catalog']);
    assert.equal(node('default/catalog-v1').metrics?.successRate, 1);
    assert.deepEqual([node('default/catalog-v2').metrics?.requests, node('default/catalog-v2').subsetOf], [0, 'default/catalog']);
    assert.equal(node('default/catalog').metrics?.requests, 11);
    assert.equal('subsetOf' in node('default/catalog'), false);
    // Selecting by version only still picks catalog's workloads: one service, so a subset of it.
    assert.equal(node('default/odd').subsetOf, 'default/catalog');
    assert.deepEqual(g.services.map((r) => r.name), ['catalog'], 'the table stays as served');
  });
});

describe('serviceGraph: opaque TCP', () => {
  const tcpLines = (lines: string[]): string => `${lines.join('\n')}\n`;
  const orders = target('orders', [], tcpLines([
    'trellis_tcp_connections_opened_total{direction="outbound",listener="inventory-tcp"} 5',
    'trellis_tcp_bytes_total{direction="outbound",listener="inventory-tcp",flow="rx"} 300',
    'trellis_tcp_bytes_total{direction="outbound",listener="inventory-tcp",flow="tx"} 700',
    // A listener the workload does not declare (stale or unknown): left out.
    'trellis_tcp_connections_opened_total{direction="outbound",listener="other-tcp"} 9',
  ]));
  const inventory = target('inventory', [], tcpLines([
    'trellis_tcp_connections_opened_total{direction="inbound",listener="tcp"} 5',
    'trellis_tcp_bytes_total{direction="inbound",listener="tcp",flow="rx"} 700',
  ]));
  const mesh = [workload('orders', 'orders', { upstreams: ['default/inventory:tcp'] }), workload('inventory', 'inventory')];
  const g = serviceGraph([orders, inventory], 10, mesh, TD);

  it('draws a tcp edge from the caller to the listener cluster\'s service, with connections and bytes and no requests', () => {
    assert.deepEqual(g.edges, [
      {
        source: 'default/orders',
        target: 'default/inventory',
        identity: id('orders'),
        protocol: 'tcp',
        connections: 5,
        connectionsPerSecond: 0.5,
        bytes: 1000,
        bytesPerSecond: 100,
        metrics: { requests: 0, rps: 0, successRate: null, p50: null, p95: null, p99: null },
      },
    ]);
  });

  it('gives a TCP-only service its accepted connections, and no request rows', () => {
    const inv = g.nodes.find((n) => n.id === 'default/inventory')!;
    assert.deepEqual(inv.tcp, { connections: 5, connectionsPerSecond: 0.5, bytes: 700, bytesPerSecond: 70 });
    assert.equal(inv.metrics?.requests, 0);
    assert.equal('tcp' in g.nodes.find((n) => n.id === 'default/orders')!, false);
    assert.deepEqual([g.services, g.routes], [[], []]);
  });
});
