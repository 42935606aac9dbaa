import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkloadView } from '../../api/registry.js';
import { parsePrometheusText } from '../../telemetry/golden/parse.js';
import type { TargetScrape } from '../../telemetry/golden/scrape.js';
import { serviceGraph } from './service-graph.js';
import { exposition, requestLabels, type SeriesSpec } from './test-support.js';

const TD = 'example.org';
const id = (sa: string): string => `spiffe://${TD}/ns/default/sa/${sa}`;

function workload(name: string, service: string, ingress = false): WorkloadView {
  return { namespace: 'default', name, service, serviceAccount: name, ports: [], upstreams: [], ingress, replicas: [], agentId: 'h1', identity: id(name) };
}

function target(name: string, series: SeriesSpec[]): TargetScrape {
  return { target: `${name}:1`, targetLabels: { trellis_namespace: 'default', trellis_workload: name }, samples: parsePrometheusText(exposition(series)) };
}

const inboundB = (sa: string, status = '200'): SeriesSpec['labels'] => requestLabels('inbound', { src_service_account: sa, src_namespace: sa === '' ? '' : 'default', dst_service: 'b', status_code: status });
const outbound = (from: string, to: string, route = '', status = '200'): SeriesSpec['labels'] =>
  requestLabels('outbound', { src_workload: from, src_service_account: from, dst_service: to, route, status_code: status });

// A window's increase (10 s): b served a (20 ok, 5 failed), an unmeshed caller (3) and the
// ingress gw (4); a's own proxy counted 26 to b (b's count wins), 6 to c (c not scraped, 1
// failed, via route default/r-c) and none to d; gw sent 4 to b via default/web.
const delta = [
  target('b', [
    { labels: inboundB('a'), count: 20 },
    { labels: inboundB('a', '503'), count: 5 },
    { labels: inboundB(''), count: 3 },
    { labels: inboundB('gw'), count: 4 },
  ]),
  target('a', [
    { labels: outbound('a', 'b'), count: 26 },
    { labels: outbound('a', 'c', 'default/r-c'), count: 5 },
    { labels: outbound('a', 'c', 'default/r-c', '503'), count: 1 },
    { labels: outbound('a', 'd'), count: 0 },
  ]),
  target('gw', [{ labels: outbound('gw', 'b', 'default/web'), count: 4 }]),
];
const workloads = [workload('a', 'a'), workload('b', 'b'), workload('c', 'c'), workload('e', 'e'), workload('gw', 'gw', true)];

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

  it('draws an edge per caller identity with the server-side count, else the caller-side; skips idle pairs', () => {
    assert.deepEqual(
      g.edges.map((e) => [e.source, e.target, e.identity, e.metrics.requests, e.metrics.successRate]),
      [
        ['default/a', 'default/b', id('a'), 25, 20 / 25],
        ['default/a', 'default/c', id('a'), 6, 5 / 6],
        ['default/gw', 'default/b', id('gw'), 4, 1],
        ['external', 'default/b', undefined, 3, 1],
      ],
    );
    const ab = g.edges[0]!;
    assert.equal(ab.metrics.rps, 2.5);
    assert.equal(ab.metrics.p50, 0.005, 'all in the first bucket (0, 0.01]');
    assert.equal('identity' in g.edges[3]!, false, 'unmeshed: no identity key');
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

  it('maps a caller known only by its service account to its workload\'s service', () => {
    // b's inbound side only (a's proxy not scraped): a is found by account "a".
    const graph = serviceGraph([delta[0]!], 10, [workload('a', 'shop')], TD);
    assert.deepEqual(graph.edges.map((e) => [e.source, e.target]), [
      ['default/gw', 'default/b'],
      ['default/shop', 'default/b'],
      ['external', 'default/b'],
    ]);
  });
});
