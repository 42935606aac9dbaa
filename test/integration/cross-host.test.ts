/**
 * Traffic through the mesh between two hosts (network namespaces, test/helpers/netns-lab.ts),
 * deployed as on real machines (test/helpers/mesh-on-hosts.ts): a 3-member etcd on h1-h3, two
 * control-plane replicas (h1, h2) over it, and on h1 and h2 an agent that joined with a token
 * and runs with `--advertise-address`. Workload `client` on h1, the servers `web` (HTTP/1.1),
 * `rpc` (gRPC) and `raw` (TCP) on h2. h2's proxies listen for mTLS on h2's address, endpoints
 * carry it, and h1's proxies dial it over the lab's bridge. h1's agent lists replica 1 first,
 * h2's replica 2: the two hosts' proxies are configured by different replicas.
 *
 * The test plays client's app from the root namespace: client's outbound listeners are fixed
 * on h1's address (the only thing here off loopback that a real mesh would keep on it), so
 * the test can reach them; everything behind them is the mesh as deployed.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import type { EndpointView, WorkloadView } from '../../src/api/registry.js';
import { echoClient, type EchoClient, type EchoReply } from '../helpers/grpc-echo.js';
import { describeFailures, httpGetOutcome, loadLoop } from '../helpers/load.js';
import { httpAgent, writeMeshDir, type MeshDir } from '../helpers/mesh.js';
import { startMeshOnHosts, type MeshOnHosts } from '../helpers/mesh-on-hosts.js';
import { TRUST_DOMAIN, spiffeId } from '../helpers/meshes.js';
import { createNetnsLab, labSkipReason, type NetnsLab } from '../helpers/netns-lab.js';
import { waitFor } from '../helpers/proc.js';

const HTTP_OUT = 7001;
const GRPC_OUT = 7002;
const TCP_OUT = 7003;

function meshYaml(h1Address: string): string {
  return `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: it-cross-host
spec:
  trustDomain: ${TRUST_DOMAIN}
  workloads:
    - name: client
      hosts: [h1]
      command: [node, http-echo.mjs]
      ports: [{ name: http }]
      upstreams:
        - { service: web, port: http, listen: "${h1Address}:${HTTP_OUT}" }
        - { service: rpc, port: grpc, listen: "${h1Address}:${GRPC_OUT}" }
        - { service: raw, port: tcp, listen: "${h1Address}:${TCP_OUT}" }
    - name: web
      hosts: [h2]
      command: [node, http-echo.mjs]
      ports: [{ name: http }]
      readiness: { httpGet: { path: /healthz, port: http }, periodSeconds: 1 }
    - name: rpc
      hosts: [h2]
      command: [node, grpc-echo.mjs]
      ports: [{ name: grpc, protocol: grpc }]
    - name: raw
      hosts: [h2]
      command: [node, tcp-echo.mjs]
      ports: [{ name: tcp, protocol: tcp }]
`;
}

describe('the mesh across two hosts', { skip: labSkipReason() }, () => {
  let lab: NetnsLab | undefined;
  let meshDir: MeshDir | undefined;
  let mesh: MeshOnHosts | undefined;
  let grpcClient: EchoClient | undefined;
  const agent = httpAgent();
  const h1 = (): string => lab!.host('h1').address;
  const h2 = (): string => lab!.host('h2').address;

  before(async () => {
    // h3 only completes the etcd cluster (a member per host); replicas run on h1 and h2.
    lab = await createNetnsLab({ hosts: ['h1', 'h2', 'h3'] });
    meshDir = await writeMeshDir({ meshYaml: meshYaml(h1()) });
    try {
      mesh = await startMeshOnHosts(lab, {
        meshDir: meshDir.dir,
        agentHosts: ['h1', 'h2'],
        trustDomain: TRUST_DOMAIN,
        expectWorkloads: 4,
        // Each host may run only what the mesh file places there.
        serviceAccounts: (h) => (h === 'h1' ? ['default/client'] : ['default/web', 'default/rpc', 'default/raw']),
      });
    } catch (err) {
      const logs = lab !== undefined ? `\nh1 agent:\n${await tailOf('h1')}\nh2 agent:\n${await tailOf('h2')}` : '';
      throw new Error(`${(err as Error).message}${logs}`, { cause: err });
    }
    grpcClient = echoClient(GRPC_OUT, {}, h1());
  });

  async function tailOf(host: string): Promise<string> {
    return (await readFile(`${lab!.dir}/${host}/agent.log`, 'utf8').catch(() => '')).split('\n').slice(-30).join('\n');
  }

  after(async () => {
    grpcClient?.close();
    await agent.close();
    // The lab ends every process in its namespaces (control plane, agents, proxies, apps).
    await lab?.close();
    await meshDir?.cleanup();
  });

  it('endpoints carry their host\'s advertise address: the servers h2\'s, the client h1\'s', async () => {
    const eps = await mesh!.api<EndpointView[]>('/api/v1/endpoints');
    const hostOf = (service: string): string[] => [...new Set(eps.filter((e) => e.service === service).map((e) => e.host))];
    assert.deepEqual(hostOf('web'), [h2()]);
    assert.deepEqual(hostOf('rpc'), [h2()]);
    assert.deepEqual(hostOf('raw'), [h2()]);
    assert.deepEqual(hostOf('client'), [h1()]);
    const workloads = await mesh!.api<{ name: string; agentId: string }[]>('/api/v1/workloads');
    assert.deepEqual(Object.fromEntries(workloads.map((w) => [w.name, w.agentId])), { client: 'h1', raw: 'h2', rpc: 'h2', web: 'h2' }, 'each agent reports only its host\'s share, under its host name');
  });

  it("each host's proxies are configured by the replica its agent lists first: h1's by replica 1, h2's by replica 2", async () => {
    const connected = await mesh!.connectedProxies();
    const workloads = await mesh!.api<WorkloadView[]>('/api/v1/workloads');
    const replicasOf = (agentId: string): (string | undefined)[] => [
      ...new Set(workloads.filter((w) => w.agentId === agentId).flatMap((w) => w.replicas.map((r) => connected.get(r.nodeId)))),
    ];
    assert.deepEqual(replicasOf('h1'), [mesh!.apiUrls[0]]);
    assert.deepEqual(replicasOf('h2'), [mesh!.apiUrls[1]]);
  });

  it('the control plane is offered each proxy\'s remote admin listener (https on its host\'s address), never a loopback URL of another host; Prometheus discovery leaves them out', async () => {
    const workloads = await mesh!.api<WorkloadView[]>('/api/v1/workloads');
    for (const w of workloads) {
      const hostOf = w.agentId === 'h1' ? h1() : h2();
      for (const r of w.replicas) assert.match(r.adminUrl, new RegExp(`^https://${hostOf.replace(/\./g, '\\.')}:\\d+$`), `${w.name}/${r.replica}`);
    }
    // A Prometheus server has no certificate the remote listener answers (only the control plane's).
    assert.deepEqual(await mesh!.api<unknown[]>('/api/v1/prometheus/targets'), []);
    const r = await mesh!.cli(['proxy-config', 'web']);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /runs on agent h2's host; its admin listener is on that host's loopback/);
  });

  it('HTTP/1.1 from h1 to h2 through the mesh: 300 requests under load, none failed, the caller identity vouched for', async () => {
    const loop = loadLoop(httpGetOutcome(`http://${h1()}:${HTTP_OUT}/hello`, agent), { concurrency: 6 });
    await loop.waitForOk(300, 60_000);
    const stats = await loop.stop();
    assert.equal(stats.failed, 0, describeFailures(stats));
    const res = await request(`http://${h1()}:${HTTP_OUT}/who`, { dispatcher: agent });
    const body = (await res.body.json()) as { headers: Record<string, string> };
    assert.equal(res.statusCode, 200);
    assert.equal(body.headers['trellis-peer-identity'], spiffeId('client'));
  });

  it('gRPC from h1 to h2: unary, 100 streamed replies in order, and bidi ping-pong', async () => {
    const c = grpcClient!;
    const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 20_000 });
    const unary = await new Promise<EchoReply>((resolve, reject) => c.unary({ message: 'across' }, new grpc.Metadata(), deadline(), (e, r) => (e ? reject(e) : resolve(r!))));
    assert.equal(unary.message, 'across');
    assert.equal(unary.peerIdentity, spiffeId('client'));

    const got: EchoReply[] = [];
    const call = c.serverStream({ message: 'm', count: 100 }, deadline());
    const status = await new Promise<grpc.StatusObject>((resolve, reject) => {
      call.on('data', (r: EchoReply) => got.push(r));
      call.on('error', reject);
      call.on('status', resolve);
    });
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.deepEqual(
      got.map((r) => r.index),
      Array.from({ length: 100 }, (_, i) => i),
    );

    const bidi = c.bidi(deadline());
    const answers: EchoReply[] = [];
    const waiters: (() => void)[] = [];
    bidi.on('data', (r: EchoReply) => {
      answers.push(r);
      waiters.shift()?.();
    });
    const ended = new Promise<void>((resolve, reject) => {
      bidi.on('error', reject);
      bidi.on('end', resolve);
    });
    for (let i = 0; i < 5; i++) {
      const answered = new Promise<void>((resolve) => waiters.push(resolve));
      bidi.write({ message: `w${i}` });
      await answered;
      assert.equal(answers[i]?.message, `W${i}`);
    }
    bidi.end();
    await ended;
  });

  it('TCP from h1 to h2: 2 MiB echoed byte for byte, then the half-close', async () => {
    const payload = randomBytes(2 * 1024 * 1024);
    const socket = net.connect({ host: h1(), port: TCP_OUT, allowHalfOpen: true });
    const hash = createHash('sha256');
    let length = 0;
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const done = new Promise<void>((resolve, reject) => {
      socket.on('data', (d: Buffer) => {
        hash.update(d);
        length += d.length;
      });
      socket.on('end', resolve);
      socket.on('error', reject);
    });
    for (let off = 0; off < payload.length; off += 65536) {
      if (!socket.write(payload.subarray(off, off + 65536))) await new Promise((r) => socket.once('drain', r));
    }
    socket.end();
    await done;
    socket.destroy();
    assert.equal(length, payload.length);
    assert.equal(hash.digest('hex'), createHash('sha256').update(payload).digest('hex'));
  });

  it("a route applied through replica 2 is served by h1's proxy, which replica 1 configures", async () => {
    const file = join(meshDir!.dir, 'web-tag.yaml');
    await writeFile(
      file,
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web-tag
spec:
  parentRefs: [{ name: web, kind: Service, group: "" }]
  rules:
    - filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{ name: x-applied-through, value: replica-2 }]
      backendRefs: [{ name: web, port: 80 }]
`,
    );
    const r2 = mesh!.replica(1);
    const applied = await r2.cli(['apply', '-f', file, '--control-plane', r2.apiUrl]);
    assert.equal(applied.code, 0, applied.stderr);
    try {
      const tagged = async (): Promise<string | undefined> => {
        const res = await request(`http://${h1()}:${HTTP_OUT}/who`, { dispatcher: agent });
        const body = (await res.body.json()) as { headers: Record<string, string> };
        return body.headers['x-applied-through'];
      };
      await waitFor('the route at h1\'s proxy', async () => (await tagged()) === 'replica-2', { timeoutMs: 20_000, intervalMs: 200 });
      const connected = await mesh!.connectedProxies();
      assert.equal(connected.get('default/client/0'), mesh!.apiUrls[0], "client's proxy is replica 1's");
    } finally {
      const deleted = await r2.cli(['delete', 'httproute', 'web-tag', '--control-plane', r2.apiUrl]);
      assert.equal(deleted.code, 0, deleted.stderr);
    }
  });

  it('h2\'s inbound listener on its host address still wants a mesh certificate: a client without one gets no answer', async () => {
    const eps = await mesh!.api<EndpointView[]>('/api/v1/endpoints');
    const web = eps.find((e) => e.service === 'web');
    assert.ok(web);
    const outcome = await new Promise<string>((resolve) => {
      const s = tls.connect({ host: web.host, port: web.portNumber, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
        s.write('GET / HTTP/1.1\r\nhost: web\r\n\r\n');
      });
      let got = '';
      s.setTimeout(5000, () => {
        s.destroy();
        resolve(`timeout ${got}`);
      });
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('error', (e) => resolve(`error ${e.message}`));
      s.on('close', () => resolve(`closed ${got}`));
    });
    assert.doesNotMatch(outcome, /HTTP\/1\.1 \d{3}/, `no HTTP answer without a client certificate (got: ${outcome})`);
  });
});
