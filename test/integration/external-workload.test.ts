/**
 * A workload the agent does not start (docs/mesh-file.md, "Workloads run by something else"):
 * the mesh file names its app's port and no command; the test itself plays systemd and runs
 * the app. The agent runs only its proxy, registers the endpoint, and probes readiness as
 * usual: not ready before the app listens, ready once it does, unhealthy when it goes away,
 * and nothing is ever started or restarted in its place.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { WorkloadView } from '../../src/api/registry.js';
import { httpAgent, startMesh, type Mesh } from '../helpers/mesh.js';
import { TRUST_DOMAIN, spiffeId } from '../helpers/meshes.js';
import { freePorts, waitFor } from '../helpers/proc.js';

function meshYaml(outPort: number, appPort: number): string {
  return `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: it-external
spec:
  trustDomain: ${TRUST_DOMAIN}
  controlPlane: { api: 127.0.0.1:0, push: 127.0.0.1:0 }
  workloads:
    - name: a
      command: [node, http-echo.mjs]
      ports: [{ name: http }]
      upstreams:
        - service: billing
          port: http
          listen: 127.0.0.1:${outPort}
    - name: billing
      ports:
        - name: http
          appPort: ${appPort}
      readiness:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 0.2
        failureThreshold: 2
`;
}

/** The app something else runs: answers /healthz, and echoes the caller's identity on any other path. */
function startBillingApp(port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') {
      res.end('ok');
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ app: 'billing', pid: process.pid, path: req.url, peer: req.headers['trellis-peer-identity'] ?? null }));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('a workload run by something else (no command, a fixed appPort)', () => {
  let mesh: Mesh | undefined;
  let app: http.Server | undefined;
  const agent = httpAgent();
  let outPort = 0;
  let appPort = 0;

  const billing = async (): Promise<WorkloadView | undefined> => (await mesh!.api<WorkloadView[]>('/api/v1/workloads')).find((w) => w.name === 'billing');

  before(async () => {
    [outPort, appPort] = (await freePorts(2)) as [number, number];
    mesh = await startMesh({ meshYaml: meshYaml(outPort, appPort) });
  });

  after(async () => {
    await agent.close();
    if (app !== undefined) await closeServer(app);
    await mesh?.stop();
  });

  it('the agent starts only its proxy; the endpoint is registered but not ready while nothing listens', async () => {
    const w = await billing();
    assert.ok(w, 'billing is registered');
    assert.equal(w.replicas.length, 1);
    const r = w.replicas[0]!;
    assert.equal(r.appPid, null, 'no app process of the agent');
    assert.notEqual(r.proxyPid, null, 'its proxy runs');
    assert.equal(r.state, 'starting', 'not in load balancing before its app answers the probe');
    assert.equal(r.endpoints[0]?.host, '127.0.0.1');
    const res = await request(`http://127.0.0.1:${outPort}/x`, { dispatcher: agent });
    await res.body.dump();
    assert.equal(res.statusCode, 503, 'no ready endpoint yet');
  });

  it('once the app listens, the probe makes it ready and mesh traffic reaches it with the caller identity', async () => {
    app = await startBillingApp(appPort);
    await waitFor('billing ready', async () => (await billing())?.replicas[0]?.state === 'ready');
    const res = await waitFor('a request through the mesh', async () => {
      const r = await request(`http://127.0.0.1:${outPort}/invoice/7`, { dispatcher: agent });
      const text = await r.body.text();
      return r.statusCode === 200 ? (JSON.parse(text) as { app: string; pid: number; path: string; peer: string }) : false;
    });
    assert.equal(res.app, 'billing');
    assert.equal(res.pid, process.pid, 'served by the app this test runs');
    assert.equal(res.path, '/invoice/7');
    assert.equal(res.peer, spiffeId('a'), 'the inbound proxy vouches for the caller');
  });

  it('when the app goes away it is taken out of load balancing, and nothing is started in its place', async () => {
    await closeServer(app!);
    app = undefined;
    await waitFor('billing unhealthy', async () => (await billing())?.replicas[0]?.state === 'unhealthy');
    const r = (await billing())!.replicas[0]!;
    assert.equal(r.appPid, null);
    assert.equal(r.restarts, 0, 'the agent restarts nothing it did not start');
    app = await startBillingApp(appPort);
    await waitFor('billing ready again', async () => (await billing())?.replicas[0]?.state === 'ready');
  });
});
