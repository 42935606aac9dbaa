/**
 * Choosing the balancer in the mesh file: b (two replicas) asks for round robin, so a's proxy
 * sends sequential requests to b's replicas in strict turn, and the proxy's config says so.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { usePairMesh } from '../helpers/pair-fixture.js';

describe('load balancing chosen in the mesh file', () => {
  const pair = usePairMesh({
    name: 'it-round-robin',
    protocol: 'http',
    serverCommand: ['node', 'http-echo.mjs'],
    serverReplicas: 2,
    serverLoadBalancer: 'round-robin',
  });

  it("a's proxy runs b's cluster with round robin", async () => {
    const res = await pair.mesh.cli(['proxy-config', 'a', '-o', 'json']);
    assert.equal(res.code, 0, res.stderr);
    const config = JSON.parse(res.stdout) as { snapshot: { clusters: { name: string; loadBalancer: string; endpoints: unknown[] }[] } };
    const b = config.snapshot.clusters.find((c) => c.name === 'default/b:http');
    assert.ok(b, res.stdout);
    assert.equal(b.loadBalancer, 'round-robin');
    assert.equal(b.endpoints.length, 2);
  });

  it('sequential requests alternate between the two replicas', async () => {
    const replicas: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await request(`http://127.0.0.1:${pair.outPort}/rr/${i}`, { dispatcher: pair.agent });
      assert.equal(res.statusCode, 200);
      const body = (await res.body.json()) as { workload: string; replica: string };
      assert.equal(body.workload, 'b');
      replicas.push(body.replica);
    }
    for (let i = 1; i < replicas.length; i++) assert.notEqual(replicas[i], replicas[i - 1], `requests ${i - 1} and ${i} went to the same replica: ${replicas.join(',')}`);
    assert.equal(replicas.filter((r) => r === '0').length, 10, replicas.join(','));
  });
});
