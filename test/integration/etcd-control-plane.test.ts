/**
 * Two ControlPlanes (in this process) over one real etcd: an agent's endpoints, reported to
 * one, are on both and leave both when its etcd lease ends; resource applies through both at
 * once all land, each at its own resource version; a bootstrap token issued by one is spent at
 * the other, once; and a 3-member etcd keeps the store working through the loss of its leader.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ControlPlane } from '../../src/control/control-plane.js';
import { EtcdStore } from '../../src/control/store/etcd/etcd-store.js';
import { agentReport, startControlPlane, tempDir, workload } from '../../src/control/test-support.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { waitFor } from '../helpers/proc.js';

const fault = (name: string, status: number): unknown => ({
  apiVersion: 'trellis.dev/v1alpha1',
  kind: 'FaultInjection',
  metadata: { name, namespace: 'default' },
  spec: { abort: { httpStatus: status, percentage: 100 } },
});

describe('control planes over one etcd', () => {
  let etcd: EtcdCluster;
  let t: { dir: string; cleanup: () => Promise<void> };
  let cp1: ControlPlane;
  let cp2: ControlPlane;

  before(async () => {
    etcd = await startEtcd({ members: 1 });
    t = await tempDir();
    const keyFile = join(t.dir, 'seal.key');
    await writeFile(keyFile, randomBytes(32), { mode: 0o600 });
    const etcdOpt = { url: etcd.storeUrl('cp-test'), caSealKeyFile: keyFile };
    cp1 = await startControlPlane(join(t.dir, 'r1'), { etcd: etcdOpt, tracing: null });
    cp2 = await startControlPlane(join(t.dir, 'r2'), { etcd: etcdOpt, tracing: null });
  });

  after(async () => {
    await cp1?.close();
    await cp2?.close();
    await etcd?.stop();
    await t?.cleanup();
  });

  it('share one CA and one agent token, and list each other', async () => {
    assert.deepEqual(cp1.ca.trustBundlePem(), cp2.ca.trustBundlePem());
    assert.equal(cp1.agentToken, cp2.agentToken);
    await waitFor('both replicas listed', () => cp1.store.replicas().length === 2, { timeoutMs: 5000, intervalMs: 50 });
    const token = await cp2.issueToken('default/web/0', 'spiffe://test.local/ns/default/sa/web');
    assert.equal(token.pushUrls.length, 2);
    assert.equal(token.pushUrls[0], cp2.pushUrl, 'the issuing replica first');
    assert.ok(token.pushUrls.includes(cp1.pushUrl));
  });

  it('a bootstrap token issued by one replica is spent at the other, once', async () => {
    const { token } = await cp1.issueToken('default/web/1', 'spiffe://test.local/ns/default/sa/web');
    const [x, y] = await Promise.all([cp2.tokens.consume(token, 'default/web/1', Date.now()), cp1.tokens.consume(token, 'default/web/1', Date.now())]);
    assert.equal([x, y].filter((r) => r.ok).length, 1, JSON.stringify([x, y]));
  });

  it("an agent's endpoints, reported to one replica, are on both; its etcd lease ends them on both", async () => {
    await cp1.reportAgent('host-a', agentReport('host-a', [workload('web', { readyPorts: [21001] })], 1000));
    await waitFor('the endpoint on replica 2', () => cp2.endpoints().some((e) => e.portNumber === 21001), { timeoutMs: 5000, intervalMs: 20 });
    assert.ok(cp2.snapshot('default/web/0') !== undefined, 'replica 2 compiled a snapshot for the new proxy');
    assert.equal(cp2.snapshot('default/web/0')?.version, cp1.snapshot('default/web/0')?.version, 'at the same version');
    // host-a stops reporting: after its 1 s lease, etcd deletes it for everyone.
    await waitFor('the endpoint gone from both', () => !cp1.endpoints().some((e) => e.portNumber === 21001) && !cp2.endpoints().some((e) => e.portNumber === 21001), {
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    assert.deepEqual(cp1.workloads(), []);
    assert.deepEqual(cp2.workloads(), []);
  });

  it('applies through both replicas at once all land, each at its own resource version', async () => {
    const results = await Promise.all([
      cp1.applyResources([fault('f1', 500)], false),
      cp2.applyResources([fault('f2', 501)], false),
      cp1.applyResources([fault('f3', 502)], false),
      cp2.applyResources([fault('f4', 503)], false),
    ]);
    const versions = results.map((r) => Number(r.results[0]?.resourceVersion));
    assert.equal(new Set(versions).size, 4, `distinct versions: ${versions.join(',')}`);
    await Promise.all([cp1.store.sync(), cp2.store.sync()]);
    for (const cp of [cp1, cp2]) {
      assert.deepEqual(cp.listResources('FaultInjection').map((r) => r.metadata.name), ['f1', 'f2', 'f3', 'f4']);
      assert.equal(cp.store.resourceVersion(), Math.max(...versions));
    }
  });
});

describe('EtcdStore on a 3-member etcd', () => {
  let etcd: EtcdCluster;
  before(async () => {
    etcd = await startEtcd({ members: 3 });
  });
  after(async () => {
    await etcd?.stop();
  });

  it('keeps reading and writing when the etcd leader is killed, and its watch follows', async () => {
    const prefix = `/three-${randomBytes(3).toString('hex')}/`;
    const writer = await EtcdStore.open({ hosts: etcd.endpoints, prefix });
    const reader = await EtcdStore.open({ hosts: etcd.endpoints, prefix });
    try {
      await writer.putAgent({ report: agentReport('before', []), receivedAt: 1 });
      await etcd.kill(await etcd.leaderIndex());
      await waitFor(
        'a write after the leader died',
        async () => {
          await writer.putAgent({ report: agentReport('after', []), receivedAt: 2 });
          return true;
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      await waitFor('the other store to see it', () => reader.agents().some((a) => a.report.agentId === 'after'), { timeoutMs: 30_000, intervalMs: 50 });
      assert.ok((await writer.nextVersion()) > 0);
    } finally {
      await Promise.all([writer.close(), reader.close()]);
    }
  });
});
