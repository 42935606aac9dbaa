/**
 * The proxy's admin POST /drain, over a real mesh started with `trellis up`: refused (401,
 * nothing changes) without the proxy's admin token; with it, the proxy drains and /ready
 * says `draining`, the agent takes the replica out of load balancing, restarts its proxy
 * (with a new token) and the replica serves again by itself.
 */
import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request, type Agent } from 'undici';
import type { EndpointView, WorkloadView } from '../../src/api/registry.js';
import { httpAgent, startMesh, type Mesh } from '../helpers/mesh.js';
import { pairMesh } from '../helpers/meshes.js';
import { freePort, sleep, waitFor } from '../helpers/proc.js';

async function post(url: string, authorization?: string): Promise<{ status: number; body: string }> {
  const res = await request(url, { method: 'POST', headers: authorization !== undefined ? { authorization } : {}, headersTimeout: 5000, bodyTimeout: 5000 });
  return { status: res.statusCode, body: await res.body.text() };
}

async function readiness(adminUrl: string): Promise<{ status: number; body: string } | null> {
  try {
    const res = await request(`${adminUrl}/ready`, { headersTimeout: 2000, bodyTimeout: 2000 });
    return { status: res.statusCode, body: await res.body.text() };
  } catch {
    return null;
  }
}

describe('admin POST /drain', () => {
  let mesh: Mesh | undefined;
  let agent: Agent;
  let outPort: number;

  const m = (): Mesh => {
    if (mesh === undefined) throw new Error('mesh not started');
    return mesh;
  };
  const replicaB = async () => {
    const workloads = await m().api<WorkloadView[]>('/api/v1/workloads');
    const r = workloads.find((w) => w.name === 'b')?.replicas[0];
    assert.ok(r, `b has a replica: ${JSON.stringify(workloads)}`);
    return r;
  };
  const bootstrapFile = (): string => join(m().stateDir, 'run', 'b-0.bootstrap.json');
  const adminToken = async (): Promise<string> => (JSON.parse(await readFile(bootstrapFile(), 'utf8')) as { adminToken: string }).adminToken;
  const throughA = async (): Promise<number> => {
    const res = await request(`http://127.0.0.1:${outPort}/drain-test`, { dispatcher: agent, headersTimeout: 10_000, bodyTimeout: 10_000 });
    await res.body.text();
    return res.statusCode;
  };

  before(async () => {
    agent = httpAgent();
    outPort = await freePort();
    // `trellis up` (via startMesh) is the CLI path users take; the admin URL comes from `get workloads -o json`.
    mesh = await startMesh({ meshYaml: pairMesh({ name: 'it-drain', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'], outPort }) });
  });

  after(async () => {
    await agent?.close();
    await mesh?.stop();
  });

  it('without the admin token (none, a wrong one, another scheme) POST /drain is 401 and changes nothing', async () => {
    const fromCli = (await m().getJson<WorkloadView[]>('workloads')).find((w) => w.name === 'b')?.replicas[0];
    assert.ok(fromCli?.adminUrl, 'trellis get workloads -o json names the admin URL');
    const adminUrl = fromCli.adminUrl;
    const token = await adminToken();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/, 'a 32-byte random token');
    assert.equal((await stat(bootstrapFile())).mode & 0o777, 0o600, 'the bootstrap holding it is 0600');

    for (const authorization of [undefined, `Bearer ${'x'.repeat(43)}`, `Bearer ${token.slice(0, -1)}`, `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`, token]) {
      const r = await post(`${adminUrl}/drain`, authorization);
      assert.equal(r.status, 401, `authorization: ${String(authorization).slice(0, 20)}...`);
    }
    assert.deepEqual(await readiness(adminUrl), { status: 200, body: 'ready\n' }, 'still ready');
    assert.equal((await replicaB()).state, 'ready');
    assert.equal(await throughA(), 200, 'still serving');
    const config = await (await request(`${adminUrl}/config`)).body.text();
    assert.ok(!config.includes(token), 'GET /config never shows the admin token');
  });

  it('with the token: 202, /ready 503 draining, the replica leaves load balancing, its proxy is restarted and it serves again', async (t) => {
    const before = await replicaB();
    const token = await adminToken();
    const r = await post(`${before.adminUrl}/drain`, `Bearer ${token}`);
    assert.equal(r.status, 202);
    assert.equal(r.body, 'draining\n');
    // At once (the agent probes it about every second, then stops it): draining, not ready.
    const ready = await readiness(before.adminUrl);
    if (ready !== null) assert.deepEqual(ready, { status: 503, body: 'draining\n' });

    // The agent reports the replica unhealthy: its endpoint is no longer ready, so callers stop picking it.
    const started = Date.now();
    await waitFor(
      'b/0 reported not ready (out of load balancing)',
      async () => {
        const eps = await m().api<EndpointView[]>('/api/v1/endpoints');
        return eps.some((e) => e.nodeId === 'default/b/0' && !e.ready);
      },
      { timeoutMs: 15_000, intervalMs: 50 },
    );
    const outAt = Date.now() - started;
    // Then a new proxy (new pid, new admin token) and the replica is ready again by itself.
    const after = await waitFor(
      'b/0 ready again with a new proxy',
      async () => {
        const rep = await replicaB();
        return rep.state === 'ready' && rep.proxyPid !== null && rep.proxyPid !== before.proxyPid ? rep : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    t.diagnostic(`out of load balancing after ${outAt} ms, ready again after ${Date.now() - started} ms (proxy pid ${before.proxyPid} -> ${after.proxyPid})`);
    assert.equal(after.appPid, before.appPid, 'the app kept running');
    await waitFor('requests through a reach b again', async () => (await throughA()) === 200, { timeoutMs: 15_000 });
    for (let i = 0; i < 5; i++) assert.equal(await throughA(), 200);

    const newToken = await adminToken();
    assert.notEqual(newToken, token, 'the new proxy has its own admin token');
    assert.equal((await post(`${after.adminUrl}/drain`, `Bearer ${token}`)).status, 401, 'the old token is worthless now');
    assert.deepEqual(await readiness(after.adminUrl), { status: 200, body: 'ready\n' });

    // What the agent saw, in its log; and no log ever carries a token.
    await sleep(200);
    const agentLog = await readFile(join(m().stateDir, 'logs', 'agent.log'), 'utf8');
    assert.match(agentLog, /proxy is draining: out of load balancing, restarting it once drained/);
    const proxyLog = await readFile(join(m().stateDir, 'logs', 'b-0.proxy.log'), 'utf8');
    for (const secret of [token, newToken]) {
      assert.ok(!agentLog.includes(secret) && !proxyLog.includes(secret), 'the admin token is never logged');
    }
  });
});
