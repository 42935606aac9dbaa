import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterConfig, RouteConfig } from '../../api/snapshot.js';
import { cluster, endpoint } from '../testing/fixtures.js';
import { ClusterTable, SnapshotError } from './cluster-table.js';

const A = 'default/a:http';
const B = 'default/b:http';

function route(backend: string, path = '/'): RouteConfig {
  return { kind: 'HTTPRoute', namespace: 'default', name: 'r', createdAt: 0, rules: [{ matches: [{ path: { type: 'PathPrefix', value: path } }], backends: [{ cluster: backend }] }] };
}

function withRoutes(c: ClusterConfig, routes: RouteConfig[]): ClusterConfig {
  return { ...c, routes: { routes } };
}

let now = 0;
function table(): ClusterTable {
  return new ClusterTable({
    connector: () => () => {
      throw new Error('no connections in these tests');
    },
    balancer: { random: () => 0, now: () => now },
  });
}

const eps = [endpoint(1001, 'spiffe://t/x', 0), endpoint(1002, 'spiffe://t/y', 1), endpoint(1003, 'spiffe://t/z', 2)];

test('apply compiles each cluster route table; routes may name any cluster of the snapshot', () => {
  const t = table();
  t.apply([withRoutes(cluster(A, 'http', eps), [route(B)]), cluster(B, 'http', eps)]);
  assert.equal(t.get(A)!.routes?.route('GET', '/x', [])?.rule.backends[0]?.cluster, B);
  assert.equal(t.get(B)!.routes, null);
  t.close();
});

test('a bad route table rejects the whole snapshot with prefixed paths; the previous tables stay', () => {
  const t = table();
  t.apply([withRoutes(cluster(A, 'http', eps), [route(B)]), cluster(B, 'http', eps)]);
  const before = { a: t.get(A)!, routes: t.get(A)!.routes, endpoints: t.get(A)!.endpoints };
  const bad = withRoutes(cluster(B, 'http', []), [route(A, 'no-slash')]);
  let caught: unknown;
  try {
    t.apply([cluster(A, 'http', eps.slice(0, 1), 'least-request'), bad]);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof SnapshotError);
  assert.ok(caught.errors.length >= 1);
  for (const e of caught.errors) assert.match(e.path, /^clusters\[1\]\.routes\.routes\[0\]/);
  assert.equal(t.get(A), before.a);
  assert.equal(t.get(A)!.routes, before.routes, 'route table unchanged');
  assert.equal(t.get(A)!.endpoints, before.endpoints, 'endpoints unchanged');
  assert.equal(t.get(A)!.config.loadBalancer, 'peak-ewma', 'config unchanged');
  assert.equal(t.get(B)!.routes, null);
  assert.equal(t.get(B)!.endpoints.length, 3);
  t.close();
});

test('policy fields are validated the same way, every problem listed', () => {
  const t = table();
  const bad: ClusterConfig = {
    ...cluster(A, 'http', eps, 'consistent-hash'),
    connectionPool: { maxConnections: 0, maxPendingRequests: -1, maxConcurrentRequests: 1.5 },
    outlierDetection: { consecutive5xx: 5, consecutiveConnectFailures: 1, intervalMs: 0, baseEjectionMs: 1000, maxEjectionPercent: 101 },
    retryBudget: { percent: -1, minRetriesPerSecond: 1 },
    healthCheck: { http: { path: '/a b' }, intervalMs: 1000, timeoutMs: 0, healthyThreshold: 1, unhealthyThreshold: 1 },
  };
  assert.throws(
    () => t.apply([bad]),
    (err: unknown) => {
      assert.ok(err instanceof SnapshotError);
      assert.deepEqual(err.errors.map((e) => e.path).sort(), [
        'clusters[0].connectionPool.maxConcurrentRequests',
        'clusters[0].connectionPool.maxConnections',
        'clusters[0].connectionPool.maxPendingRequests',
        'clusters[0].hashOn',
        'clusters[0].healthCheck.http.path',
        'clusters[0].healthCheck.timeoutMs',
        'clusters[0].outlierDetection.intervalMs',
        'clusters[0].outlierDetection.maxEjectionPercent',
        'clusters[0].retryBudget.percent',
      ]);
      return true;
    },
  );
  assert.deepEqual(t.names(), []);
  t.close();
});

test('a new snapshot keeps the cluster, its endpoints and retry budget; a new loadBalancer replaces only the balancer', () => {
  const t = table();
  t.apply([{ ...cluster(A, 'http', eps), retryBudget: { percent: 0, minRetriesPerSecond: 1 } }]);
  const c = t.get(A)!;
  const [e0] = c.endpoints;
  const oldBalancer = c.balancer;
  for (let i = 0; i < 10; i++) assert.equal(c.retryBudget.tryRetry(), true);
  assert.equal(c.retryBudget.tryRetry(), false, 'floor of 10 spent');
  t.apply([{ ...cluster(A, 'http', eps, 'consistent-hash'), hashOn: { header: 'x-user' }, retryBudget: { percent: 0, minRetriesPerSecond: 2 } }]);
  assert.equal(t.get(A), c);
  assert.equal(c.endpoints[0], e0);
  assert.notEqual(c.balancer, oldBalancer);
  assert.notEqual(c.hashPolicy, null);
  assert.equal(c.retryBudget.available(), 10, 'reconfigured to 20, 10 already spent in the window');
  t.apply([cluster(A, 'http', eps)]);
  assert.equal(c.hashPolicy, null);
  t.close();
});

test('outlier detection through the cluster: ejected endpoints are skipped by pick and return after their time', () => {
  const t = table();
  now = 1_000;
  t.apply([
    {
      ...cluster(A, 'http', eps, 'round-robin'),
      outlierDetection: { consecutive5xx: 2, consecutiveConnectFailures: 0, intervalMs: 10_000, baseEjectionMs: 500, maxEjectionPercent: 50 },
    },
  ]);
  const c = t.get(A)!;
  const [x, y, z] = c.endpoints as [typeof c.endpoints[0], typeof c.endpoints[0], typeof c.endpoints[0]];
  c.reportResponse(x, true);
  assert.deepEqual(c.ejected(), []);
  c.reportResponse(x, true);
  assert.deepEqual(c.ejected(), [x]);
  assert.equal(x.outlier.ejectedUntil, 1_500);
  const picks = Array.from({ length: 6 }, () => c.pick());
  assert.ok(!picks.includes(x), 'the ejected endpoint is skipped');
  assert.ok(picks.includes(y) && picks.includes(z));
  c.reportResponse(y, true);
  c.reportResponse(y, true);
  assert.deepEqual(c.ejected(), [x], 'floor(3 x 50%) = 1 at most');
  now = 1_500;
  assert.deepEqual(c.ejected(), []);
  const back = Array.from({ length: 3 }, () => c.pick());
  assert.ok(back.includes(x), 'returned after baseEjectionMs');
  // turning outlier detection off forgets ejections
  c.reportResponse(x, true);
  c.reportResponse(x, true);
  assert.deepEqual(c.ejected(), [x]);
  t.apply([cluster(A, 'http', eps, 'round-robin')]);
  assert.deepEqual(t.get(A)!.ejected(), []);
  t.close();
});
