import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterConfig, HttpRouteRuleConfig, RouteConfig } from '../../api/snapshot.js';
import { ProxyReason } from '../../errors.js';
import { ClusterTable } from '../cluster/cluster-table.js';
import { cluster, endpoint } from '../testing/fixtures.js';
import { seq } from '../routing/test-helpers.js';
import { ServicePlanner } from './planner.js';

// Upstreams are plain labels here: the planner only decides where a request goes.
const PARENT = 'default/catalog:http';
const V1 = 'default/catalog-v1:http';
const V2 = 'default/catalog-v2:http';

function route(rules: HttpRouteRuleConfig[], name = 'r'): RouteConfig {
  return { kind: 'HTTPRoute', namespace: 'default', name, createdAt: 0, rules };
}

function setup(routes: RouteConfig[] | undefined, random: () => number = () => 0, extra: Partial<ClusterConfig> = {}): ServicePlanner<string> {
  const table = new ClusterTable({
    connector: () => () => {
      throw new Error('the planner never connects');
    },
  });
  const ep = endpoint(1, 'spiffe://t.local/ns/default/sa/catalog');
  const parent: ClusterConfig = { ...cluster(PARENT, 'http', [ep]), ...(routes !== undefined ? { routes: { routes } } : {}), ...extra };
  table.apply([parent, cluster(V1, 'http', [ep]), cluster(V2, 'http', [ep])]);
  return new ServicePlanner<string>(table, PARENT, (name) => `up:${name}`, random);
}

test('without routes every request goes to the parent cluster, with one shared plan', () => {
  const p = setup(undefined);
  const a = p.plan('GET', '/x', []);
  assert.equal(a.upstream, `up:${PARENT}`);
  assert.equal(a.local, null);
  assert.equal(a.route, undefined);
  assert.equal(p.plan('POST', '/y', []), a);
});

test('a matching rule sends to its backend with the rule filters, timeouts and retry policy', () => {
  const p = setup([
    route([
      {
        matches: [{ path: { type: 'PathPrefix', value: '/api' } }],
        filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: '1' }] } }],
        backends: [{ cluster: V2 }],
        timeouts: { requestMs: 900, backendRequestMs: 300 },
        retry: { codes: [503], attempts: 2, backoffMs: 10 },
      },
    ]),
  ]);
  const plan = p.plan('GET', '/api/items?q=1', []);
  assert.equal(plan.local, null);
  assert.equal(plan.upstream, `up:${V2}`);
  assert.equal(plan.backend, V2);
  assert.equal(plan.route, 'default/r');
  assert.deepEqual(plan.requestHeaders?.set, [['x-a', '1']]);
  assert.equal(plan.requestTimeoutMs, 900);
  assert.equal(plan.tryTimeoutMs, 300);
  assert.equal(plan.retry?.attempts, 2);
  assert.ok(plan.retry?.httpCodes.has(503));
  assert.ok(plan.budget !== undefined, 'retries draw on the backend cluster budget');
});

test('no matching route is a local 404 no-route', () => {
  const p = setup([route([{ matches: [{ path: { type: 'Exact', value: '/only' } }], backends: [{ cluster: V1 }] }])]);
  const plan = p.plan('GET', '/other', []);
  assert.equal(plan.local?.status, 404);
  assert.equal(plan.local?.reason, ProxyReason.NoRoute);
  assert.equal(plan.upstream, null);
});

test('a redirect is answered locally with its location', () => {
  const p = setup([
    route([{ filters: [{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplaceFullPath', replaceFullPath: '/new' }, statusCode: 301 } }], backends: [] }]),
  ]);
  const plan = p.plan('GET', '/old?a=b', ['host', 'catalog:8080']);
  assert.equal(plan.local?.status, 301);
  assert.equal(plan.local?.reason, ProxyReason.Redirect);
  assert.deepEqual(plan.local?.headers, ['location', 'http://catalog:8080/new?a=b']);
});

test('weighted backends are picked by the injected random number', () => {
  const p = setup([route([{ backends: [{ cluster: V1, weight: 90 }, { cluster: V2, weight: 10 }] }])], seq([0.0, 0.89, 0.9, 0.99]));
  const got = [1, 2, 3, 4].map(() => p.plan('GET', '/', []).backend);
  assert.deepEqual(got, [V1, V1, V2, V2]);
});

test('zero weights and unknown backends answer 500 no-backend', () => {
  const zero = setup([route([{ backends: [{ cluster: V1, weight: 0 }] }])]);
  assert.equal(zero.plan('GET', '/', []).local?.status, 500);
  assert.equal(zero.plan('GET', '/', []).local?.reason, ProxyReason.NoBackend);
  const unknown = setup([route([{ backends: [{ cluster: 'default/nope:http' }] }])]);
  assert.equal(unknown.plan('GET', '/', []).local?.reason, ProxyReason.NoBackend);
});

test('fault abort and delay follow their percentages', () => {
  const fault = { type: 'Fault' as const, fault: { abort: { status: 503, percent: 50 }, delay: { ms: 70, percent: 50 } } };
  // random draws per request: abort roll, then (if not aborted) delay roll, then the backend pick.
  const p = setup([route([{ filters: [fault], backends: [{ cluster: V1 }] }])], seq([0.1, 0.9, 0.1, 0.9, 0.9]));
  const first = p.plan('GET', '/', []);
  assert.equal(first.local?.status, 503);
  assert.equal(first.local?.reason, ProxyReason.FaultInjected);
  const second = p.plan('GET', '/', []);
  assert.equal(second.local, null);
  assert.equal(second.delayMs, 70);
  const third = p.plan('GET', '/', []);
  assert.equal(third.local, null);
  assert.equal(third.delayMs, 0);
});

test('mirrors are rolled per request and only to known clusters', () => {
  const p = setup(
    [
      route([
        {
          filters: [
            { type: 'RequestMirror', requestMirror: { cluster: V2, percent: 50 } },
            { type: 'RequestMirror', requestMirror: { cluster: 'default/gone:http', percent: 100 } },
          ],
          backends: [{ cluster: V1 }],
        },
      ]),
    ],
    seq([0.2, 0.7]),
  );
  assert.deepEqual(p.plan('GET', '/', []).mirrors, [`up:${V2}`]);
  assert.deepEqual(p.plan('GET', '/', []).mirrors, []);
});

test('a rule with attempts 0 has no retry policy and no budget', () => {
  const p = setup([route([{ backends: [{ cluster: V1 }], retry: { codes: [503], attempts: 0, backoffMs: 0 } }])]);
  const plan = p.plan('GET', '/', []);
  assert.equal(plan.retry, undefined);
  assert.equal(plan.budget, undefined);
});
