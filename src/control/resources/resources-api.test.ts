import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ApplyResult, ResourceChangeEvent, ResourceErrorBody, ResourceView } from '../../api/resources.js';
import { runControlPlane, type RunningControlPlane } from '../main.js';
import { agentReport, startControlPlane, tempDir, workload } from '../test-support.js';

const GW = 'gateway.networking.k8s.io/v1';
const httpRoute = (name: string, parent: string, backend: string, extra: Record<string, unknown> = {}): unknown => ({
  apiVersion: GW,
  kind: 'HTTPRoute',
  metadata: { name },
  spec: { parentRefs: [{ name: parent }], rules: [{ backendRefs: [{ name: backend, port: 8080 }], ...extra }] },
});

let cp: RunningControlPlane;
let token: string;
let agentToken: string;
let dir: string;
let cleanup: () => Promise<void>;

async function call(method: string, path: string, body?: unknown, auth = true): Promise<{ status: number; json: unknown }> {
  const bearer = path.startsWith('/agents/') ? agentToken : token;
  const res = await fetch(`${cp.apiUrl}/api/v1${path}`, {
    method,
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${bearer}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

const start = async (): Promise<void> => {
  cp = await runControlPlane({ stateDir: dir, api: { host: '127.0.0.1', port: 0 }, push: { host: '127.0.0.1', port: 0 }, trustDomain: 'test.local', certTtlMs: 3600_000, logLevel: 'silent' });
  token = (await readFile(join(dir, 'admin-token'), 'utf8')).trim();
  agentToken = (await readFile(join(dir, 'agent-token'), 'utf8')).trim();
};

before(async () => {
  const t = await tempDir();
  dir = t.dir;
  cleanup = t.cleanup;
  await start();
});
after(async () => {
  await cp.close();
  await cleanup();
});

describe('REST /api/v1/resources over a real control plane', () => {
  it('writes need the token', async () => {
    assert.equal((await call('PUT', '/resources', { resources: [] }, false)).status, 401);
    assert.equal((await call('DELETE', '/resources/HTTPRoute/default/x', undefined, false)).status, 401);
  });

  it('dry run says created and stores nothing; apply creates; a second apply is unchanged; a change is configured', async () => {
    const dry = await call('PUT', '/resources?dryRun=true', { resources: [httpRoute('web', 'web', 'web')] });
    assert.equal(dry.status, 200);
    assert.deepEqual((dry.json as ApplyResult).results.map((r) => r.action), ['created']);
    assert.equal((dry.json as ApplyResult).dryRun, true);
    assert.equal((await call('GET', '/resources/HTTPRoute/default/web')).status, 404);

    const a = await call('PUT', '/resources', { resources: [httpRoute('web', 'web', 'web')] });
    assert.deepEqual((a.json as ApplyResult).results.map((r) => [r.name, r.action, r.generation]), [['web', 'created', 1]]);
    const b = await call('PUT', '/resources', [httpRoute('web', 'web', 'web')]);
    assert.deepEqual((b.json as ApplyResult).results.map((r) => [r.action, r.resourceVersion]), [['unchanged', (a.json as ApplyResult).results[0]?.resourceVersion]]);
    const c = await call('PUT', '/resources?dryRun=true', [httpRoute('web', 'web', 'web-v2')]);
    assert.deepEqual((c.json as ApplyResult).results.map((r) => r.action), ['configured']);
    const d = await call('PUT', '/resources', [httpRoute('web', 'web', 'web-v2')]);
    assert.deepEqual((d.json as ApplyResult).results.map((r) => [r.action, r.generation]), [['configured', 2]]);

    const got = (await call('GET', '/resources/httproutes/default/web')).json as ResourceView;
    assert.equal(got.metadata.generation, 2);
    assert.equal((got.spec as { rules: { backendRefs: { name: string }[] }[] }).rules[0]?.backendRefs[0]?.name, 'web-v2');
    assert.equal(((await call('GET', '/resources/HTTPRoute')).json as ResourceView[]).length, 1);
  });

  it('an invalid resource rejects the whole apply with field paths (400)', async () => {
    const bad = httpRoute('broken', 'web', 'web', { timeouts: { request: 'soon' } });
    const r = await call('PUT', '/resources', { resources: [httpRoute('other', 'web', 'web'), bad] });
    assert.equal(r.status, 400);
    const e = (r.json as ResourceErrorBody).error;
    assert.equal(e.code, 'TRELLIS_E_CONFIG');
    assert.deepEqual(e.issues?.map((i) => [i.index, i.kind, i.name, i.path]), [[1, 'HTTPRoute', 'broken', 'spec.rules[0].timeouts.request']]);
    assert.equal((await call('GET', '/resources/HTTPRoute/default/other')).status, 404, 'the valid one was not stored either');
  });

  it('status: a route to a missing service is accepted but not attached; once the service registers it is', async () => {
    await call('PUT', '/resources', [httpRoute('to-api', 'api', 'api')]);
    const before = (await call('GET', '/resources/HTTPRoute/default/to-api')).json as ResourceView;
    const cond = (v: ResourceView, type: string) => v.status.parents?.[0]?.conditions.find((c) => c.type === type);
    assert.deepEqual([cond(before, 'Accepted')?.status, cond(before, 'Accepted')?.reason], ['False', 'NoMatchingParent']);
    assert.deepEqual([cond(before, 'ResolvedRefs')?.status, cond(before, 'ResolvedRefs')?.reason], ['False', 'BackendNotFound']);
    assert.equal(before.status.parents?.[0]?.parentRef.name, 'api');

    const r = await call('PUT', '/agents/a1', agentReport('a1', [workload('api')]));
    assert.equal(r.status, 200);
    const now = (await call('GET', '/resources/HTTPRoute/default/to-api')).json as ResourceView;
    assert.deepEqual([cond(now, 'Accepted')?.status, cond(now, 'ResolvedRefs')?.status], ['True', 'True']);
    assert.equal(cond(now, 'Accepted')?.observedGeneration, 1);
  });

  it('delete, then 404; resources survive a restart', async () => {
    assert.equal((await call('DELETE', '/resources/HTTPRoute/default/to-api')).status, 200);
    assert.equal((await call('DELETE', '/resources/HTTPRoute/default/to-api')).status, 404);
    assert.equal((await call('GET', '/resources/Nope')).status, 404);
    await cp.close();
    await start();
    const list = (await call('GET', '/resources')).json as ResourceView[];
    assert.deepEqual(list.map((r) => [r.kind, r.metadata.name, r.metadata.generation]), [['HTTPRoute', 'web', 2]]);
  });
});

describe('change events', () => {
  it('apply and delete emit one change event each; dry runs and unchanged applies none', async () => {
    const t = await tempDir();
    const plane = await startControlPlane(t.dir);
    try {
      const events: ResourceChangeEvent[] = [];
      plane.resources.on('changed', (e) => events.push(e));
      const fault = { apiVersion: 'trellis.dev/v1alpha1', kind: 'FaultInjection', metadata: { name: 'slow' }, spec: { delay: { fixedDelay: '1s' } } };
      await plane.applyResources([fault], true);
      await plane.applyResources([fault], false);
      await plane.applyResources([fault], false);
      await plane.deleteResource('FaultInjection', 'default', 'slow');
      assert.deepEqual(events, [
        { version: 1, changed: [{ kind: 'FaultInjection', namespace: 'default', name: 'slow' }], deleted: [] },
        { version: 2, changed: [], deleted: [{ kind: 'FaultInjection', namespace: 'default', name: 'slow' }] },
      ]);
    } finally {
      await plane.close();
      await t.cleanup();
    }
  });
});
