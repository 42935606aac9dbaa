import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Resource } from '../../api/resources.js';
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
    const claimed = await s.claimSnapshotVersions(new Map([['default/web/0', 'h']]), s.revision());
    await s.putNodeIdentity('default/web/0', 'spiffe://td/ns/default/sa/web');
    await s.close();

    for (const f of await readdir(join(dir, 'store'), { recursive: true })) {
      const st = await stat(join(dir, 'store', f));
      assert.equal(st.mode & 0o777, st.isDirectory() ? 0o700 : 0o600, f);
    }
    assert.equal((await stat(join(dir, 'store'))).mode & 0o777, 0o700);
    assert.deepEqual((await readdir(join(dir, 'store'), { recursive: true })).filter((f) => f.endsWith('.tmp')), []);
    assert.deepEqual(await readdir(join(dir, 'store', 'agents')), ['a1.json'], 'one file per agent; a deleted one is gone');

    const again = await FileStore.open(join(dir, 'store'));
    assert.deepEqual(again.agents().map((a) => a.report.agentId), ['a1']);
    assert.equal(again.agents()[0]?.report.workloads[0]?.name, 'web');
    assert.deepEqual(again.snapshotVersions().get('default/web/0'), claimed.get('default/web/0'));
    assert.equal(again.snapshotVersions().get('default/web/0')?.hash, 'h');
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

test('a renewal with the same report does not rewrite the agent\'s file but is announced; a changed report is written', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const s = await FileStore.open(dir);
    const heard: number[] = [];
    s.onChange((c) => {
      if (c.kind === 'agent' && c.agent !== null) heard.push(c.agent.receivedAt);
    });
    await s.putAgent({ report: agentReport('a1', [workload('web')]), receivedAt: 1 });
    const path = join(dir, 'agents', 'a1.json');
    await writeFile(path, '"marker"', { mode: 0o600 });
    await s.putAgent({ report: agentReport('a1', [workload('web')]), receivedAt: 2 });
    assert.equal(await readFile(path, 'utf8'), '"marker"', 'same content: no write');
    assert.equal(s.agents()[0]?.receivedAt, 2, 'memory has the renewal');
    assert.deepEqual(heard, [1, 2], 'the renewal is announced (the control plane restarts the lease on it)');
    await s.putAgent({ report: agentReport('a1', [workload('web', { readyPorts: [20009] })]), receivedAt: 3 });
    const stored = JSON.parse(await readFile(path, 'utf8')) as { report: { workloads: { replicas: { endpoints: { portNumber: number }[] }[] }[] } };
    assert.equal(stored.report.workloads[0]?.replicas[0]?.endpoints[0]?.portNumber, 20009);
    await s.close();
  } finally {
    await cleanup();
  }
});

test('writes of one document queued behind another join: the last state is written, every caller resolves', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const s = await FileStore.open(dir);
    const writes = [s.putAgent({ report: agentReport('a1', []), receivedAt: 1 })];
    // These queue behind the first write, which has started; they join each other.
    for (let i = 2; i <= 5; i++) writes.push(s.putAgent({ report: agentReport(`a${i}`, []), receivedAt: i }));
    const versions = [s.nextVersion(), s.nextVersion(), s.nextVersion()];
    const route = (name: string) => ({ apiVersion: 'v', kind: 'HTTPRoute', metadata: { namespace: 'default', name }, spec: {} }) as unknown as Resource;
    // Each commit writes the state it made: the joined write must take the later one.
    const commits = [s.commitResources({ version: 1, put: [route('first')], remove: [] }), s.commitResources({ version: 2, put: [route('second')], remove: [] })];
    await Promise.all([...writes, ...commits]);
    assert.deepEqual(await Promise.all(versions), [1, 2, 3]);
    const inMemory = [...s.resources().keys()];
    assert.deepEqual(inMemory, ['HTTPRoute/default/first', 'HTTPRoute/default/second'], 'the second batch builds on the first, still being written');
    await s.close();
    const again = await FileStore.open(dir);
    assert.deepEqual(again.agents().map((a) => a.report.agentId).sort(), ['a1', 'a2', 'a3', 'a4', 'a5']);
    assert.equal(again.version(), 3);
    assert.deepEqual([...again.resources().keys()], inMemory, 'on disk as in memory');
    assert.equal(again.resourceVersion(), 2);
    await again.close();
  } finally {
    await cleanup();
  }
});

test('agents stored by an older version in one agents.json move to one file each', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const legacy = [{ report: agentReport('h/1', [workload('web')]), receivedAt: 1 }, { report: agentReport('h2', []), receivedAt: 2 }];
    await writeFile(join(dir, 'agents.json'), JSON.stringify(legacy), { mode: 0o600 });
    const s = await FileStore.open(dir);
    assert.deepEqual(s.agents().map((a) => a.report.agentId).sort(), ['h/1', 'h2']);
    assert.deepEqual((await readdir(dir)).includes('agents.json'), false);
    assert.deepEqual((await readdir(join(dir, 'agents'))).sort(), ['h%2F1.json', 'h2.json']);
    await s.close();
    const again = await FileStore.open(dir);
    assert.equal(again.agents().find((a) => a.report.agentId === 'h/1')?.report.workloads[0]?.name, 'web');
    await again.close();
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
