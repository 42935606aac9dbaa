import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Resource } from '../../api/resources.js';
import { validateResource } from '../../config/resources/validate.js';
import { TrellisError } from '../../errors.js';
import { SnapshotCache } from '../compiler/snapshot-cache.js';
import { Registry } from '../registry/registry.js';
import { MemoryStore } from '../store/memory-store.js';
import { agentReport, workload } from '../test-support.js';
import { explainRequest, type WhyMesh } from './why.js';

const TD = 'trellis.dev/v1alpha1';
const GW = 'gateway.networking.k8s.io/v1';
const WEB = 'spiffe://td/ns/default/sa/web';

function res(raw: Record<string, unknown>): Resource {
  const v = validateResource(raw);
  assert.ok(v.ok, v.ok ? '' : JSON.stringify(v.problems));
  return { ...v.resource, metadata: { ...v.resource.metadata, creationTimestamp: '2024-01-01T00:00:00.000Z' } };
}

/** web calls api (and api-v2 through a route); batch calls api; api has 2 replicas. */
async function mesh(resources: Resource[]): Promise<WhyMesh> {
  const r = new Registry('td');
  r.upsert(
    agentReport('h1', [
      workload('web', { upstreams: ['default/api:http', 'default/db:tcp'] }),
      workload('batch', { upstreams: ['default/api:http'] }),
      workload('api', { readyPorts: [7001, 7002] }),
      workload('api-v2', { readyPorts: [7003] }),
      { ...workload('db', { readyPorts: [7004] }), ports: [{ name: 'tcp', protocol: 'tcp' }] },
    ]),
    0,
  );
  const cache = new SnapshotCache(r, new MemoryStore(), () => ['ROOT'], () => resources);
  await cache.recompile();
  return {
    nodes: () => r.nodes(),
    servingWorkloads: (ns, svc) => r.servingWorkloads(ns, svc),
    snapshot: (id) => cache.get(id)?.snapshot,
    warnings: (id) => cache.inboundOf(id)?.warnings ?? [],
  };
}

const v2Route = res({
  apiVersion: GW,
  kind: 'HTTPRoute',
  metadata: { name: 'split', namespace: 'default' },
  spec: {
    parentRefs: [{ name: 'api' }],
    rules: [
      { matches: [{ path: { type: 'PathPrefix', value: '/v2' } }], backendRefs: [{ name: 'api-v2' }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/admin' } } }] },
      { matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'api' }] },
    ],
  },
});
const noAdmin = (service: string): Resource =>
  res({ apiVersion: TD, kind: 'AuthorizationPolicy', metadata: { name: `no-admin-${service}` }, spec: { targetRef: { name: service }, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin/*'] } }] }] } });

describe('explainRequest', () => {
  it('no route, no policy: the service\'s own cluster, allowed by the default, for every ready replica', async () => {
    const a = explainRequest(await mesh([]), { source: 'web', target: 'api' });
    assert.equal(a.outcome, 'allowed');
    assert.equal(a.target.cluster, 'default/api:http');
    assert.equal(a.source.identity, WEB);
    assert.equal(a.route, null);
    assert.deepEqual(a.backends, [{ cluster: 'default/api:http', weight: 1, percent: 100, valid: true }]);
    assert.deepEqual(a.destinations[0]?.groups.map((g) => [g.nodes, g.decision.label, g.decision.allowed]), [[['default/api/0', 'default/api/1'], 'default', true]]);
  });

  it('a DENY on the callee: denied, naming the policy and rule; the path is normalized first', async () => {
    const a = explainRequest(await mesh([noAdmin('api')]), { source: 'web', target: 'api:http', path: '/x/../admin/users?q=1', method: 'delete' });
    assert.equal(a.outcome, 'denied');
    assert.deepEqual(a.request, { method: 'DELETE', path: '/admin/users', query: 'q=1', host: 'api' });
    const d = a.destinations[0]?.groups[0]?.decision;
    assert.deepEqual([d?.label, d?.action, d?.rule, d?.source], ['default/no-admin-api', 'DENY', 0, 'policy']);
    assert.match(a.explanation.join('\n'), /normalized to \/admin\/users/);
  });

  it('a path the proxy refuses is bad-path before any route or policy', async () => {
    const a = explainRequest(await mesh([noAdmin('api')]), { source: 'web', target: 'api', path: '/%2Fadmin' });
    assert.equal(a.outcome, 'bad-path');
    assert.deepEqual(a.destinations, []);
  });

  it('a route: the matching rule, its backend, and the callee deciding on the rewritten path', async () => {
    const m = await mesh([v2Route, noAdmin('api-v2')]);
    const v2 = explainRequest(m, { source: 'web', target: 'api', path: '/v2/users' });
    assert.deepEqual(v2.route, { route: 'default/split', kind: 'HTTPRoute', rule: 0 });
    assert.deepEqual(v2.backends.map((b) => b.cluster), ['default/api-v2:http']);
    assert.equal(v2.outcome, 'denied', 'the rewrite turns /v2/users into /admin/users, which api-v2 denies');
    assert.equal(v2.destinations[0]?.groups[0]?.path, '/admin/users');
    const rest = explainRequest(m, { source: 'web', target: 'api', path: '/users' });
    assert.deepEqual([rest.route?.rule, rest.backends[0]?.cluster, rest.outcome], [1, 'default/api:http', 'allowed']);
  });

  it('defaultAction deny with an ALLOW for web: web allowed by the policy, batch denied by the default; an ALLOW under allow warns', async () => {
    const allowWeb = (def: string | undefined): Resource =>
      res({ apiVersion: TD, kind: 'AuthorizationPolicy', metadata: { name: 'web-only' }, spec: { targetRef: { name: 'api' }, ...(def !== undefined ? { defaultAction: def } : {}), action: 'ALLOW', rules: [{ from: [{ source: { principals: [WEB] } }] }] } });
    const m = await mesh([allowWeb('deny')]);
    assert.equal(explainRequest(m, { source: 'web', target: 'api' }).destinations[0]?.groups[0]?.decision.label, 'default/web-only');
    const batch = explainRequest(m, { source: 'batch', target: 'api' });
    assert.equal(batch.outcome, 'denied');
    assert.deepEqual([batch.destinations[0]?.groups[0]?.decision.label, batch.destinations[0]?.groups[0]?.defaultAction, batch.destinations[0]?.groups[0]?.defaultFrom], ['default', 'deny', 'default/web-only']);
    const loose = explainRequest(await mesh([allowWeb(undefined)]), { source: 'batch', target: 'api' });
    assert.equal(loose.outcome, 'allowed');
    assert.match(loose.destinations[0]?.groups[0]?.warnings[0] ?? '', /changes nothing/);
  });

  it('an upstream the caller does not declare, an unknown source, a bad query', async () => {
    const m = await mesh([]);
    assert.equal(explainRequest(m, { source: 'api', target: 'web' }).outcome, 'unknown-cluster');
    assert.throws(() => explainRequest(m, { source: 'nobody', target: 'api' }), (e: unknown) => e instanceof TrellisError && e.code === 'TRELLIS_E_NOT_FOUND');
    assert.throws(() => explainRequest(m, { source: 'web', target: 'api:' }), (e: unknown) => e instanceof TrellisError && e.code === 'TRELLIS_E_USAGE');
  });

  it('a TCP target: decided on the caller alone, with DENY rules that name paths covering the connection', async () => {
    const deny = res({ apiVersion: TD, kind: 'AuthorizationPolicy', metadata: { name: 'no-web' }, spec: { targetRef: { name: 'db' }, action: 'DENY', rules: [{ from: [{ source: { principals: [WEB] } }], to: [{ operation: { paths: ['/x'] } }] }] } });
    const a = explainRequest(await mesh([deny]), { source: 'web', target: 'db', path: '/ignored' });
    assert.deepEqual([a.target.protocol, a.outcome, a.request.path, a.destinations[0]?.groups[0]?.decision.label], ['tcp', 'denied', '', 'default/no-web']);
    assert.match(a.explanation.join('\n'), /connection is reset/);
    assert.equal(explainRequest(await mesh([]), { source: 'web', target: 'db' }).outcome, 'allowed');
  });
});
