/**
 * Choosing the balancer in the mesh file: b (two replicas) asks for round robin, so a's proxy
 * sends sequential requests to b's replicas in strict turn, and the proxy's config says so.
 * With the default balancer (peak-EWMA), sequential requests at low load reach both replicas
 * (issue 9, Part 3.1: one replica used to get every request and the other none).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { usePairMesh, type PairMeshFixture } from '../helpers/pair-fixture.js';
import { sleep } from '../helpers/proc.js';

/** GETs through a's proxy one at a time, `perSecond` of them for `seconds`; the replicas that answered. */
async function sequentialReplicas(pair: PairMeshFixture, perSecond: number, seconds: number): Promise<string[]> {
  const replicas: string[] = [];
  const started = Date.now();
  for (let i = 0; i < perSecond * seconds; i++) {
    // Pacing only (load generation): the assertions are on counts, never on timings.
    const due = started + (i * 1000) / perSecond;
    if (due > Date.now()) await sleep(due - Date.now());
    const res = await request(`http://127.0.0.1:${pair.outPort}/share/${i}`, { dispatcher: pair.agent });
    assert.equal(res.statusCode, 200);
    const body = (await res.body.json()) as { workload: string; replica: string };
    assert.equal(body.workload, 'b');
    replicas.push(body.replica);
  }
  return replicas;
}

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

describe('peak-EWMA (the default) at low load', () => {
  const pair = usePairMesh({
    name: 'it-peak-ewma-share',
    protocol: 'http',
    serverCommand: ['node', 'http-echo.mjs'],
    serverReplicas: 2,
  });

  it('two replicas, sequential requests at 5/s for 10 s: each replica gets a share', async () => {
    const replicas = await sequentialReplicas(pair, 5, 10);
    const counts = ['0', '1'].map((r) => replicas.filter((x) => x === r).length);
    // A replica left alone becomes the cheaper one again within tau x ln(slowest/fastest
    // answer) (src/proxy/balancer/share.test.ts bounds it), so both take turns; real latencies
    // here vary 10x (and a replica's first answer is slower still), which makes the turns
    // uneven: 16 and 19 of 50 were the smaller shares seen. Before the fix one replica got all
    // 50 in one of two runs. 10 of 50 (20%) leaves room for the noise of a shared machine.
    for (const [r, n] of counts.entries()) assert.ok(n >= 10, `replica ${r} got ${n} of 50: ${replicas.join('')}`);
  });
});
