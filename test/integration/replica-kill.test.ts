/**
 * Losing a replica: b has two replicas under a load loop; one replica's app is killed with
 * SIGKILL. Its endpoint leaves (or stops being ready in) `get endpoints` or comes back after the
 * restart; once it was taken out, requests keep succeeding; the agent restarts the app once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndpointView, ProxyView, WorkloadView } from '../../src/api/registry.js';
import { describeFailures, httpGetOutcome, loadLoop } from '../helpers/load.js';
import { usePairMesh } from '../helpers/pair-fixture.js';
import { pidAlive, waitFor } from '../helpers/proc.js';

describe('replica kill', () => {
  const pair = usePairMesh({ name: 'it-replica-kill', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'], serverReplicas: 2 });

  it('a SIGKILLed replica is taken out, requests keep succeeding, the agent restarts it once', async (t) => {
    const workloads = await pair.mesh.getJson<WorkloadView[]>('workloads');
    const b = workloads.find((w) => w.name === 'b');
    assert.ok(b, 'workload b listed');
    assert.equal(b.replicas.length, 2);
    const victim = b.replicas.find((r) => r.replica === 0)!;
    assert.equal(victim.restarts, 0);
    const oldPid = victim.appPid;
    assert.ok(typeof oldPid === 'number' && pidAlive(oldPid), `replica 0 app pid ${oldPid} is alive`);

    const endpointsBefore = (await pair.mesh.getJson<EndpointView[]>('endpoints')).filter((e) => e.service === 'b');
    assert.equal(endpointsBefore.filter((e) => e.ready).length, 2, JSON.stringify(endpointsBefore));

    // Every answer must come from b (an echo body), not only a 200.
    const load = loadLoop(httpGetOutcome(`http://127.0.0.1:${pair.outPort}/kill`, pair.agent, (body) => body.includes('"workload":"b"')), { concurrency: 4 });
    await load.waitForOk(50);

    process.kill(oldPid, 'SIGKILL');

    // Watch the registry: note when replica 0's endpoint is out (absent or not ready) and when
    // a's proxy acknowledged the config compiled after that, until the agent has restarted the
    // app and the endpoint is ready again.
    let removedSeen = false;
    let removalVersion: number | null = null;
    let removedAppliedAt: { ok: number; failed: number } | undefined;
    const restarted = await waitFor(
      'replica 0 of b restarted and its endpoint ready again',
      async () => {
        const eps = (await pair.mesh.api<EndpointView[]>('/api/v1/endpoints')).filter((e) => e.service === 'b');
        const mine = eps.find((e) => e.replica === 0);
        if (mine === undefined || !mine.ready) {
          const a0 = (await pair.mesh.api<ProxyView[]>('/api/v1/proxies')).find((p) => p.nodeId === 'default/a/0');
          if (!removedSeen) {
            removedSeen = true;
            removalVersion = a0?.version ?? null;
          } else if (removedAppliedAt === undefined && a0?.ackedVersion != null && removalVersion !== null && a0.ackedVersion >= removalVersion) {
            const s = load.stats();
            removedAppliedAt = { ok: s.ok, failed: s.failed };
          }
          return false;
        }
        const wl = (await pair.mesh.api<WorkloadView[]>('/api/v1/workloads')).find((w) => w.name === 'b');
        const r0 = wl?.replicas.find((r) => r.replica === 0);
        if (r0 === undefined || r0.restarts < 1 || r0.state !== 'ready' || r0.appPid === oldPid) return false;
        return r0;
      },
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const s = load.stats();
    const fromPoint = removedAppliedAt ?? { ok: s.ok, failed: s.failed };

    // After the endpoint was taken out (or, if that was too quick to see, after it returned),
    // requests keep succeeding: 300 more with no new failure.
    await load.waitForOk(300);
    const stats = await load.stop();
    t.diagnostic(`removal seen: ${removedSeen}, applied by a: ${removedAppliedAt !== undefined}; load ${stats.ok} ok, ${stats.failed} failed (${fromPoint.failed} before the counting point)`);
    if (stats.failed > 0) t.diagnostic(`failures (all before the counting point are allowed):\n${describeFailures(stats)}`);

    assert.equal(restarted.restarts, 1, 'the agent restarted the app exactly once');
    assert.ok(restarted.appPid !== null && pidAlive(restarted.appPid), `new app pid ${restarted.appPid} alive`);
    assert.equal(pidAlive(oldPid), false, 'the killed app is gone');
    assert.equal(stats.failed - fromPoint.failed, 0, `failures after the endpoint was taken out (${removedAppliedAt ? 'removal seen and applied by a' : removedSeen ? 'removal seen, counted from the restart' : 'removal not seen, counted from the restart'}):\n${describeFailures(stats)}`);

    // Through the CLI too: the restart count and two ready endpoints.
    const wlCli = (await pair.mesh.getJson<WorkloadView[]>('workloads')).find((w) => w.name === 'b')!;
    assert.equal(wlCli.replicas.find((r) => r.replica === 0)?.restarts, 1);
    assert.equal(wlCli.replicas.find((r) => r.replica === 1)?.restarts, 0, 'the other replica was left alone');
    const endpointsAfter = (await pair.mesh.getJson<EndpointView[]>('endpoints')).filter((e) => e.service === 'b');
    assert.equal(endpointsAfter.filter((e) => e.ready).length, 2);
  });
});
