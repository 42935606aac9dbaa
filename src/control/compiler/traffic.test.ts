import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from '../../api/resources.js';
import type { ClusterConfig, GrpcRouteConfig, HttpRouteConfig } from '../../api/snapshot.js';
import { validateResource } from '../../config/resources/validate.js';
import { compileRouteTable } from '../../proxy/routing/compile.js';
import { Registry } from '../registry/registry.js';
import { policyWinners } from '../resources/refs.js';
import { statusOf } from '../resources/status.js';
import { FileStore } from '../store/file-store.js';
import { agentReport, tempDir, workload } from '../test-support.js';
import { compileClusters, contentHash } from './compiler.js';
import { SnapshotCache } from './snapshot-cache.js';

const GW = 'gateway.networking.k8s.io/v1';
const TD = 'trellis.dev/v1alpha1';

/** A validated (defaulted) resource as the store keeps it. */
function res(raw: Record<string, unknown>, created = '2024-01-01T00:00:00.000Z'): Resource {
  const v = validateResource(raw);
  assert.ok(v.ok, JSON.stringify(v));
  return { ...v.resource, metadata: { ...v.resource.metadata, generation: 1, resourceVersion: '1', creationTimestamp: created } };
}
const httpRoute = (name: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}): Resource =>
  res({ apiVersion: GW, kind: 'HTTPRoute', metadata: { name, ...extra }, spec });
const grpcRoute = (name: string, spec: Record<string, unknown>, annotations?: Record<string, string>): Resource =>
  res({ apiVersion: GW, kind: 'GRPCRoute', metadata: { name, ...(annotations !== undefined ? { annotations } : {}) }, spec });

/**
 * frontend calls catalog:http and orders:grpc. catalog runs as v1 and v2 (labels), with
 * catalog-v2 declared by selector; legacy's only http port is named "web"; db is tcp.
 */
function mesh(): Registry {
  const r = new Registry('td');
  const port = (name: string, protocol: 'http' | 'grpc' | 'tcp') => ({ ports: [{ name, protocol }] });
  const withPort = (w: ReturnType<typeof workload>, name: string, protocol: 'http' | 'grpc' | 'tcp') => {
    for (const rep of w.replicas) rep.endpoints = rep.endpoints.map((e) => ({ ...e, port: name, protocol }));
    return w;
  };
  r.upsert(
    {
      ...agentReport('a1', [
        workload('frontend', { upstreams: ['default/catalog:http', 'default/orders:grpc', 'default/db:sql'], readyPorts: [7000] }),
        workload('catalog-v1', { service: 'catalog', labels: { version: 'v1' }, readyPorts: [7001] }),
        workload('catalog-v2', { service: 'catalog', labels: { version: 'v2' }, readyPorts: [7002] }),
        workload('shadow', { readyPorts: [7003] }),
        withPort(workload('legacy', { ...port('web', 'http'), readyPorts: [7004] }), 'web', 'http'),
        withPort(workload('orders', { ...port('grpc', 'grpc'), readyPorts: [7005] }), 'grpc', 'grpc'),
        withPort(workload('db', { ...port('sql', 'tcp'), readyPorts: [7006] }), 'sql', 'tcp'),
      ]),
      services: [{ namespace: 'default', name: 'catalog-v2', selector: { app: 'catalog', version: 'v2' } }],
    },
    0,
  );
  return r;
}

function frontendClusters(r: Registry, resources: Resource[]): ClusterConfig[] {
  const node = r.node('default/frontend/0');
  assert.ok(node !== undefined);
  return compileClusters(node, r, resources);
}

const byName = (cs: ClusterConfig[], name: string): ClusterConfig => {
  const c = cs.find((x) => x.name === name);
  assert.ok(c !== undefined, `no cluster ${name} in ${cs.map((x) => x.name).join(', ')}`);
  return c;
};

/** The proxy's own route compiler accepts every table, knowing exactly the node's clusters. */
function assertProxyAccepts(cs: ClusterConfig[]): void {
  const known = new Set(cs.map((c) => c.name));
  for (const c of cs) if (c.routes !== undefined) assert.ok(compileRouteTable(c.routes, { knownClusters: known }).ok, `${c.name}: ${JSON.stringify(compileRouteTable(c.routes))}`);
}

function statusInputs(r: Registry, resources: Resource[]) {
  return {
    services: new Map(r.services().map((s) => [`${s.namespace}/${s.name}`, s.ports])),
    faults: new Set(resources.filter((x) => x.kind === 'FaultInjection').map((x) => `default/${x.metadata.name}`)),
    policyWinners: policyWinners(resources),
    now: '2024-01-02T00:00:00.000Z',
  };
}

describe('snapshot compiler: routes', () => {
  it('a canary split attaches to the parent port; backends and mirrors become clusters of the node', () => {
    const r = mesh();
    const canary = httpRoute('catalog-canary', {
      parentRefs: [{ name: 'catalog', port: 8080 }],
      rules: [
        {
          matches: [{ path: { type: 'PathPrefix', value: '/api' }, headers: [{ name: 'x-beta', value: '1' }] }],
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-canary', value: 'yes' }] } },
            { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 1 }, fraction: { numerator: 1, denominator: 4 } } },
          ],
          backendRefs: [
            { name: 'catalog', port: 8080, weight: 90 },
            { name: 'catalog-v2', port: 8080, weight: 10 },
          ],
          timeouts: { request: '2s', backendRequest: '500ms' },
          retry: { codes: [503] },
        },
      ],
    });
    const elsewhere = httpRoute('orders-only', { parentRefs: [{ name: 'orders' }], rules: [{ backendRefs: [{ name: 'orders', port: 1 }] }] });
    const cs = frontendClusters(r, [elsewhere, canary]);
    assert.deepEqual(
      cs.map((c) => c.name),
      ['default/catalog-v2:http', 'default/catalog:http', 'default/db:sql', 'default/orders:grpc', 'default/shadow:http'],
    );
    const catalog = byName(cs, 'default/catalog:http');
    assert.deepEqual(catalog.routes, {
      routes: [
        {
          kind: 'HTTPRoute',
          namespace: 'default',
          name: 'catalog-canary',
          createdAt: Date.parse('2024-01-01T00:00:00.000Z'),
          rules: [
            {
              matches: [{ path: { type: 'PathPrefix', value: '/api' }, headers: [{ type: 'Exact', name: 'x-beta', value: '1' }] }],
              filters: [
                { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-canary', value: 'yes' }] } },
                { type: 'RequestMirror', requestMirror: { cluster: 'default/shadow:http', percent: 25 } },
              ],
              backends: [
                { cluster: 'default/catalog:http', weight: 90 },
                { cluster: 'default/catalog-v2:http', weight: 10 },
              ],
              timeouts: { requestMs: 2000, backendRequestMs: 500 },
              retry: { codes: [503], attempts: 1, backoffMs: 25 },
            },
          ],
        },
      ],
    });
    assert.deepEqual(catalog.endpoints.map((e) => e.port), [7001, 7002], 'the parent keeps every catalog endpoint');
    const v2 = byName(cs, 'default/catalog-v2:http');
    assert.deepEqual(v2.endpoints.map((e) => [e.workload, e.port]), [['catalog-v2', 7002]]);
    assert.equal(v2.routes, undefined, 'backends are endpoints, not routed again');
    assert.equal(byName(cs, 'default/orders:grpc').routes?.routes[0]?.name, 'orders-only');
    assert.equal(byName(cs, 'default/db:sql').routes, undefined);
    assertProxyAccepts(cs);
  });

  it('parent ports: sectionName names one, a numeric port needs a single-port service, tcp ports take no routes', () => {
    const r = mesh();
    const rule = [{ backendRefs: [{ name: 'catalog', port: 1 }] }];
    const cs = frontendClusters(r, [
      httpRoute('by-section', { parentRefs: [{ name: 'catalog', sectionName: 'http' }], rules: rule }),
      httpRoute('wrong-section', { parentRefs: [{ name: 'catalog', sectionName: 'admin' }], rules: rule }),
      httpRoute('on-tcp', { parentRefs: [{ name: 'db' }], rules: [{ backendRefs: [{ name: 'db', port: 1 }] }] }),
    ]);
    assert.deepEqual(byName(cs, 'default/catalog:http').routes?.routes.map((x) => x.name), ['by-section']);
    assert.equal(byName(cs, 'default/db:sql').routes, undefined);

    const st = statusInputs(r, []);
    const accepted = (x: Resource) => statusOf(x, st).parents?.[0]?.conditions.find((c) => c.type === 'Accepted');
    assert.equal(accepted(httpRoute('by-section', { parentRefs: [{ name: 'catalog', sectionName: 'http' }], rules: rule }))?.status, 'True');
    const wrong = accepted(httpRoute('wrong-section', { parentRefs: [{ name: 'catalog', sectionName: 'admin' }], rules: rule }));
    assert.deepEqual([wrong?.status, wrong?.reason], ['False', 'NoMatchingParent']);
    assert.match(wrong?.message ?? '', /no port named "admin"/);
    assert.match(accepted(httpRoute('on-tcp', { parentRefs: [{ name: 'db' }], rules: rule }))?.message ?? '', /no http, http2 or grpc port/);
  });

  it('backend ports resolve by name, else the only port of the same protocol; a missing backend keeps its share (500)', () => {
    const r = mesh();
    const route = httpRoute('mixed', {
      parentRefs: [{ name: 'catalog' }],
      rules: [
        {
          backendRefs: [
            { name: 'legacy', port: 80, weight: 1 },
            { name: 'gone', port: 80, weight: 1 },
          ],
        },
        { matches: [{ path: { type: 'Exact', value: '/nothing' } }] },
      ],
    });
    const cs = frontendClusters(r, [route]);
    const rules = (byName(cs, 'default/catalog:http').routes?.routes[0] as HttpRouteConfig).rules;
    assert.deepEqual(rules[0]?.backends, [
      { cluster: 'default/legacy:web', weight: 1 },
      { cluster: 'default/gone:http', weight: 1 },
    ]);
    assert.deepEqual(rules[1]?.backends, [{ cluster: 'default/catalog:http', weight: 0 }], 'no backend: weight 0 so the proxy answers 500');
    assert.ok(cs.some((c) => c.name === 'default/legacy:web'));
    assert.ok(!cs.some((c) => c.name === 'default/gone:http'));
    assertProxyAccepts(cs);

    const resolved = statusOf(route, statusInputs(r, [route])).parents?.[0]?.conditions.find((c) => c.type === 'ResolvedRefs');
    assert.deepEqual([resolved?.status, resolved?.reason], ['False', 'BackendNotFound']);
    assert.match(resolved?.message ?? '', /default\/gone is not registered/);
  });

  it('hostnames reach the snapshot (HTTPRoute and GRPCRoute), and the proxy routes by them', () => {
    const r = mesh();
    const echo = httpRoute('echo-host', {
      parentRefs: [{ name: 'catalog' }],
      hostnames: ['echo.example.com', '*.echo.example.com'],
      rules: [{ backendRefs: [{ name: 'catalog-v2', port: 80 }] }],
    });
    const rest = httpRoute('catalog-rest', { parentRefs: [{ name: 'catalog' }], rules: [{ backendRefs: [{ name: 'catalog', port: 80 }] }] });
    const orders = grpcRoute('orders-host', { parentRefs: [{ name: 'orders' }], hostnames: ['orders.example.com'], rules: [{ backendRefs: [{ name: 'orders', port: 1 }] }] });
    const cs = frontendClusters(r, [echo, rest, orders]);
    const routes = byName(cs, 'default/catalog:http').routes?.routes ?? [];
    assert.deepEqual(
      routes.map((x) => [x.name, x.hostnames]),
      [
        ['catalog-rest', undefined],
        ['echo-host', ['echo.example.com', '*.echo.example.com']],
      ],
    );
    assert.deepEqual((byName(cs, 'default/orders:grpc').routes?.routes[0] as GrpcRouteConfig).hostnames, ['orders.example.com']);
    assertProxyAccepts(cs);
    const table = compileRouteTable(byName(cs, 'default/catalog:http').routes ?? { routes: [] });
    assert.ok(table.ok);
    const to = (host: string): string | undefined => table.table.route('GET', '/', ['host', host])?.rule.backends[0]?.cluster;
    assert.equal(to('Echo.Example.com:8080'), 'default/catalog-v2:http');
    assert.equal(to('a.b.echo.example.com'), 'default/catalog-v2:http');
    assert.equal(to('catalog'), 'default/catalog:http');
  });

  it('backendRefs without a port resolve like those with one (the port is derived by name)', () => {
    const r = mesh();
    const route = httpRoute('no-ports', {
      parentRefs: [{ name: 'catalog' }],
      rules: [{ backendRefs: [{ name: 'catalog-v2' }, { name: 'legacy' }], filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow' } } }] }],
    });
    const cs = frontendClusters(r, [route]);
    const rule = (byName(cs, 'default/catalog:http').routes?.routes[0] as HttpRouteConfig).rules[0];
    assert.deepEqual(rule?.backends, [
      { cluster: 'default/catalog-v2:http', weight: 1 },
      { cluster: 'default/legacy:web', weight: 1 },
    ]);
    assert.deepEqual(rule?.filters, [{ type: 'RequestMirror', requestMirror: { cluster: 'default/shadow:http', percent: 100 } }]);
    assertProxyAccepts(cs);
  });

  it('FaultInjection filters resolve to Fault; a missing one answers 500 for its rule and says so', () => {
    const r = mesh();
    const fault = res({ apiVersion: TD, kind: 'FaultInjection', metadata: { name: 'slow' }, spec: { delay: { fixedDelay: '1s500ms', percentage: 10 }, abort: { httpStatus: 503, percentage: 2 } } });
    const ext = (name: string) => ({ type: 'ExtensionRef', extensionRef: { group: 'trellis.dev', kind: 'FaultInjection', name } });
    const route = httpRoute('faulty', {
      parentRefs: [{ name: 'catalog' }],
      rules: [
        { filters: [ext('slow')], backendRefs: [{ name: 'catalog', port: 1 }] },
        { matches: [{ path: { type: 'PathPrefix', value: '/x' } }], filters: [ext('absent')], backendRefs: [{ name: 'catalog', port: 1 }] },
      ],
    });
    const cs = frontendClusters(r, [route, fault]);
    const rules = (byName(cs, 'default/catalog:http').routes?.routes[0] as HttpRouteConfig).rules;
    assert.deepEqual(rules[0]?.filters, [{ type: 'Fault', fault: { delay: { ms: 1500, percent: 10 }, abort: { status: 503, percent: 2 } } }]);
    assert.deepEqual(rules[1]?.filters, [{ type: 'Fault', fault: { abort: { status: 500, percent: 100 } } }]);
    assertProxyAccepts(cs);
    const resolved = statusOf(route, statusInputs(r, [route, fault])).parents?.[0]?.conditions.find((c) => c.type === 'ResolvedRefs');
    assert.deepEqual([resolved?.status, resolved?.reason], ['False', 'FilterNotFound']);
    assert.match(resolved?.message ?? '', /default\/absent.*answer 500/);
  });

  it('GRPCRoute retry and timeouts come from its annotations', () => {
    const r = mesh();
    const route = grpcRoute(
      'orders',
      { parentRefs: [{ name: 'orders' }], rules: [{ matches: [{ method: { service: 'shop.Orders' } }], backendRefs: [{ name: 'orders', port: 9090 }] }] },
      {
        'retry.trellis.dev/grpc-codes': 'unavailable, RESOURCE_EXHAUSTED,4',
        'retry.trellis.dev/attempts': '3',
        'retry.trellis.dev/backoff': '50ms',
        'timeout.trellis.dev/request': '5s',
        'timeout.trellis.dev/backend-request': '1s',
      },
    );
    const cs = frontendClusters(r, [route]);
    const g = byName(cs, 'default/orders:grpc').routes?.routes[0] as GrpcRouteConfig;
    assert.deepEqual(g.rules[0], {
      matches: [{ method: { type: 'Exact', service: 'shop.Orders' } }],
      backends: [{ cluster: 'default/orders:grpc', weight: 1 }],
      timeouts: { requestMs: 5000, backendRequestMs: 1000 },
      retry: { codes: [], grpcCodes: [4, 8, 14], attempts: 3, backoffMs: 50 },
    });
    assertProxyAccepts(cs);
    const plain = grpcRoute('plain', { parentRefs: [{ name: 'orders' }], rules: [{ backendRefs: [{ name: 'orders', port: 9090 }] }] });
    const p = byName(frontendClusters(r, [plain]), 'default/orders:grpc').routes?.routes[0] as GrpcRouteConfig;
    assert.deepEqual(p.rules[0], { backends: [{ cluster: 'default/orders:grpc', weight: 1 }] });
  });
});

describe('snapshot compiler: DestinationPolicy', () => {
  const policy = (name: string, spec: Record<string, unknown>, created?: string): Resource =>
    res({ apiVersion: TD, kind: 'DestinationPolicy', metadata: { name }, spec: { targetRef: { name: 'catalog' }, ...spec } }, created);

  it('every field lands on the service\'s clusters (durations in ms); the oldest of two policies wins', () => {
    const r = mesh();
    const full = policy(
      'catalog',
      {
        loadBalancer: { type: 'consistent-hash', hashOn: { cookie: { name: 'sid', ttl: '1h' } } },
        connectionPool: { maxConnections: 10, maxConcurrentRequests: 100 },
        outlierDetection: { consecutive5xx: 3 },
        retryBudget: { percent: 10 },
        healthCheck: { http: { path: '/healthz' }, interval: '5s', timeout: '500ms' },
      },
      '2024-01-01T00:00:00.000Z',
    );
    const newer = policy('catalog-rr', { loadBalancer: { type: 'round-robin' } }, '2024-02-01T00:00:00.000Z');
    const c = byName(frontendClusters(r, [newer, full]), 'default/catalog:http');
    assert.deepEqual(
      { ...c, endpoints: [] },
      {
        name: 'default/catalog:http',
        namespace: 'default',
        service: 'catalog',
        port: 'http',
        protocol: 'http',
        loadBalancer: 'consistent-hash',
        connectTimeoutMs: 1000,
        endpoints: [],
        hashOn: { cookie: { name: 'sid', ttlMs: 3_600_000 } },
        connectionPool: { maxConnections: 10, maxConcurrentRequests: 100 },
        outlierDetection: { consecutive5xx: 3, consecutiveConnectFailures: 5, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionPercent: 50 },
        retryBudget: { percent: 10, minRetriesPerSecond: 10 },
        healthCheck: { http: { path: '/healthz' }, intervalMs: 5000, timeoutMs: 500, healthyThreshold: 1, unhealthyThreshold: 3 },
      },
    );
    const st = statusInputs(r, [newer, full]);
    assert.deepEqual(statusOf(full, st).conditions?.map((x) => [x.status, x.reason]), [['True', 'Accepted']]);
    const lost = statusOf(newer, st).conditions?.[0];
    assert.deepEqual([lost?.status, lost?.reason], ['False', 'Conflicted']);
    assert.match(lost?.message ?? '', /default\/catalog .*oldest wins/);
  });

  it('a policy reaches backend clusters too, and a header hash key', () => {
    const r = mesh();
    const p = res({ apiVersion: TD, kind: 'DestinationPolicy', metadata: { name: 'v2' }, spec: { targetRef: { name: 'catalog-v2' }, loadBalancer: { type: 'consistent-hash', hashOn: { header: 'x-user' } } } });
    const route = httpRoute('split', { parentRefs: [{ name: 'catalog' }], rules: [{ backendRefs: [{ name: 'catalog-v2', port: 1 }] }] });
    const v2 = byName(frontendClusters(r, [route, p]), 'default/catalog-v2:http');
    assert.deepEqual([v2.loadBalancer, v2.hashOn], ['consistent-hash', { header: 'x-user' }]);
  });
});

describe('snapshot compiler: determinism and versions', () => {
  it('equal content compiles equally whatever the resource order; unchanged resources keep versions', async () => {
    const r = mesh();
    const a = httpRoute('a', { parentRefs: [{ name: 'catalog' }], rules: [{ backendRefs: [{ name: 'catalog-v2', port: 1 }] }] });
    const b = httpRoute('b', { parentRefs: [{ name: 'catalog' }], rules: [{ matches: [{ method: 'POST' }], backendRefs: [{ name: 'shadow', port: 1 }] }] });
    const one = frontendClusters(r, [a, b]);
    const two = frontendClusters(r, [b, a]);
    assert.deepEqual(one, two);
    assert.equal(contentHash({ trustDomain: 'td', trustBundlePem: [], clusters: one }), contentHash({ trustDomain: 'td', trustBundlePem: [], clusters: two }));

    const { dir, cleanup } = await tempDir();
    const store = await FileStore.open(dir);
    try {
      let resources: Resource[] = [a];
      const cache = new SnapshotCache(r, store, () => ['ROOT'], () => resources);
      await cache.recompile();
      const v1 = cache.get('default/frontend/0')?.version;
      resources = [a];
      assert.deepEqual(await cache.recompile(), [], 'same resources: no new version');
      resources = [b, a];
      assert.deepEqual(await cache.recompile(), ['default/frontend/0'], 'only the caller of catalog changes');
      assert.ok((cache.get('default/frontend/0')?.version ?? 0) > (v1 ?? 0));
      assert.equal(cache.get('default/catalog-v1/0')?.snapshot.clusters.length, 0);
    } finally {
      await store.close();
      await cleanup();
    }
  });
});
