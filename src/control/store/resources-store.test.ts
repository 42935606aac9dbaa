import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '../../api/resources.js';
import { tempDir } from '../test-support.js';
import { FileStore } from './file-store.js';
import { resourceKey } from './store.js';

const fault = (name: string, ms: number): Resource => ({
  apiVersion: 'trellis.dev/v1alpha1',
  kind: 'FaultInjection',
  metadata: { name, namespace: 'default', resourceVersion: '1', generation: 1 },
  spec: { delay: { fixedDelay: `${ms}ms`, percentage: 100 } },
});

test('resources and their version survive closing and reopening the store', async () => {
  const t = await tempDir();
  try {
    let s = await FileStore.open(t.dir);
    assert.equal(s.resourceVersion(), 0);
    assert.equal(s.resources().size, 0);
    await s.commitResources({ version: 1, put: [fault('a', 1), fault('b', 2)], remove: [] });
    await s.commitResources({ version: 2, put: [fault('a', 5)], remove: [resourceKey('FaultInjection', 'default', 'b')] });
    await s.close();

    s = await FileStore.open(t.dir);
    assert.equal(s.resourceVersion(), 2);
    assert.deepEqual([...s.resources().keys()], ['FaultInjection/default/a']);
    assert.deepEqual(s.resources().get('FaultInjection/default/a')?.spec, { delay: { fixedDelay: '5ms', percentage: 100 } });
    assert.equal(s.version(), 0, 'the snapshot version counter is separate');
    await s.close();
  } finally {
    await t.cleanup();
  }
});
