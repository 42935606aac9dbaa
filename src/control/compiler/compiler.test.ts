import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Registry } from '../registry/registry.js';
import { FileStore } from '../store/file-store.js';
import { agentReport, tempDir, workload } from '../test-support.js';
import { compileClusters, parseClusterName } from './compiler.js';
import { SnapshotCache } from './snapshot-cache.js';
import { DEFAULT_TRACING, snapshotTracing } from './tracing.js';

function smallMesh(catalogStates: ('ready' | 'starting')[] = ['ready', 'starting']): Registry {
  const r = new Registry('td');
  const catalog = workload('catalog', { readyPorts: [7002, 7001] });
  catalog.replicas.forEach((rep, i) => (rep.state = catalogStates[i] ?? 'ready'));
  r.upsert(
    agentReport('a1', [
      workload('frontend', { upstreams: ['default/catalog:http', 'default/missing:http'], readyPorts: [7000] }),
      catalog,
    ]),
    0,
  );
  return r;
}

test('parseClusterName', () => {
  assert.deepEqual(parseClusterName('ns/svc:http'), { namespace: 'ns', service: 'svc', port: 'http' });
  assert.equal(parseClusterName('svc:http'), null);
  assert.equal(parseClusterName('ns/svc'), null);
  assert.equal(parseClusterName('ns/:http'), null);
});

test('a proxy gets one cluster per served upstream, with ready endpoints only', () => {
  const r = smallMesh();
  const frontend = r.node('default/frontend/0');
  assert.ok(frontend !== undefined);
  assert.deepEqual(compileClusters(frontend, r), [
    {
      name: 'default/catalog:http',
      namespace: 'default',
      service: 'catalog',
      port: 'http',
      protocol: 'http',
      loadBalancer: 'peak-ewma',
      connectTimeoutMs: 1000,
      endpoints: [{ host: '127.0.0.1', port: 7002, identity: 'spiffe://td/ns/default/sa/catalog', workload: 'catalog', replica: 0 }],
    },
  ]);
  const catalog = r.node('default/catalog/0');
  assert.ok(catalog !== undefined);
  assert.deepEqual(compileClusters(catalog, r), []);
});

test('a service that asks for round robin gets it in its callers\' clusters', () => {
  const r = new Registry('td');
  r.upsert(
    agentReport('a1', [
      workload('frontend', { upstreams: ['default/catalog:http'], readyPorts: [7000] }),
      workload('catalog', { readyPorts: [7001], loadBalancer: 'round-robin' }),
    ]),
    0,
  );
  const frontend = r.node('default/frontend/0');
  assert.ok(frontend !== undefined);
  assert.equal(compileClusters(frontend, r)[0]?.loadBalancer, 'round-robin');
});

test('versions change only for proxies whose content changed, and survive a new cache over the same store', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const store = await FileStore.open(dir);
    const r = smallMesh();
    const cache = new SnapshotCache(r, store, () => ['ROOT']);
    const first = await cache.recompile();
    assert.deepEqual(first.sort(), ['default/catalog/0', 'default/catalog/1', 'default/frontend/0']);
    const v1 = cache.get('default/frontend/0')?.version;
    assert.equal(v1, 1);
    assert.deepEqual(cache.get('default/frontend/0')?.snapshot.trustBundlePem, ['ROOT']);
    assert.deepEqual(await cache.recompile(), [], 'nothing changed: no new version');

    // Catalog replica 1 becomes ready: only the frontend (which routes to catalog) changes.
    const r2 = smallMesh(['ready', 'ready']);
    const cache2 = new SnapshotCache(r2, store, () => ['ROOT']);
    assert.deepEqual(await cache2.recompile(), ['default/frontend/0']);
    assert.equal(cache2.get('default/frontend/0')?.version, 2);
    assert.equal(cache2.get('default/catalog/0')?.version, 1);
    assert.equal(cache2.get('default/frontend/0')?.snapshot.clusters[0]?.endpoints.length, 2);
    await store.close();

    // Reopen: same content keeps its versions; the counter continues above them.
    const reopened = await FileStore.open(dir);
    const cache3 = new SnapshotCache(smallMesh(['ready', 'ready']), reopened, () => ['ROOT']);
    assert.deepEqual(await cache3.recompile(), []);
    assert.equal(cache3.get('default/frontend/0')?.version, 2);
    assert.equal(await reopened.nextVersion(), 3);
    await reopened.close();
  } finally {
    await cleanup();
  }
});

test('snapshots carry the tracing block (part of the content hash), and none when tracing is off', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const store = await FileStore.open(dir);
    let tracing = snapshotTracing(DEFAULT_TRACING, 'http://127.0.0.1:15000');
    const cache = new SnapshotCache(smallMesh(), store, () => ['ROOT'], () => [], undefined, () => tracing);
    await cache.recompile();
    const nodes = ['default/catalog/0', 'default/catalog/1', 'default/frontend/0'];
    for (const n of nodes) assert.deepEqual(cache.get(n)?.snapshot.tracing, { endpoint: 'http://127.0.0.1:15000/v1/traces', samplingRatio: 0.01, controlPlane: true }, n);

    tracing = snapshotTracing({ samplingRatio: 0.5, collector: 'http://127.0.0.1:4318/v1/traces' }, 'http://127.0.0.1:15000');
    assert.deepEqual((await cache.recompile()).sort(), nodes, 'a new collector is new content for every proxy');
    assert.deepEqual(cache.get('default/frontend/0')?.snapshot.tracing, { endpoint: 'http://127.0.0.1:4318/v1/traces', samplingRatio: 0.5 });
    assert.deepEqual(await cache.recompile(), [], 'the same settings compile to the same hash');

    tracing = snapshotTracing(null, 'http://127.0.0.1:15000');
    assert.deepEqual((await cache.recompile()).sort(), nodes);
    assert.equal('tracing' in (cache.get('default/frontend/0')?.snapshot ?? {}), false, 'off: no tracing key at all');
    await store.close();
  } finally {
    await cleanup();
  }
});

test('the default trace endpoint is the bound API address, wildcards made dialable', () => {
  assert.deepEqual(snapshotTracing(DEFAULT_TRACING, 'http://127.0.0.1:40123'), { endpoint: 'http://127.0.0.1:40123/v1/traces', samplingRatio: 0.01, controlPlane: true });
  // A collector that is a replica's own API is verified as the control plane; another one is not.
  assert.deepEqual(snapshotTracing({ samplingRatio: 1, collector: 'https://10.0.0.11:15000/v1/traces' }, 'https://10.0.0.12:15000', ['https://10.0.0.11:15000']), {
    endpoint: 'https://10.0.0.11:15000/v1/traces',
    samplingRatio: 1,
    controlPlane: true,
  });
  assert.deepEqual(snapshotTracing({ samplingRatio: 1, collector: 'https://otel.example:4318/v1/traces' }, 'https://10.0.0.12:15000', ['https://10.0.0.11:15000']), {
    endpoint: 'https://otel.example:4318/v1/traces',
    samplingRatio: 1,
  });
  assert.equal(snapshotTracing(DEFAULT_TRACING, 'http://0.0.0.0:15000')?.endpoint, 'http://127.0.0.1:15000/v1/traces');
  assert.equal(snapshotTracing(DEFAULT_TRACING, 'http://[::]:15000')?.endpoint, 'http://[::1]:15000/v1/traces');
  assert.equal(snapshotTracing(DEFAULT_TRACING, 'http://[::1]:15000')?.endpoint, 'http://[::1]:15000/v1/traces');
  assert.equal(snapshotTracing(null, 'http://127.0.0.1:15000'), undefined);
});
