/**
 * The Store contract as tests, run against every implementation: FileStore in
 * file-store.test.ts, EtcdStore (over a real etcd) in test/integration/etcd-store.test.ts.
 * `fixture()` opens a new, empty store; `reopen(s)` closes it and opens the same state again.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { Resource } from '../../api/resources.js';
import { agentReport, workload } from '../test-support.js';
import { resourceKey, StoreConflictError, type Store, type StoreChange } from './store.js';

export interface StoreFixture {
  store: Store;
  /** Closes `store` and opens the same state again. */
  reopen(): Promise<Store>;
  cleanup(): Promise<void>;
}

const fault = (name: string, ms: number): Resource => ({
  apiVersion: 'trellis.dev/v1alpha1',
  kind: 'FaultInjection',
  metadata: { name, namespace: 'default', resourceVersion: '1', generation: 1 },
  spec: { delay: { fixedDelay: `${ms}ms`, percentage: 100 } },
});

const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex');

/** Waits (bounded) until `pred` holds for the changes seen so far. */
async function until(changes: StoreChange[], pred: (c: StoreChange[]) => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !pred(changes); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(pred(changes), `expected ${what}; got ${JSON.stringify(changes)}`);
}

export function storeConformance(name: string, fixture: () => Promise<StoreFixture>): void {
  const withStore = async (fn: (f: StoreFixture) => Promise<void>): Promise<void> => {
    const f = await fixture();
    try {
      await fn(f);
    } finally {
      await f.cleanup();
    }
  };

  test(`${name}: agents are stored, listed and deleted, each change announced; they survive a reopen`, () =>
    withStore(async (f) => {
      const changes: StoreChange[] = [];
      f.store.onChange((c) => changes.push(c));
      await f.store.putAgent({ report: agentReport('a1', [workload('web')]), receivedAt: 5 });
      await f.store.putAgent({ report: agentReport('a2', []), receivedAt: 6 });
      assert.deepEqual(f.store.agents().map((a) => a.report.agentId).sort(), ['a1', 'a2']);
      assert.equal(await f.store.deleteAgent('a2'), true);
      assert.equal(await f.store.deleteAgent('nope'), false);
      assert.deepEqual(
        changes.filter((c) => c.kind === 'agent').map((c) => (c.kind === 'agent' ? `${c.agentId}:${c.agent === null ? 'gone' : 'put'}` : '')),
        ['a1:put', 'a2:put', 'a2:gone'],
      );
      const again = await f.reopen();
      assert.deepEqual(again.agents().map((a) => a.report.agentId), ['a1']);
      assert.equal(again.agents()[0]?.report.workloads[0]?.name, 'web');
    }));

  test(`${name}: versions strictly increase, also for concurrent callers and across a reopen`, () =>
    withStore(async (f) => {
      const seen = [await f.store.nextVersion(), await f.store.nextVersion()];
      seen.push(...(await Promise.all([f.store.nextVersion(), f.store.nextVersion(), f.store.nextVersion()])));
      assert.equal(new Set(seen).size, seen.length, `distinct: ${seen.join(',')}`);
      assert.ok((seen[1] as number) > (seen[0] as number));
      assert.ok(Math.min(...seen.slice(2)) > (seen[1] as number));
      assert.ok(f.store.version() >= Math.max(...seen));
      const again = await f.reopen();
      assert.ok(again.version() >= Math.max(...seen));
      assert.ok((await again.nextVersion()) > Math.max(...seen));
    }));

  test(`${name}: snapshot versions: the same content keeps its version, new content gets a newer one`, () =>
    withStore(async (f) => {
      const s = f.store;
      const first = await s.claimSnapshotVersions(new Map([['ns/a/0', 'h1'], ['ns/b/0', 'h2']]), s.revision());
      assert.equal(first.get('ns/a/0')?.version, first.get('ns/b/0')?.version, 'one version for one claim');
      const v1 = first.get('ns/a/0')?.version as number;
      assert.ok(v1 > 0);
      const second = await s.claimSnapshotVersions(new Map([['ns/a/0', 'h1'], ['ns/b/0', 'h3']]), s.revision());
      assert.equal(second.get('ns/a/0')?.version, v1, 'unchanged content keeps its version');
      assert.ok((second.get('ns/b/0')?.version as number) > v1, 'changed content gets a newer version');
      assert.deepEqual(s.snapshotVersions().get('ns/b/0'), second.get('ns/b/0'));
      await s.forgetSnapshotVersions(['ns/a/0']);
      assert.equal(s.snapshotVersions().has('ns/a/0'), false);
      const again = await f.reopen();
      assert.deepEqual(again.snapshotVersions().get('ns/b/0'), second.get('ns/b/0'));
      assert.ok(again.version() >= (second.get('ns/b/0')?.version as number));
    }));

  test(`${name}: a claim of more nodes than one etcd transaction takes gives them one version; a stale proposal is left out`, () =>
    withStore(async (f) => {
      const s = f.store;
      const many = new Map(Array.from({ length: 300 }, (_, i) => [`ns/w/${i}`, `h${i}`] as const));
      const basis = s.revision();
      const claimed = await s.claimSnapshotVersions(many, basis);
      assert.equal(claimed.size, 300);
      assert.equal(new Set([...claimed.values()].map((v) => v.version)).size, 1, 'one version for one claim (one encoding per content)');
      for (const [id, v] of claimed) assert.deepEqual(s.snapshotVersions().get(id), v);
      assert.equal(s.snapshotVersions().get('ns/w/7')?.basis, basis, 'the basis is kept with the entry');
      // Content compiled from newer state is stored; one from older state than it is left out.
      const newer = await s.claimSnapshotVersions(new Map([['ns/w/0', 'new']]), basis + 10);
      assert.ok((newer.get('ns/w/0')?.version as number) > (claimed.get('ns/w/0')?.version as number));
      const stale = await s.claimSnapshotVersions(new Map([['ns/w/0', 'stale'], ['ns/w/1', 'h1']]), basis + 5);
      assert.equal(stale.has('ns/w/0'), false, 'left out');
      assert.deepEqual(stale.get('ns/w/1'), claimed.get('ns/w/1'), 'the same content keeps its version whatever the basis');
      assert.equal(s.snapshotVersions().get('ns/w/0')?.hash, 'new');
    }));

  test(`${name}: revision() moves with agent and resource changes, not with snapshot-version writes`, () =>
    withStore(async (f) => {
      const s = f.store;
      const r0 = s.revision();
      await s.putAgent({ report: agentReport('a1', [workload('web')]), receivedAt: 1 });
      await s.sync();
      const r1 = s.revision();
      assert.ok(r1 > r0, `an agent change moves it (${r0} -> ${r1})`);
      await s.claimSnapshotVersions(new Map([['default/web/0', 'h']]), r1);
      await s.forgetSnapshotVersions(['default/web/0']);
      await s.putNodeIdentity('default/web/0', 'spiffe://td/ns/default/sa/web');
      await s.sync();
      assert.equal(s.revision(), r1, 'claims, forgets and identities do not');
      await s.commitResources({ version: s.resourceVersion() + 1, put: [fault('r', 1)], remove: [] });
      await s.sync();
      const r2 = s.revision();
      assert.ok(r2 > r1, 'a resource batch does');
      await s.claimSnapshotVersions(new Map([['default/web/1', 'h']]), r2);
      // After a restart, compiles are not older than the ones before it: their claims are not left out.
      const again = await f.reopen();
      assert.ok(again.revision() >= r2, `revision after a reopen ${again.revision()} >= ${r2}`);
      const after = await again.claimSnapshotVersions(new Map([['default/web/1', 'h2']]), again.revision());
      assert.equal(after.get('default/web/1')?.hash, 'h2');
    }));

  test(`${name}: node identities persist`, () =>
    withStore(async (f) => {
      await f.store.putNodeIdentity('default/web/0', 'spiffe://td/ns/default/sa/web');
      assert.equal(f.store.nodeIdentities().get('default/web/0'), 'spiffe://td/ns/default/sa/web');
      const again = await f.reopen();
      assert.equal(again.nodeIdentities().get('default/web/0'), 'spiffe://td/ns/default/sa/web');
    }));

  test(`${name}: resource batches are all or nothing, versioned, announced once, and refused when computed from an old version`, () =>
    withStore(async (f) => {
      const s = f.store;
      const changes: StoreChange[] = [];
      s.onChange((c) => changes.push(c));
      assert.equal(s.resourceVersion(), 0);
      await s.commitResources({ version: 1, put: [fault('a', 1), fault('b', 2)], remove: [] });
      await s.commitResources({ version: 2, put: [fault('a', 5)], remove: [resourceKey('FaultInjection', 'default', 'b')] });
      assert.equal(s.resourceVersion(), 2);
      assert.deepEqual([...s.resources().keys()], ['FaultInjection/default/a']);
      await until(changes, (c) => c.filter((x) => x.kind === 'resources').length >= 2, 'two resource changes');
      assert.deepEqual(changes.filter((c) => c.kind === 'resources'), [{ kind: 'resources', version: 1 }, { kind: 'resources', version: 2 }]);
      // Version 2 again: another writer already took it.
      await assert.rejects(s.commitResources({ version: 2, put: [fault('c', 1)], remove: [] }), StoreConflictError);
      assert.equal(s.resources().has('FaultInjection/default/c'), false, 'nothing of a refused batch is stored');
      assert.equal(s.resourceVersion(), 2);
      const again = await f.reopen();
      assert.equal(again.resourceVersion(), 2);
      assert.deepEqual(again.resources().get('FaultInjection/default/a')?.spec, { delay: { fixedDelay: '5ms', percentage: 100 } });
      assert.ok(again.version() >= 0, 'the snapshot counter is separate');
    }));

  test(`${name}: a bootstrap token is taken once; expired ones are swept; tokens survive a reopen`, () =>
    withStore(async (f) => {
      const s = f.store;
      await s.putBootstrapToken(hashOf('t1'), { nodeId: 'n/w/0', identity: 'spiffe://td/ns/n/sa/w', expiresAt: 1000 });
      await s.putBootstrapToken(hashOf('t2'), { nodeId: 'n/w/1', identity: 'spiffe://td/ns/n/sa/w', expiresAt: 10 });
      const taken = await Promise.all([s.takeBootstrapToken(hashOf('t1')), s.takeBootstrapToken(hashOf('t1'))]);
      assert.equal(taken.filter((g) => g !== undefined).length, 1, 'two takers: one gets the grant');
      assert.deepEqual(taken.find((g) => g !== undefined), { nodeId: 'n/w/0', identity: 'spiffe://td/ns/n/sa/w', expiresAt: 1000 });
      await s.putBootstrapToken(hashOf('t3'), { nodeId: 'n/w/2', identity: 'spiffe://td/ns/n/sa/w', expiresAt: 5000 });
      assert.equal(await s.sweepBootstrapTokens(100), 1, 't2 expired');
      assert.equal(await s.takeBootstrapToken(hashOf('t2')), undefined);
      const again = await f.reopen();
      assert.equal((await again.takeBootstrapToken(hashOf('t3')))?.nodeId, 'n/w/2');
    }));

  test(`${name}: a replica announces itself; sync() resolves`, () =>
    withStore(async (f) => {
      await f.store.announceReplica({ id: 'r1', apiUrl: 'http://127.0.0.1:1', pushUrl: 'https://127.0.0.1:2', startedAt: 1 });
      assert.deepEqual(f.store.replicas().map((r) => r.id), ['r1']);
      await f.store.sync();
    }));

  test(`${name}: credentials: API tokens, join tokens and host policies persist (hashes only); a join token is spent once, never when expired`, () =>
    withStore(async (f) => {
      const s = f.store;
      const now = Date.now();
      await s.putApiToken({ id: 'aaaaaaaaaaaaaaaa', hash: 'h1', role: 'read', name: 'grafana', createdAt: 1, expiresAt: null });
      await s.putApiToken({ id: 'dddddddddddddddd', hash: 'h4', role: 'admin', name: 'ci', createdAt: 1, expiresAt: now + 3600_000 });
      await s.putJoinToken({ id: 'bbbbbbbbbbbbbbbb', hash: 'h2', host: 'h1', serviceAccounts: ['default/web'], createdAt: 1, expiresAt: now + 3600_000, usedAt: null });
      await s.putJoinToken({ id: 'cccccccccccccccc', hash: 'h3', host: 'h2', serviceAccounts: ['default/web'], createdAt: 1, expiresAt: now - 1, usedAt: null });
      assert.deepEqual(await s.spendJoinToken('nope', now), { ok: false, reason: 'unknown' });
      assert.deepEqual(await s.spendJoinToken('cccccccccccccccc', now), { ok: false, reason: 'expired' });
      // Two spends at once: exactly one gets the token.
      const both = await Promise.all([s.spendJoinToken('bbbbbbbbbbbbbbbb', now), s.spendJoinToken('bbbbbbbbbbbbbbbb', now + 1)]);
      assert.equal(both.filter((r) => r.ok).length, 1, JSON.stringify(both));
      assert.deepEqual(both.find((r) => !r.ok), { ok: false, reason: 'used' });
      assert.ok((s.joinTokens().get('bbbbbbbbbbbbbbbb')?.usedAt ?? null) !== null, 'the view shows it spent');
      await s.putHostPolicy({ host: 'h1', serviceAccounts: ['default/web'], tokenId: 'bbbbbbbbbbbbbbbb', joinedAt: now });
      assert.equal(await s.deleteApiToken('zzzz'), false);
      assert.equal(s.apiTokens().get('dddddddddddddddd')?.role, 'admin');

      const again = await f.reopen();
      assert.equal(again.apiTokens().get('aaaaaaaaaaaaaaaa')?.name, 'grafana');
      assert.equal(again.apiTokens().get('aaaaaaaaaaaaaaaa')?.hash, 'h1');
      assert.deepEqual(await again.spendJoinToken('bbbbbbbbbbbbbbbb', now + 2), { ok: false, reason: 'used' }, 'spent stays spent across a reopen');
      assert.deepEqual(again.hostPolicies().get('h1')?.serviceAccounts, ['default/web']);
      assert.equal(await again.deleteHostPolicy('h1'), true);
      assert.equal(await again.deleteJoinToken('cccccccccccccccc'), true);
      assert.equal(await again.deleteApiToken('aaaaaaaaaaaaaaaa'), true);
      assert.deepEqual([again.apiTokens().size, again.joinTokens().size, again.hostPolicies().size], [1, 1, 0]);
    }));
}
