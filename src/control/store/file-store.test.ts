import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
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

test('credentials.json is 0600 and holds hashes only (the rest of the credential contract: store-conformance.ts)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const s = await FileStore.open(join(dir, 'store'));
    await s.putApiToken({ id: 'aaaaaaaaaaaaaaaa', hash: 'h1', role: 'read', name: 'grafana', createdAt: 1, expiresAt: null });
    await s.close();
    assert.equal((await stat(join(dir, 'store', 'credentials.json'))).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await readFile(join(dir, 'store', 'credentials.json'), 'utf8')).apiTokens, [
      { id: 'aaaaaaaaaaaaaaaa', hash: 'h1', role: 'read', name: 'grafana', createdAt: 1, expiresAt: null },
    ]);
  } finally {
    await cleanup();
  }
});
