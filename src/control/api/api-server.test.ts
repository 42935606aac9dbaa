import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ControlPlane } from '../control-plane.js';
import { agentReport, api, useControlPlane, workload } from '../test-support.js';

const fixture = useControlPlane();
/** The file's control plane (started in before()). */
const cpOf = (): ControlPlane => fixture.cp;

test('agent calls need the agent token: 401 with a JSON error without it or with a wrong one, 403 with an API token', async () => {
  const body = agentReport('a1', [workload('web')]);
  for (const token of [null, 'wrong', `${cpOf().agentToken}x`, cpOf().adminToken, cpOf().readToken]) {
    for (const [method, path, b] of [
      ['PUT', '/api/v1/agents/a1', body],
      ['DELETE', '/api/v1/agents/a1', undefined],
      ['POST', '/api/v1/agents/a1/tokens', { nodeId: 'default/web/0', identity: 'spiffe://test.local/ns/default/sa/web' }],
    ] as const) {
      const r = await api(cpOf(), method, path, b, token);
      const apiToken = token === cpOf().adminToken || token === cpOf().readToken;
      assert.equal(r.status, apiToken ? 403 : 401, `${method} ${path} with ${token}`);
      assert.equal((r.json as { error: { code: string } }).error.code, 'TRELLIS_E_UNAUTHORIZED');
    }
  }
  assert.equal((await api(cpOf(), 'GET', '/api/v1/workloads')).json instanceof Array, true);
  assert.deepEqual((await api(cpOf(), 'GET', '/api/v1/workloads')).json, [], 'nothing was stored by refused calls');
});

test('bad bodies: 400 naming the field path', async () => {
  const bad = agentReport('a1', [workload('web')]) as unknown as { workloads: { ports: { protocol: string }[] }[] };
  (bad.workloads[0]?.ports[0] as { protocol: string }).protocol = 'smtp';
  const r = await api(cpOf(), 'PUT', '/api/v1/agents/a1', bad);
  assert.equal(r.status, 400);
  assert.match((r.json as { error: { message: string } }).error.message, /^workloads\[0\]\.ports\[0\]\.protocol: /);

  const notJson = await api(cpOf(), 'PUT', '/api/v1/agents/a1', '{"agentId":');
  assert.equal(notJson.status, 400);
  assert.match((notJson.json as { error: { message: string } }).error.message, /invalid JSON/);

  const mismatch = await api(cpOf(), 'PUT', '/api/v1/agents/a1', agentReport('a2', []));
  assert.equal(mismatch.status, 400);
  assert.match((mismatch.json as { error: { message: string } }).error.message, /^agentId: /);

  const token = await api(cpOf(), 'POST', '/api/v1/agents/a1/tokens', { nodeId: 'n', identity: 'spiffe://other.local/ns/default/sa/web' });
  assert.equal(token.status, 400);
  assert.match((token.json as { error: { message: string } }).error.message, /^identity: .*outside trust domain/);
});

test('a report shows up in services, workloads, endpoints, proxies and snapshots; DELETE removes it', async () => {
  const put = await api(cpOf(), 'PUT', '/api/v1/agents/a1', agentReport('a1', [workload('web'), workload('front', { upstreams: ['default/web:http'], readyPorts: [20002] })]));
  assert.equal(put.status, 200);
  const services = (await api(cpOf(), 'GET', '/api/v1/services')).json as { name: string; endpointsReady: number }[];
  assert.deepEqual(services.map((s) => [s.name, s.endpointsReady]), [['front', 1], ['web', 1]]);
  const endpoints = (await api(cpOf(), 'GET', '/api/v1/endpoints')).json as { nodeId: string }[];
  assert.equal(endpoints.length, 2);
  const proxies = (await api(cpOf(), 'GET', '/api/v1/proxies')).json as { nodeId: string; connected: boolean }[];
  assert.deepEqual(proxies.map((p) => [p.nodeId, p.connected]), [['default/front/0', false], ['default/web/0', false]]);
  const snap = await api(cpOf(), 'GET', `/api/v1/proxies/${encodeURIComponent('default/front/0')}/snapshot`);
  assert.equal(snap.status, 200);
  const s = snap.json as { version: number; snapshot: { clusters: { name: string }[] } };
  assert.deepEqual(s.snapshot.clusters.map((c) => c.name), ['default/web:http']);
  assert.equal((await api(cpOf(), 'GET', `/api/v1/proxies/${encodeURIComponent('default/none/0')}/snapshot`)).status, 404);
  assert.deepEqual((await api(cpOf(), 'GET', '/api/v1/version')).json, { version: cpOf().version, trustDomain: 'test.local' });
  const health = await fetch(`${cpOf().apiUrl}/healthz`);
  assert.equal(await health.text(), 'ok');
  const metrics = await fetch(`${cpOf().apiUrl}/metrics`, { headers: { authorization: `Bearer ${cpOf().readToken}` } });
  assert.match(await metrics.text(), /trellis_control_endpoints_ready 2/);

  assert.equal((await api(cpOf(), 'DELETE', '/api/v1/agents/a1')).status, 200);
  assert.deepEqual((await api(cpOf(), 'GET', '/api/v1/endpoints')).json, []);
  assert.equal((await api(cpOf(), 'GET', '/api/v1/nope')).status, 404);
});
