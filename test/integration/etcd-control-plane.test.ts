/**
 * Two ControlPlanes (in this process) over one real etcd: an agent's endpoints, reported to
 * one, are on both and leave both when its etcd lease ends; resource applies through both at
 * once all land, each at its own resource version; a bootstrap token issued by one is spent at
 * the other, once; a change written through one replica reaches proxies streaming from another
 * through the etcd watch, recompiling and pushing only the proxies it affects, at the version
 * etcd's transaction gave it; a proxy that moves to a replica cut off from etcd (so behind it)
 * is not sent older content, and resumes there with nothing sent twice or lost; and a 3-member
 * etcd keeps the store working through the loss of its leader.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ControlMessage } from '../../src/api/push.js';
import type { ProxySnapshot } from '../../src/api/snapshot.js';
import type { ControlPlane } from '../../src/control/control-plane.js';
import type { PassStats } from '../../src/control/compiler/snapshot-cache.js';
import { EtcdStore } from '../../src/control/store/etcd/etcd-store.js';
import { bucketOf } from '../../src/control/store/etcd/snapshot-buckets.js';
import { STATUS, StreamClient, agentReport, enroll, startControlPlane, tempDir, until, workload } from '../../src/control/test-support.js';
import { startEtcd, tcpRelay, type EtcdCluster, type TcpRelay } from '../helpers/etcd.js';
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
    await waitFor('the endpoint and a snapshot for the new proxy on replica 2', () => cp2.endpoints().some((e) => e.portNumber === 21001) && cp2.snapshot('default/web/0') !== undefined, {
      timeoutMs: 5000,
      intervalMs: 20,
    });
    await cp2.snapshots.idle();
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

const CALLER = 'spiffe://test.local/ns/default/sa/caller';
const BYSTANDER = 'spiffe://test.local/ns/default/sa/bystander';

/** caller calls callee (its one replica ready on this port); bystander calls nothing. */
const shop = (calleePort: number) =>
  agentReport('host-shop', [
    workload('caller', { upstreams: ['default/callee:http'], readyPorts: [21100] }),
    workload('callee', { readyPorts: [calleePort] }),
    workload('bystander', { readyPorts: [21300] }),
  ]);

const snapshotOf = (m: ControlMessage | null): ProxySnapshot => {
  assert.equal(m?.type, 'snapshot', JSON.stringify(m));
  return (m as { snapshot: ProxySnapshot }).snapshot;
};

describe('proxies on one replica, changes through another', () => {
  let etcd: EtcdCluster;
  let relay: TcpRelay;
  let t: { dir: string; cleanup: () => Promise<void> };
  let cp1: ControlPlane;
  let cp2: ControlPlane;
  /** Reaches etcd through a relay that can be cut: a replica that falls behind. */
  let cp3: ControlPlane;
  const streams: StreamClient[] = [];
  const timers: NodeJS.Timeout[] = [];

  before(async () => {
    etcd = await startEtcd({ members: 1 });
    relay = await tcpRelay(etcd.members[0]?.clientPort as number);
    t = await tempDir();
    const keyFile = join(t.dir, 'seal.key');
    await writeFile(keyFile, randomBytes(32), { mode: 0o600 });
    const opts = (url: string) => ({ etcd: { url, caSealKeyFile: keyFile }, tracing: null });
    cp1 = await startControlPlane(join(t.dir, 'r1'), opts(etcd.storeUrl('moves')));
    cp2 = await startControlPlane(join(t.dir, 'r2'), opts(etcd.storeUrl('moves')));
    cp3 = await startControlPlane(join(t.dir, 'r3'), opts(`etcd://${relay.address}/moves`));
  });

  after(async () => {
    for (const t of timers) clearInterval(t);
    for (const s of streams) s.close();
    relay?.restore();
    await cp1?.close();
    await cp2?.close();
    await cp3?.close();
    await relay?.close();
    await etcd?.stop();
    await t?.cleanup();
  });

  const stream = (cp: ControlPlane, creds: Awaited<ReturnType<typeof enroll>>, nodeId: string, lastVersion: number | null): StreamClient => {
    const s = new StreamClient(cp, creds);
    streams.push(s);
    s.send({ type: 'hello', nodeId, lastVersion, status: STATUS });
    // Pings as a proxy sends them: a stream silent for three intervals (200 ms here) is dropped.
    const pinger = setInterval(() => s.send({ type: 'ping' }), 100);
    pinger.unref();
    timers.push(pinger);
    return s;
  };
  /** A node's entry as etcd holds it (in its bucket key), and the revision of the write that stored the bucket. */
  const inEtcd = async (nodeId: string): Promise<{ stored: number | undefined; explicit: number | undefined; modRevision: number }> => {
    const store = cp1.store as EtcdStore;
    const res = await store.client.get(store.keys.snapshotBucket(bucketOf(nodeId))).exec();
    const kv = res.kvs[0];
    const entry = kv === undefined ? undefined : (JSON.parse(kv.value.toString('utf8')) as Record<string, { version?: number }>)[nodeId];
    return { stored: store.snapshotVersions().get(nodeId)?.version, explicit: entry?.version, modRevision: Number(kv?.mod_revision ?? -1) };
  };

  let callerCreds: Awaited<ReturnType<typeof enroll>>;
  /** The caller's stream on replica 2 and the version it ACKed there (set by the first test). */
  let callerOn2: StreamClient | undefined;
  let v2 = 0;

  it('a change through replica 1 reaches, through the etcd watch, the proxies on replica 2 it affects, and only those, at the version etcd gave it', async () => {
    await cp1.reportAgent('host-shop', shop(21201));
    callerCreds = await enroll(cp2, 'default/caller/0', CALLER);
    const bystanderCreds = await enroll(cp2, 'default/bystander/0', BYSTANDER);
    await until(() => cp2.snapshot('default/caller/0') !== undefined && cp2.snapshot('default/bystander/0') !== undefined);

    const caller = stream(cp2, callerCreds, 'default/caller/0', null);
    const bystander = stream(cp2, bystanderCreds, 'default/bystander/0', null);
    const c1 = snapshotOf(await caller.next());
    const b1 = snapshotOf(await bystander.next());
    caller.send({ type: 'ack', version: c1.version });
    bystander.send({ type: 'ack', version: b1.version });
    await cp2.snapshots.settled();

    // What replica 2's passes compile and push from now on.
    const passes: { pushed: string[]; stats: PassStats | null }[] = [];
    const push = cp2.snapshots.onCompiled;
    cp2.snapshots.onCompiled = (nodes) => {
      passes.push({ pushed: [...nodes], stats: cp2.snapshots.lastPass });
      push?.(nodes);
    };
    try {
      // Written through replica 1 only: replica 2 hears it from etcd's watch.
      await cp1.reportAgent('host-shop', shop(21202));
      const c2 = snapshotOf(await caller.next());
      assert.deepEqual(c2.clusters[0]?.endpoints.map((e) => e.port), [21202]);
      assert.ok(c2.version > c1.version);
      await cp2.snapshots.settled();
      assert.deepEqual(passes.flatMap((p) => p.pushed), ['default/caller/0'], 'replica 2 pushed the caller alone');
      assert.equal(passes.reduce((n, p) => n + (p.stats?.nodesCompiled ?? 0), 0), 1, `replica 2 compiled the caller alone: ${JSON.stringify(passes)}`);
      assert.deepEqual(bystander.pending(), [], 'nothing was sent to the bystander');
      assert.equal(cp2.snapshot('default/bystander/0')?.version, b1.version);
      // The version is etcd's: the revision of the transaction that stored the caller's entry
      // (no version written in it: it is the write's), the same on both replicas.
      assert.deepEqual(await inEtcd('default/caller/0'), { stored: c2.version, explicit: undefined, modRevision: c2.version });
      assert.equal(cp1.snapshot('default/caller/0')?.version, c2.version);
      caller.send({ type: 'ack', version: c2.version });
      await until(() => cp2.tracker.get('default/caller/0')?.ackedVersion === c2.version);
      v2 = c2.version;
      callerOn2 = caller;
    } finally {
      cp2.snapshots.onCompiled = push;
    }
  });

  it('a proxy that moves to a replica behind it (cut off from etcd) is not sent older content, and resumes there with nothing sent twice or lost', async () => {
    assert.ok(v2 > 0 && callerOn2 !== undefined, 'runs after the test above');
    await until(() => cp3.snapshot('default/caller/0')?.version === v2 && cp3.store.nodeIdentities().get('default/caller/0') === CALLER);
    relay.cut();
    let v3: number;
    let moved: StreamClient;
    try {
      // A change replica 3 does not hear; the proxy gets it from replica 2, then moves to replica 3.
      await cp1.reportAgent('host-shop', shop(21203));
      v3 = snapshotOf(await callerOn2.next()).version;
      assert.ok(v3 > v2);
      callerOn2.close();
      assert.equal(cp3.snapshot('default/caller/0')?.version, v2, 'replica 3 is behind');
      moved = stream(cp3, callerCreds, 'default/caller/0', v3);
      assert.equal(await moved.status, 200);
      // Replica 3 tries to catch up before answering; a sync started after that one fails
      // (etcd is out of its reach), so by then the stream's catching up has failed too.
      await until(() => cp3.tracker.get('default/caller/0')?.connected === true);
      await assert.rejects(cp3.store.sync());
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(moved.pending(), [], 'nothing older sent while replica 3 is behind');
    } finally {
      relay.restore();
    }
    await until(() => cp3.snapshot('default/caller/0')?.version === v3);
    await cp3.snapshots.settled();
    assert.deepEqual(moved.pending(), [], 'the version the proxy has is not sent again once replica 3 has it');
    // Nothing lost: the next change, through replica 1, arrives on replica 3, once, first.
    await cp1.reportAgent('host-shop', shop(21201));
    const s4 = snapshotOf(await moved.next());
    assert.ok(s4.version > v3);
    assert.deepEqual(s4.clusters[0]?.endpoints.map((e) => e.port), [21201]);
    await cp3.snapshots.settled();
    assert.deepEqual(moved.pending(), [], 'sent once');
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
