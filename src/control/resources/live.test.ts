import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServiceView } from '../../api/registry.js';
import type { ApplyResult } from '../../api/resources.js';
import type { ProxySnapshot } from '../../api/snapshot.js';
import { STATUS, StreamClient, agentReport, api, enroll, startControlPlane, tempDir, workload } from '../test-support.js';

const FRONT = 'spiffe://test.local/ns/default/sa/front';

/** Waits for the next ping; returns the non-ping messages that arrived before it. */
async function untilPing(s: StreamClient): Promise<string[]> {
  const seen: string[] = [];
  for (;;) {
    const m = await s.nextAny();
    if (m === null || m.type === 'ping') return seen;
    seen.push(m.type);
  }
}

test('resource changes recompile and push to the callers they affect; an unchanged apply pushes nothing', async () => {
  const { dir, cleanup } = await tempDir();
  const cp = await startControlPlane(dir);
  let s: StreamClient | null = null;
  try {
    const report = {
      ...agentReport('a1', [
        workload('front', { upstreams: ['default/web:http'], readyPorts: [23000] }),
        workload('web-a', { service: 'web', labels: { version: 'v1' }, readyPorts: [23001] }),
        workload('web-b', { service: 'web', labels: { version: 'v2' }, readyPorts: [23002] }),
      ]),
      services: [{ namespace: 'default', name: 'web-v2', selector: { app: 'web', version: 'v2' } }],
    };
    assert.equal((await api(cp, 'PUT', '/api/v1/agents/a1', report)).status, 200);
    const services = (await api(cp, 'GET', '/api/v1/services')).json as ServiceView[];
    assert.deepEqual(
      services.map((x) => [x.name, x.endpointsReady, x.selector]),
      [
        ['front', 1, undefined],
        ['web', 2, undefined],
        ['web-v2', 1, { app: 'web', version: 'v2' }],
      ],
    );

    s = new StreamClient(cp, await enroll(cp, 'default/front/0', FRONT));
    s.send({ type: 'hello', nodeId: 'default/front/0', lastVersion: null, status: STATUS });
    const first = (await s.next()) as { snapshot: ProxySnapshot };
    assert.deepEqual(first.snapshot.clusters.map((c) => [c.name, c.routes]), [['default/web:http', undefined]]);

    const route = {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'web-canary' },
      spec: { parentRefs: [{ name: 'web' }], rules: [{ backendRefs: [{ name: 'web', port: 80, weight: 3 }, { name: 'web-v2', port: 80, weight: 1 }] }] },
    };
    const applied = await api(cp, 'PUT', '/api/v1/resources', { resources: [route] });
    assert.equal(applied.status, 200);
    const second = (await s.next()) as { snapshot: ProxySnapshot };
    assert.ok(second.snapshot.version > first.snapshot.version);
    assert.deepEqual(
      second.snapshot.clusters.map((c) => [c.name, c.endpoints.map((e) => e.port)]),
      [
        ['default/web-v2:http', [23002]],
        ['default/web:http', [23001, 23002]],
      ],
    );
    assert.deepEqual(second.snapshot.clusters[1]?.routes?.routes[0]?.rules[0]?.backends, [
      { cluster: 'default/web:http', weight: 3 },
      { cluster: 'default/web-v2:http', weight: 1 },
    ]);

    // The same apply again: 'unchanged', and the next thing on the stream is a ping, not a snapshot.
    const again = await api(cp, 'PUT', '/api/v1/resources', { resources: [route] });
    assert.deepEqual((again.json as ApplyResult).results.map((r) => r.action), ['unchanged']);
    assert.deepEqual(await untilPing(s), []);
    assert.equal(cp.snapshots.get('default/front/0')?.version, second.snapshot.version);

    // A FaultInjection nobody references changes no snapshot either.
    const fault = { apiVersion: 'trellis.dev/v1alpha1', kind: 'FaultInjection', metadata: { name: 'idle' }, spec: { abort: { httpStatus: 503 } } };
    assert.equal((await api(cp, 'PUT', '/api/v1/resources', { resources: [fault] })).status, 200);
    assert.deepEqual(await untilPing(s), []);

    // Deleting the route takes its routes and the extra backend cluster away.
    assert.equal((await api(cp, 'DELETE', '/api/v1/resources/HTTPRoute/default/web-canary')).status, 200);
    const third = (await s.next()) as { snapshot: ProxySnapshot };
    assert.deepEqual(third.snapshot.clusters.map((c) => [c.name, c.routes]), [['default/web:http', undefined]]);
  } finally {
    s?.close();
    await cp.close();
    await cleanup();
  }
});
