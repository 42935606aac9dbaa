/**
 * Choosing the balancer in the mesh file: b (two replicas) asks for round robin, so a's proxy
 * sends sequential requests to b's replicas in strict turn, and the proxy's config says so.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request, type Agent } from 'undici';
import { httpAgent, startMesh, type Mesh } from '../helpers/mesh.js';
import { pairMesh } from '../helpers/meshes.js';
import { freePort } from '../helpers/proc.js';

describe('load balancing chosen in the mesh file', () => {
  let mesh: Mesh | undefined;
  let agent: Agent;
  let outPort: number;

  before(async () => {
    agent = httpAgent();
    outPort = await freePort();
    mesh = await startMesh({
      meshYaml: pairMesh({
        name: 'it-round-robin',
        protocol: 'http',
        serverCommand: ['node', 'http-echo.mjs'],
        outPort,
        serverReplicas: 2,
        serverLoadBalancer: 'round-robin',
      }),
    });
  });

  after(async () => {
    await agent?.close();
    await mesh?.stop();
  });

  it("a's proxy runs b's cluster with round robin", async () => {
    const res = await mesh!.cli(['proxy-config', 'a', '-o', 'json']);
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
      const res = await request(`http://127.0.0.1:${outPort}/rr/${i}`, { dispatcher: agent });
      assert.equal(res.statusCode, 200);
      const body = (await res.body.json()) as { workload: string; replica: string };
      assert.equal(body.workload, 'b');
      replicas.push(body.replica);
    }
    for (let i = 1; i < replicas.length; i++) assert.notEqual(replicas[i], replicas[i - 1], `requests ${i - 1} and ${i} went to the same replica: ${replicas.join(',')}`);
    assert.equal(replicas.filter((r) => r === '0').length, 10, replicas.join(','));
  });
});
