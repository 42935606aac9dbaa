/**
 * Two `trellis control-plane` replicas over one real etcd, an agent given both, and proxies:
 * a route applied through replica 1 is served by proxies connected to replica 2 (the same
 * global version on both replicas); replica 2 is SIGKILLed under load and its proxies move to
 * replica 1, resuming from their last version with no snapshot sent twice, no request failed,
 * and the next change reaching them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request, type Agent } from 'undici';
import type { ProxyView } from '../../src/api/registry.js';
import { startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { describeFailures, httpGetOutcome, loadLoop } from '../helpers/load.js';
import { httpAgent, startAgent, startControlPlane, writeMeshDir, type ControlPlaneProcess, type MeshDir, type SpawnedProcess } from '../helpers/mesh.js';
import { pairMesh, TRUST_DOMAIN } from '../helpers/meshes.js';
import { freePorts, waitFor } from '../helpers/proc.js';

const teapot = (status: number): string => `apiVersion: trellis.dev/v1alpha1
kind: FaultInjection
metadata:
  name: teapot
spec:
  abort: { httpStatus: ${status}, percentage: 100 }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: teapot
spec:
  parentRefs:
    - name: b
      kind: Service
      group: ""
  rules:
    - matches:
        - path: { type: PathPrefix, value: /teapot }
      filters:
        - type: ExtensionRef
          extensionRef: { group: trellis.dev, kind: FaultInjection, name: teapot }
      backendRefs:
        - name: b
          port: 80
    - backendRefs:
        - name: b
          port: 80
`;

async function metric(cp: ControlPlaneProcess, name: string): Promise<number> {
  const res = await request(`${cp.apiUrl}/metrics`);
  const text = await res.body.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

describe('control-plane replicas over etcd', () => {
  let etcd: EtcdCluster | undefined;
  let md: MeshDir | undefined;
  let cp1: ControlPlaneProcess | undefined;
  let cp2: ControlPlaneProcess | undefined;
  let agentProc: SpawnedProcess | undefined;
  let agent: Agent;
  let outPort: number;

  const status = async (path: string): Promise<number> => {
    const res = await request(`http://127.0.0.1:${outPort}${path}`, { dispatcher: agent, headersTimeout: 10_000, bodyTimeout: 10_000 });
    await res.body.text();
    return res.statusCode;
  };
  const proxies = (cp: ControlPlaneProcess): Promise<ProxyView[]> => cp.api<ProxyView[]>('/api/v1/proxies');
  const apply = async (through: ControlPlaneProcess, yaml: string): Promise<void> => {
    const file = join(md!.dir, `apply-${randomBytes(3).toString('hex')}.yaml`);
    await writeFile(file, yaml);
    const r = await through.cli(['apply', '-f', file, '--control-plane', through.apiUrl, '--state-dir', md!.stateDir]);
    assert.equal(r.code, 0, r.stderr);
  };

  before(async () => {
    agent = httpAgent();
    etcd = await startEtcd({ members: 1 });
    const [out, api1, push1, api2, push2] = (await freePorts(5)) as [number, number, number, number, number];
    outPort = out;
    md = await writeMeshDir({ meshYaml: pairMesh({ name: 'it-replicas', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'], outPort }) });
    const sealKey = join(md.dir, 'ca-seal.key');
    await writeFile(sealKey, randomBytes(32).toString('base64'), { mode: 0o600 });
    const store = ['--store', etcd.storeUrl('it-replicas'), '--ca-seal-key-file', sealKey];
    // Replica 1 writes the agent token into the mesh's state dir (the agent reads it there);
    // replica 2 has its own state dir. Both hold the same token: it is shared through etcd.
    cp1 = await startControlPlane({ cwd: md.dir, stateDir: md.stateDir, apiPort: api1, pushPort: push1, trustDomain: TRUST_DOMAIN, args: store });
    cp2 = await startControlPlane({ cwd: md.dir, stateDir: join(md.dir, 'replica-2'), apiPort: api2, pushPort: push2, trustDomain: TRUST_DOMAIN, args: store });
    // Replica 2 first: it issues the bootstrap tokens, so the proxies connect to it first.
    agentProc = await startAgent({ cwd: md.dir, meshFile: md.meshFile, stateDir: md.stateDir, apiUrl: `${cp2.apiUrl},${cp1.apiUrl}`, expectWorkloads: 2 });
  });

  after(async () => {
    const errors: unknown[] = [];
    await agent?.close();
    await agentProc?.kill('SIGTERM').catch((e: unknown) => errors.push(e));
    await cp1?.kill('SIGTERM').catch((e: unknown) => errors.push(e));
    await cp2?.kill('SIGTERM').catch((e: unknown) => errors.push(e));
    await etcd?.stop().catch((e: unknown) => errors.push(e));
    await md?.cleanup().catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw errors[0];
  });

  it('a route applied through replica 1 is served by the proxies connected to replica 2, at the version both replicas agree on', async () => {
    const onTwo = await proxies(cp2!);
    assert.ok(onTwo.length === 2 && onTwo.every((p) => p.connected), `both proxies on replica 2: ${JSON.stringify(onTwo)}`);
    assert.ok((await proxies(cp1!)).every((p) => !p.connected), 'none on replica 1');
    assert.equal(await status('/teapot'), 200);

    await apply(cp1!, teapot(418));
    await waitFor('the proxy behind replica 2 to serve the route', async () => (await status('/teapot')) === 418, { timeoutMs: 20_000 });
    assert.equal(await status('/other'), 200, 'the rest still reaches b');

    const a2 = (await proxies(cp2!)).find((p) => p.nodeId === 'default/a/0');
    const a1 = (await proxies(cp1!)).find((p) => p.nodeId === 'default/a/0');
    assert.ok(a2 !== undefined && a1 !== undefined);
    await waitFor('the ACK on replica 2', async () => (await proxies(cp2!)).find((p) => p.nodeId === 'default/a/0')?.ackedVersion === a2.version, { timeoutMs: 10_000 });
    assert.equal(a1.version, a2.version, 'both replicas compiled the same version for the same content');
  });

  it('replica 2 is SIGKILLed under load: its proxies resume on replica 1 from their version (nothing sent twice), no request fails, the next change arrives', async () => {
    const before = await proxies(cp2!);
    const versions = new Map(before.map((p) => [p.nodeId, p.ackedVersion]));
    assert.ok([...versions.values()].every((v) => v !== null), JSON.stringify(before));
    const pushedBefore = await metric(cp1!, 'trellis_control_snapshots_pushed_total');

    const load = loadLoop(httpGetOutcome(`http://127.0.0.1:${outPort}/load`, agent), { concurrency: 4 });
    try {
      await load.waitForOk(50);
      await cp2!.kill('SIGKILL');
      await waitFor(
        'every proxy connected to replica 1 at the version it had',
        async () => {
          const now = await proxies(cp1!);
          return now.length === versions.size && now.every((p) => p.connected && p.ackedVersion === versions.get(p.nodeId));
        },
        { timeoutMs: 30_000, intervalMs: 200 },
      );
      assert.equal(await metric(cp1!, 'trellis_control_snapshots_pushed_total'), pushedBefore, 'no snapshot was sent again: the hello resumed in sync');
      await load.waitForOk(100);

      // Nothing lost either: the next change (through the surviving replica) reaches them.
      await apply(cp1!, teapot(451));
      await waitFor('the new route on the moved proxy', async () => (await status('/teapot')) === 451, { timeoutMs: 20_000 });
      const after = await proxies(cp1!);
      for (const p of after) assert.ok((p.ackedVersion ?? 0) > (versions.get(p.nodeId) ?? 0) || p.nodeId !== 'default/a/0', JSON.stringify(p));
    } finally {
      const stats = await load.stop();
      assert.equal(stats.failed, 0, `failed requests while replica 2 died:\n${describeFailures(stats)}`);
    }
  });
});
