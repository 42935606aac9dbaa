/**
 * EtcdStore over a real etcd (one member, shared by every test here; each test has its own
 * key prefix): the Store contract, then what only several replicas over one etcd can show:
 * versions that stay increasing when two stores hand them out at once, resource batches that
 * race, agent leases that etcd ends, and a watch that falls behind compaction and resyncs.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Resource } from '../../src/api/resources.js';
import { EXPIRED_TOKEN_RETENTION_MS } from '../../src/control/store/etcd/etcd-credentials.js';
import { EtcdStore } from '../../src/control/store/etcd/etcd-store.js';
import { storeConformance } from '../../src/control/store/store-conformance.js';
import { StoreConflictError, type Store, type StoreChange } from '../../src/control/store/store.js';
import { agentReport, workload } from '../../src/control/test-support.js';
import { startEtcd, tcpRelay, type EtcdCluster } from '../helpers/etcd.js';
import { sleep, waitFor } from '../helpers/proc.js';

let etcd: EtcdCluster;

before(async () => {
  etcd = await startEtcd({ members: 1 });
});

after(async () => {
  await etcd?.stop();
});

const newPrefix = (): string => `/t-${randomBytes(4).toString('hex')}/`;
const open = (prefix: string, hosts = etcd.endpoints): Promise<EtcdStore> => EtcdStore.open({ hosts, prefix, electionTtlSeconds: 2, replicaTtlSeconds: 2 });

storeConformance('EtcdStore', async () => {
  const prefix = newPrefix();
  let store: Store = await open(prefix);
  return {
    get store() {
      return store;
    },
    async reopen() {
      await store.close();
      store = await open(prefix);
      return store;
    },
    async cleanup() {
      await store.close();
    },
  };
});

const route = (name: string, n: number): Resource => ({
  apiVersion: 'trellis.dev/v1alpha1',
  kind: 'FaultInjection',
  metadata: { name, namespace: 'default', resourceVersion: '1', generation: 1 },
  spec: { delay: { fixedDelay: `${n}ms`, percentage: 100 } },
});

describe('two EtcdStores over one prefix (two replicas)', () => {
  let a: EtcdStore;
  let b: EtcdStore;
  before(async () => {
    const prefix = newPrefix();
    [a, b] = await Promise.all([open(prefix), open(prefix)]);
  });
  after(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  test('versions handed out by both at once are distinct, and each replica sees them increase', async () => {
    const fromA: number[] = [];
    const fromB: number[] = [];
    await Promise.all([
      (async () => {
        for (let i = 0; i < 20; i++) fromA.push(await a.nextVersion());
      })(),
      (async () => {
        for (let i = 0; i < 20; i++) fromB.push(await b.nextVersion());
      })(),
    ]);
    assert.equal(new Set([...fromA, ...fromB]).size, 40, 'no version handed out twice');
    for (const seq of [fromA, fromB]) for (let i = 1; i < seq.length; i++) assert.ok((seq[i] as number) > (seq[i - 1] as number), `increasing: ${seq.join(',')}`);
  });

  test('both replicas claiming the same content for a node agree on one version; stale compiles are left out', async () => {
    const basis = Math.max(a.revision(), b.revision());
    const [ca, cb] = await Promise.all([a.claimSnapshotVersions(new Map([['ns/x/0', 'H']]), basis), b.claimSnapshotVersions(new Map([['ns/x/0', 'H']]), basis)]);
    assert.equal(ca.get('ns/x/0')?.version, cb.get('ns/x/0')?.version, 'one version for the same content');
    // b compiles newer content from newer state; a, still on the old basis, proposes other content.
    const newer = await b.claimSnapshotVersions(new Map([['ns/x/0', 'H2']]), b.revision() + 1);
    await a.sync();
    const stale = await a.claimSnapshotVersions(new Map([['ns/x/0', 'H-stale']]), basis);
    assert.equal(stale.has('ns/x/0'), false, 'a stale compile does not overwrite a newer one');
    assert.deepEqual(a.snapshotVersions().get('ns/x/0'), newer.get('ns/x/0'));
  });

  test('two replicas committing a resource batch from the same version: one lands whole, the other is refused', async () => {
    await a.sync();
    const v = a.resourceVersion() + 1;
    const results = await Promise.allSettled([
      a.commitResources({ version: v, put: [route('r1', 1), route('r2', 1)], remove: [] }),
      b.commitResources({ version: v, put: [route('r1', 2), route('r3', 2)], remove: [] }),
    ]);
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r) => r.status === 'rejected');
    assert.equal(ok.length, 1, JSON.stringify(results));
    assert.ok(refused[0]?.status === 'rejected' && refused[0].reason instanceof StoreConflictError);
    await Promise.all([a.sync(), b.sync()]);
    const names = (s: Store): string[] => [...s.resources().keys()].sort();
    assert.deepEqual(names(a), names(b));
    const winner = names(a).includes('FaultInjection/default/r2') ? 1 : 2;
    assert.deepEqual(names(a), winner === 1 ? ['FaultInjection/default/r1', 'FaultInjection/default/r2'] : ['FaultInjection/default/r1', 'FaultInjection/default/r3']);
    assert.equal(a.resources().get('FaultInjection/default/r1')?.spec.delay !== undefined, true);
    assert.equal(a.resourceVersion(), v);
    assert.equal(b.resourceVersion(), v);
  });

  test("an agent that stops reporting is deleted by its etcd lease, and every replica hears it", async () => {
    const heardA: StoreChange[] = [];
    const heardB: StoreChange[] = [];
    const offA = a.onChange((c) => heardA.push(c));
    const offB = b.onChange((c) => heardB.push(c));
    try {
      const report = agentReport('lease-agent', [workload('web')], 1000);
      await a.putAgent({ report, receivedAt: 1 });
      await waitFor('replica b to see the agent', () => b.agents().some((x) => x.report.agentId === 'lease-agent'), { timeoutMs: 5000, intervalMs: 20 });
      // The same report again (through the other replica) only renews the lease: no change event.
      const before = heardB.length;
      await b.putAgent({ report, receivedAt: 2 });
      assert.equal(heardB.filter((c) => c.kind === 'agent').length, heardB.slice(0, before).filter((c) => c.kind === 'agent').length);
      // A changed report (same lease time) is stored on the same lease, which still ends it.
      const leaseOf = async (): Promise<string> => String((await a.client.get(a.keys.agent('lease-agent')).exec()).kvs[0]?.lease ?? 'none');
      const lease = await leaseOf();
      const changed = agentReport('lease-agent', [workload('web', { readyPorts: [20001, 20002] })], 1000);
      await b.putAgent({ report: changed, receivedAt: 3 });
      await waitFor('replica a to see the change', () => a.agents().some((x) => x.report.workloads[0]?.replicas.length === 2), { timeoutMs: 5000, intervalMs: 20 });
      assert.equal(await leaseOf(), lease, 'the changed report stayed on its lease');
      // No more reports: etcd ends the lease (1 s TTL) and deletes the report.
      const gone = (h: StoreChange[]): boolean => h.some((c) => c.kind === 'agent' && c.agentId === 'lease-agent' && c.agent === null);
      await waitFor('both replicas to hear the agent leave', () => gone(heardA) && gone(heardB), { timeoutMs: 15_000, intervalMs: 100 });
      assert.equal(a.agents().some((x) => x.report.agentId === 'lease-agent'), false);
      assert.equal(b.agents().some((x) => x.report.agentId === 'lease-agent'), false);
    } finally {
      offA();
      offB();
    }
  });

  test('credentials written through one replica work on the other: tokens, host policies, and a join token spent once across both', async () => {
    const now = Date.now();
    await a.putApiToken({ id: 'a1a1a1a1a1a1a1a1', hash: 'ha', role: 'admin', name: 'ops', createdAt: now, expiresAt: null });
    await a.putJoinToken({ id: 'j1j1j1j1j1j1j1j1', hash: 'hj', host: 'h2', serviceAccounts: ['shop/catalog'], createdAt: now, expiresAt: now + 60_000, usedAt: null });
    await waitFor('replica b to see the tokens', () => b.apiTokens().has('a1a1a1a1a1a1a1a1') && b.joinTokens().has('j1j1j1j1j1j1j1j1'), { timeoutMs: 5000, intervalMs: 20 });
    assert.equal(b.apiTokens().get('a1a1a1a1a1a1a1a1')?.hash, 'ha', 'the hash, never a secret');
    // Both replicas spend the same token at once: etcd lets exactly one transaction through.
    const [ra, rb] = await Promise.all([a.spendJoinToken('j1j1j1j1j1j1j1j1', now), b.spendJoinToken('j1j1j1j1j1j1j1j1', now)]);
    assert.equal([ra, rb].filter((r) => r.ok).length, 1, JSON.stringify([ra, rb]));
    assert.deepEqual([ra, rb].find((r) => !r.ok), { ok: false, reason: 'used' });
    // A token made a moment ago on a, spent on b before b's view has it: b reads etcd, not its view.
    await a.putJoinToken({ id: 'j2j2j2j2j2j2j2j2', hash: 'hj2', host: 'h3', serviceAccounts: [], createdAt: now, expiresAt: now + 60_000, usedAt: null });
    assert.equal((await b.spendJoinToken('j2j2j2j2j2j2j2j2', now)).ok, true);
    await b.putHostPolicy({ host: 'h2', serviceAccounts: ['shop/catalog'], tokenId: 'j1j1j1j1j1j1j1j1', joinedAt: now });
    await waitFor('replica a to see the host policy', () => a.hostPolicies().get('h2')?.tokenId === 'j1j1j1j1j1j1j1j1', { timeoutMs: 5000, intervalMs: 20 });
    assert.equal(await b.deleteApiToken('a1a1a1a1a1a1a1a1'), true);
    await waitFor('replica a to see the API token deleted', () => !a.apiTokens().has('a1a1a1a1a1a1a1a1'), { timeoutMs: 5000, intervalMs: 20 });
  });

  test('a token that expires sits on an etcd lease that outlives its expiry by the retention time', async () => {
    const now = Date.now();
    await a.putJoinToken({ id: 'j3j3j3j3j3j3j3j3', hash: 'h', host: 'h9', serviceAccounts: [], createdAt: now, expiresAt: now + 60_000, usedAt: null });
    const kv = a.cache.get(a.keys.joinToken('j3j3j3j3j3j3j3j3'));
    assert.ok(kv !== undefined && kv.lease !== '0', 'on a lease');
    const ttl = await a.client.leaseClient.leaseTimeToLive({ ID: kv.lease, keys: false });
    const expected = (60_000 + EXPIRED_TOKEN_RETENTION_MS) / 1000;
    assert.ok(Number(ttl.TTL) > expected - 30 && Number(ttl.TTL) <= expected + 1, `lease TTL ${ttl.TTL}s, expected about ${expected}s`);
    // Spending keeps the lease (the spent token is collected on the same schedule).
    assert.equal((await a.spendJoinToken('j3j3j3j3j3j3j3j3', now)).ok, true);
    assert.equal(a.cache.get(a.keys.joinToken('j3j3j3j3j3j3j3j3'))?.lease, kv.lease);
  });

  test('one of the two is the leader', async () => {
    await a.announceReplica({ id: 'ra', apiUrl: 'http://127.0.0.1:1', pushUrl: 'https://127.0.0.1:2', startedAt: 1 });
    await b.announceReplica({ id: 'rb', apiUrl: 'http://127.0.0.1:3', pushUrl: 'https://127.0.0.1:4', startedAt: 2 });
    await waitFor('a leader', () => a.isLeader() || b.isLeader(), { timeoutMs: 10_000, intervalMs: 50 });
    assert.notEqual(a.isLeader(), b.isLeader());
    await waitFor('both replicas listed on both', () => a.replicas().length === 2 && b.replicas().length === 2, { timeoutMs: 5000, intervalMs: 50 });
    assert.deepEqual(a.replicas().map((r) => r.id), ['ra', 'rb']);
  });
});

test('a watch cut off while etcd compacts resyncs: the replica reloads, says so, and sees what changed meanwhile', async () => {
  const prefix = newPrefix();
  const relay = await tcpRelay(etcd.members[0]!.clientPort);
  const writer = await open(prefix);
  const cutOff = await open(prefix, [`http://${relay.address}`]);
  try {
    await writer.putAgent({ report: agentReport('before', []), receivedAt: 1 });
    await waitFor('the cut-off replica to see the first agent', () => cutOff.agents().length === 1, { timeoutMs: 5000, intervalMs: 20 });
    const heard: StoreChange[] = [];
    cutOff.onChange((c) => heard.push(c));

    relay.cut();
    await writer.deleteAgent('before');
    await writer.putAgent({ report: agentReport('during', [workload('api')]), receivedAt: 2 });
    await writer.commitResources({ version: writer.resourceVersion() + 1, put: [route('while-away', 3)], remove: [] });
    // Compact everything up to now: the revisions the cut-off watch still needs are gone.
    const rev = (await writer.client.get(`${prefix}x`).exec()).header.revision;
    await writer.client.kv.compact({ revision: rev, physical: true });
    relay.restore();

    await waitFor('the cut-off replica to resync', () => heard.some((c) => c.kind === 'resync'), { timeoutMs: 20_000, intervalMs: 50 });
    assert.equal(cutOff.cache.resyncs, 1);
    assert.deepEqual(cutOff.agents().map((x) => x.report.agentId), ['during']);
    assert.equal(cutOff.resources().has('FaultInjection/default/while-away'), true);
    // And it keeps following changes after the resync.
    await writer.putAgent({ report: agentReport('after', []), receivedAt: 3 });
    await waitFor('a change after the resync', () => cutOff.agents().some((x) => x.report.agentId === 'after'), { timeoutMs: 5000, intervalMs: 20 });
  } finally {
    await Promise.all([writer.close(), cutOff.close()]);
    await relay.close();
  }
});

test('an agent\'s lease and the replica\'s presence are renewed while an etcd member is silent (cut off, no reset): renewals ask another member, and neither lapses', async () => {
  const prefix = newPrefix();
  const relay = await tcpRelay(etcd.members[0]!.clientPort);
  // The silent member is listed first: every renewal would try it first if nothing learnt.
  // Presence on a 4 s lease, renewed every 4/3 s: a renewal that waited on the silent member
  // for its 1.5 s turn still lands within the lease.
  const store = await EtcdStore.open({ hosts: [`http://${relay.address}`, ...etcd.endpoints], prefix, replicaTtlSeconds: 4 });
  const observer = await open(prefix);
  const lapsed: string[] = [];
  observer.onChange((c) => {
    if (c.kind === 'agent' && c.agent === null) lapsed.push(c.agentId);
  });
  let replicaMissing = 0;
  const watchReplicas = setInterval(() => {
    if (!observer.replicas().some((r) => r.id === 'r-silent')) replicaMissing++;
  }, 50);
  try {
    await store.announceReplica({ id: 'r-silent', apiUrl: 'http://127.0.0.1:1', pushUrl: 'https://127.0.0.1:2', startedAt: 1 });
    // A 3 s lease, renewed every second as an agent does (every 5 s on a 15 s lease).
    const report = agentReport('renewed', [workload('api')], 3000);
    await store.putAgent({ report, receivedAt: 1 });
    await waitFor('the observer to see the agent and the replica', () => observer.agents().length === 1 && observer.replicas().length === 1, { timeoutMs: 5000, intervalMs: 20 });
    replicaMissing = 0;
    relay.stall();
    // Six renewals over twice the agent's lease. Each must succeed: one that failed, or one that
    // waited on the silent member past the lease, would let etcd end the lease of a live agent.
    for (let i = 0; i < 6; i++) {
      await store.putAgent({ report, receivedAt: 2 + i });
      await sleep(1000);
    }
    assert.deepEqual(lapsed, [], 'the agent\'s key was never deleted');
    assert.deepEqual(observer.agents().map((a) => a.report.agentId), ['renewed']);
    assert.equal(replicaMissing, 0, 'the replica stayed listed throughout');
  } finally {
    clearInterval(watchReplicas);
    // Refused rather than silent: closing does not wait out a deadline on the relay.
    relay.cut();
    await Promise.all([store.close(), observer.close()]);
    await relay.close();
  }
});
