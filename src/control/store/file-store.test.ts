import assert from 'node:assert/strict';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { agentReport, tempDir, workload } from '../test-support.js';
import { FileStore } from './file-store.js';
import { storeConformance } from './store-conformance.js';
import type { Store } from './store.js';

test('agents, snapshot versions and node identities persist across a reopen; files are 0600', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const s = await FileStore.open(join(dir, 'store'));
    assert.equal(s.version(), 0);
    await s.putAgent({ report: agentReport('a1', [workload('web')]), receivedAt: 5 });
    await s.putAgent({ report: agentReport('a2', []), receivedAt: 6 });
    assert.equal(await s.deleteAgent('a2'), true);
    assert.equal(await s.deleteAgent('nope'), false);
    await s.putSnapshotVersions(new Map([['default/web/0', { version: 3, hash: 'h' }]]));
    await s.putNodeIdentity('default/web/0', 'spiffe://td/ns/default/sa/web');
    await s.close();

    for (const f of await readdir(join(dir, 'store'))) {
      assert.equal((await stat(join(dir, 'store', f))).mode & 0o777, 0o600, f);
    }
    assert.equal((await stat(join(dir, 'store'))).mode & 0o777, 0o700);
    assert.deepEqual((await readdir(join(dir, 'store'))).filter((f) => f.endsWith('.tmp')), []);

    const again = await FileStore.open(join(dir, 'store'));
    assert.deepEqual(again.agents().map((a) => a.report.agentId), ['a1']);
    assert.equal(again.agents()[0]?.report.workloads[0]?.name, 'web');
    assert.deepEqual(again.snapshotVersions().get('default/web/0'), { version: 3, hash: 'h' });
    assert.equal(again.nodeIdentities().get('default/web/0'), 'spiffe://td/ns/default/sa/web');
    await again.close();
  } finally {
    await cleanup();
  }
});

test('the version counter is strictly increasing across reopens', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const s = await FileStore.open(dir);
    const seen = [await s.nextVersion(), await s.nextVersion(), await s.nextVersion()];
    await s.close();
    const t = await FileStore.open(dir);
    assert.equal(t.version(), 3);
    seen.push(await t.nextVersion());
    // Concurrent callers still get distinct, increasing values.
    seen.push(...(await Promise.all([t.nextVersion(), t.nextVersion()])));
    await t.close();
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
    const u = await FileStore.open(dir);
    assert.equal(u.version(), 6);
    await u.close();
  } finally {
    await cleanup();
  }
});

test('a corrupt store file is reported, not ignored', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await writeFile(join(dir, 'agents.json'), '{nope', { mode: 0o600 });
    await assert.rejects(FileStore.open(dir), /corrupt store file/);
  } finally {
    await cleanup();
  }
});

storeConformance('FileStore', async () => {
  const t = await tempDir();
  let store: Store = await FileStore.open(join(t.dir, 'store'));
  return {
    get store() {
      return store;
    },
    async reopen() {
      await store.close();
      store = await FileStore.open(join(t.dir, 'store'));
      return store;
    },
    async cleanup() {
      await store.close();
      await t.cleanup();
    },
  };
});

test('credentials: API tokens, join tokens and host policies persist (hashes only, 0600); a join token is spent once', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const s = await FileStore.open(join(dir, 'store'));
    await s.putApiToken({ id: 'aaaaaaaaaaaaaaaa', hash: 'h1', role: 'read', name: 'grafana', createdAt: 1, expiresAt: null });
    await s.putJoinToken({ id: 'bbbbbbbbbbbbbbbb', hash: 'h2', host: 'h1', serviceAccounts: ['default/web'], createdAt: 1, expiresAt: 100, usedAt: null });
    await s.putJoinToken({ id: 'cccccccccccccccc', hash: 'h3', host: 'h2', serviceAccounts: ['default/web'], createdAt: 1, expiresAt: 10, usedAt: null });
    assert.deepEqual(await s.spendJoinToken('nope', 5), { ok: false, reason: 'unknown' });
    assert.deepEqual(await s.spendJoinToken('cccccccccccccccc', 10), { ok: false, reason: 'expired' });
    const spent = await s.spendJoinToken('bbbbbbbbbbbbbbbb', 50);
    assert.ok(spent.ok && spent.token.usedAt === 50);
    // Two spends racing in one process: the second sees the first.
    const [a, b] = await Promise.all([s.spendJoinToken('bbbbbbbbbbbbbbbb', 51), s.spendJoinToken('bbbbbbbbbbbbbbbb', 52)]);
    assert.deepEqual([a, b], [{ ok: false, reason: 'used' }, { ok: false, reason: 'used' }]);
    await s.putHostPolicy({ host: 'h1', serviceAccounts: ['default/web'], tokenId: 'bbbbbbbbbbbbbbbb', joinedAt: 50 });
    assert.equal(await s.deleteApiToken('zzzz'), false);
    await s.close();
    assert.equal((await stat(join(dir, 'store', 'credentials.json'))).mode & 0o777, 0o600);

    const again = await FileStore.open(join(dir, 'store'));
    assert.equal(again.apiTokens().get('aaaaaaaaaaaaaaaa')?.name, 'grafana');
    assert.equal(again.joinTokens().get('bbbbbbbbbbbbbbbb')?.usedAt, 50);
    assert.deepEqual(await again.spendJoinToken('bbbbbbbbbbbbbbbb', 60), { ok: false, reason: 'used' }, 'spent stays spent across a restart');
    assert.deepEqual(again.hostPolicies().get('h1')?.serviceAccounts, ['default/web']);
    assert.equal(await again.deleteHostPolicy('h1'), true);
    assert.equal(await again.deleteJoinToken('cccccccccccccccc'), true);
    assert.equal(await again.deleteApiToken('aaaaaaaaaaaaaaaa'), true);
    await again.close();
    const third = await FileStore.open(join(dir, 'store'));
    assert.deepEqual([third.apiTokens().size, third.joinTokens().size, third.hostPolicies().size], [0, 1, 0]);
    await third.close();
  } finally {
    await cleanup();
  }
});
