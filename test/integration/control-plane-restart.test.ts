/**
 * The data plane outlives its control plane: control plane and agent run as separate
 * processes; under load the control plane is killed with SIGKILL, stays away a while, and
 * is started again on the same ports and state dir. Proxies keep serving on their last
 * config, reconnect, keep the same CA, and no request fails.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request, type Agent } from 'undici';
import type { ProxyView, WorkloadView } from '../../src/api/registry.js';
import type { ProxySnapshot } from '../../src/api/snapshot.js';
import { describeFailures, httpGetOutcome, loadLoop } from '../helpers/load.js';
import {
  httpAgent,
  meshSettled,
  startAgent,
  startControlPlane,
  writeMeshDir,
  type ControlPlaneProcess,
  type MeshDir,
  type SpawnedProcess,
} from '../helpers/mesh.js';
import { pairMesh, TRUST_DOMAIN } from '../helpers/meshes.js';
import { freePorts, sleep, waitFor } from '../helpers/proc.js';

interface SnapshotView {
  nodeId: string;
  version: number;
  snapshot: ProxySnapshot;
}

describe('control plane restart', () => {
  let md: MeshDir | undefined;
  let cp: ControlPlaneProcess | undefined;
  let agentProc: SpawnedProcess | undefined;
  let agent: Agent;
  let outPort: number;
  let apiPort: number;
  let pushPort: number;

  before(async () => {
    agent = httpAgent();
    [outPort, apiPort, pushPort] = (await freePorts(3)) as [number, number, number];
    md = await writeMeshDir({
      meshYaml: pairMesh({ name: 'it-cp-restart', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'], outPort, serverReplicas: 2 }),
    });
    cp = await startControlPlane({ cwd: md.dir, stateDir: md.stateDir, apiPort, pushPort, trustDomain: TRUST_DOMAIN, certTtl: '1h' });
    agentProc = await startAgent({ cwd: md.dir, meshFile: md.meshFile, stateDir: md.stateDir, apiUrl: cp.apiUrl, expectWorkloads: 2 });
  });

  after(async () => {
    const errors: unknown[] = [];
    await agent?.close();
    // Agent first (it stops its workloads and proxies), then the control plane.
    await agentProc?.kill('SIGTERM').catch((e: unknown) => errors.push(e));
    await cp?.kill('SIGTERM').catch((e: unknown) => errors.push(e));
    await md?.cleanup().catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw errors[0];
  });

  it('proxies serve through a SIGKILLed control plane, reconnect to its successor with the same CA, zero failures', async (t) => {
    const nodeId = 'default/a/0';
    const snapBefore = await cp!.api<SnapshotView>(`/api/v1/proxies/${encodeURIComponent(nodeId)}/snapshot`);
    assert.ok(snapBefore.snapshot.trustBundlePem.length > 0, 'snapshot has a trust bundle');

    const load = loadLoop(httpGetOutcome(`http://127.0.0.1:${outPort}/cp`, agent), { concurrency: 4 });
    await load.waitForOk(50);

    await cp!.kill('SIGKILL');
    // The API is gone (bounded check that the kill took effect).
    await waitFor('the control plane API to refuse connections', async () => {
      try {
        const res = await request(`${cp!.apiUrl}/healthz`, { headersTimeout: 1000 });
        await res.body.text();
        return false;
      } catch {
        return true;
      }
    });
    // Requests keep succeeding while it is away: at least 200 more, and a few seconds.
    await load.waitForOk(200);
    await sleep(3000);
    const whileDown = load.stats();

    cp = await startControlPlane({ cwd: md!.dir, stateDir: md!.stateDir, apiPort, pushPort, trustDomain: TRUST_DOMAIN, certTtl: '1h' });
    await waitFor(
      'agent re-registered, every replica ready and every proxy connected to the new control plane',
      () => meshSettled(cp!, 2),
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    const proxies = await cp.getJson<ProxyView[]>('proxies');
    const workloads = await cp.getJson<WorkloadView[]>('workloads');
    const expectedNodes = workloads.flatMap((w) => w.replicas.map((r) => r.nodeId)).sort();
    assert.deepEqual(proxies.map((p) => p.nodeId).sort(), expectedNodes);
    for (const p of proxies) {
      assert.equal(p.connected, true, `${p.nodeId} connected`);
      assert.notEqual(p.certSerial, null, `${p.nodeId} reports a certificate`);
    }
    const snapAfter = await cp.api<SnapshotView>(`/api/v1/proxies/${encodeURIComponent(nodeId)}/snapshot`);
    assert.deepEqual(snapAfter.snapshot.trustBundlePem, snapBefore.snapshot.trustBundlePem, 'same CA after the restart');
    assert.ok(snapAfter.version >= snapBefore.version, `version ${snapAfter.version} did not go back from ${snapBefore.version}`);

    await load.waitForOk(100);
    const stats = await load.stop();
    t.diagnostic(`load: ${stats.ok} ok (${whileDown.ok} by the end of the outage), ${stats.failed} failed; snapshot version ${snapBefore.version} -> ${snapAfter.version}`);
    assert.equal(whileDown.failed, 0, `failures while the control plane was down:\n${describeFailures(whileDown)}`);
    assert.equal(stats.failed, 0, `failed requests (${stats.ok} ok):\n${describeFailures(stats)}`);
  });
});
