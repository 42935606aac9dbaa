/**
 * Fault drills over three network-namespace hosts (test/helpers/drill-lab.ts), deployed as on
 * real machines (test/lab/trellis-lab.ts): an etcd member on each of h1, h2, h3, control-plane
 * replicas on h1 (replica 1) and h2 (replica 2) over that etcd, an agent on every host joined
 * with a token; `client` on h1, `web` with one replica on h2 (web/0) and one on h3 (web/1).
 * A load loop from the root namespace goes through client's outbound listener on h1's address,
 * across the bridge, and counts every failed request; each drill breaks something while it
 * runs, and asserts the failure count (never a duration).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import type { EndpointView, WorkloadView } from '../../src/api/registry.js';
import type { DrillLab } from '../helpers/drill-lab.js';
import { failuresOf, underLoad, useDrillLab } from '../helpers/drill-lab.js';
import { endpointStatus, etcdHealthy, etcdLeader } from '../helpers/etcd-drill.js';
import type { Outcome } from '../helpers/load.js';
import { TRUST_DOMAIN } from '../helpers/meshes.js';
import { labSkipReason } from '../helpers/netns-lab.js';
import { sleep, waitFor } from '../helpers/proc.js';
import { serviceRoute } from '../helpers/traffic-mesh.js';
import type { LabEtcdMember } from '../lab/trellis-lab.js';

const WEB_OUT = 7201;
/** The agents' lease (src/agent/agent.ts default): a host silent this long loses its endpoints. */
const LEASE_MS = 15_000;

const meshYaml = (address: (h: string) => string): string => `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: it-drills-faults
spec:
  trustDomain: ${TRUST_DOMAIN}
  workloads:
    - name: client
      hosts: [h1]
      command: [node, http-echo.mjs]
      ports: [{ name: http }]
      upstreams:
        - { service: web, port: http, listen: "${address('h1')}:${WEB_OUT}" }
    - name: web
      hosts: [h2, h3]
      command: [node, http-echo.mjs]
      ports: [{ name: http }]
      readiness: { httpGet: { path: /healthz, port: http }, periodSeconds: 1 }
`;

/** A route for web that sets `x-drill: <tag>` on every request (the echo shows it): a change a proxy visibly serves. */
const tagRoute = (tag: string): string =>
  serviceRoute(
    'HTTPRoute',
    'web-tag',
    'web',
    `    - backendRefs: [{ name: web, port: 80 }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { set: [{ name: x-drill, value: ${tag} }] }
`,
  );

/** Starts an etcd member again on its host with its data dir (a crashed machine back). */
function restartMember(d: DrillLab, e: LabEtcdMember): void {
  e.process = d.lab.spawn(e.member.host.name, e.member.argv, { logFile: e.member.logFile, cwd: join(e.member.dataDir, '..') });
}

function killMember(e: LabEtcdMember): void {
  e.process.kill('SIGKILL');
}

describe('fault drills across hosts', { skip: labSkipReason(['etcd', 'etcdctl']) }, () => {
  const drill = useDrillLab({
    hosts: ['h1', 'h2', 'h3'],
    meshYaml,
    agentHosts: ['h1', 'h2', 'h3'],
    trustDomain: TRUST_DOMAIN,
    expectWorkloads: 3,
  });
  const d = () => drill.get();
  const out = (path: string): string => `http://${d().address('h1')}:${WEB_OUT}${path}`;
  /** The load loop's request: a GET through client's outbound listener; ok on 200. Remembers the newest x-drill tag served. */
  let servedTag = '';
  const drillGet = async (): Promise<Outcome> => {
    const res = await request(out('/drill'), { dispatcher: d().http, headersTimeout: 15_000, bodyTimeout: 15_000 });
    const text = await res.body.text();
    if (res.statusCode !== 200) return { ok: false, status: res.statusCode, reason: String(res.headers['trellis-reason'] ?? ''), detail: text.slice(0, 200) };
    servedTag = String((JSON.parse(text) as { headers: Record<string, string> }).headers['x-drill'] ?? '');
    return { ok: true, status: 200 };
  };
  /** Applies tagRoute(tag) through `replica` and waits until the load loop's requests carry it. */
  const changeServed = async (tag: string, replica: number): Promise<void> => {
    await d().apply(tagRoute(tag), replica);
    await waitFor(`requests served with route tag ${tag}`, () => servedTag === tag, { timeoutMs: 30_000, intervalMs: 50 });
  };
  const nodeOf = async (workload: string, replica: number): Promise<string> => {
    const ws = await d().mesh.api<WorkloadView[]>('/api/v1/workloads');
    const r = ws.filter((w) => w.name === workload).flatMap((w) => w.replicas).find((x) => x.replica === replica);
    assert.ok(r, `${workload}/${replica} registered`);
    return r.nodeId;
  };
  const webHosts = async (): Promise<string[]> => {
    const eps = await d().mesh.api<EndpointView[]>('/api/v1/endpoints');
    return eps.filter((e) => e.service === 'web' && e.ready).map((e) => e.host).sort();
  };

  it('a route change applied through one replica is served by a proxy connected to the other, none failed', async () => {
    const m = d().mesh;
    const client = await nodeOf('client', 0);
    const connectedTo = (await m.connectedProxies()).get(client);
    assert.ok(connectedTo !== undefined, 'client\'s proxy is connected to a replica');
    const other = m.apiUrls.findIndex((u) => u !== connectedTo);
    assert.ok(other >= 0);
    const stats = await underLoad(drillGet, async () => changeServed(`via-${other + 1}`, other));
    assert.equal(stats.failed, 0, failuresOf(stats));
    assert.equal((await m.connectedProxies()).get(client), connectedTo, 'client\'s proxy stayed on its replica: the change came through etcd');
  });

  it('SIGKILL of one etcd member, then of the etcd leader, under load: none failed, and changes still reach the proxies', async () => {
    const m = d().mesh;
    const stats = await underLoad(drillGet, async () => {
      const leader = await etcdLeader(m.etcdEndpoints);
      const follower = m.etcd.find((e) => e.member.clientUrl !== leader)!;
      killMember(follower);
      await changeServed('etcd-follower-down', 0);
      restartMember(d(), follower);
      await etcdHealthy(m.etcdEndpoints);

      const leaderNow = await etcdLeader(m.etcdEndpoints);
      const killed = m.etcd.find((e) => e.member.clientUrl === leaderNow)!;
      killMember(killed);
      // The two left elect a leader of their own; the control planes' clients follow it.
      await waitFor('a new etcd leader', async () => (await endpointStatus(m.etcdEndpoints.filter((u) => u !== leaderNow))).some((s) => s.leader), { timeoutMs: 30_000, intervalMs: 300 });
      await changeServed('etcd-leader-down', 1);
      restartMember(d(), killed);
      await etcdHealthy(m.etcdEndpoints);
    });
    assert.equal(stats.failed, 0, failuresOf(stats));
  });

  it('all of etcd down for 30 s under load: proxies keep serving their last config, none failed; the control plane recovers by itself', async () => {
    const m = d().mesh;
    let refusedWhileDown = '';
    const stats = await underLoad(drillGet, async () => {
      for (const e of m.etcd) killMember(e);
      // A write has nowhere to go: it is refused, not half-done.
      const file = join(d().meshDir.dir, 'while-etcd-down.yaml');
      await writeFile(file, tagRoute('while-down'));
      const r = await m.cli(['apply', '-f', file, '--control-plane', m.apiUrl], { timeoutMs: 60_000 });
      refusedWhileDown = `${r.code}: ${r.stderr.trim()}`;
      // The outage lasts 30 s (a duration of the drill, not an assertion); the loop keeps counting.
      await sleep(30_000);
      for (const e of m.etcd) restartMember(d(), e);
      await etcdHealthy(m.etcdEndpoints);
      // Nobody restarts the control planes: a later change is applied and pushed.
      await waitFor('the control plane to take a change again', async () => {
        try {
          await changeServed('after-etcd', 0);
          return true;
        } catch {
          return false;
        }
      }, { timeoutMs: 90_000, intervalMs: 1000 });
    });
    assert.equal(stats.failed, 0, failuresOf(stats));
    assert.doesNotMatch(refusedWhileDown, /^0:/, `a write while etcd is down is refused (got ${refusedWhileDown})`);
    assert.equal(servedTag, 'after-etcd');
  });

  it('SIGKILL of a control-plane replica under load: none failed, its proxies move to the other replica, and a later change reaches them', async () => {
    const m = d().mesh;
    // Replica 2 (h2) configures h2's proxies (h2's agent lists it first); replica 1 stays.
    const victim = m.replicas[1]!;
    const web0 = await nodeOf('web', 0);
    assert.equal((await m.connectedProxies()).get(web0), victim.apiUrl, 'web/0 on h2 is connected to replica 2 before the drill');
    const stats = await underLoad(drillGet, async () => {
      victim.process.kill('SIGKILL');
      await waitFor('every proxy connected to replica 1', async () => {
        const connected = await m.replica(0).api<{ nodeId: string; connected: boolean }[]>('/api/v1/proxies');
        const nodes = (await m.api<WorkloadView[]>('/api/v1/workloads')).flatMap((w) => w.replicas.map((r) => r.nodeId));
        return nodes.every((n) => connected.some((p) => p.nodeId === n && p.connected));
      }, { timeoutMs: 60_000, intervalMs: 300 });
      await changeServed('after-replica-kill', 0);
    });
    assert.equal(stats.failed, 0, failuresOf(stats));
    assert.equal((await m.connectedProxies()).get(web0), m.apiUrls[0], 'web/0 moved to replica 1');
  });

  it('a host cut off (its link down): its endpoint leaves within the lease, requests fail over with none failed, and it rejoins when the link returns', async () => {
    // What keeps callers whole while h3 is silently gone (packets dropped, no reset): a per-try
    // timeout turns a request stuck on a dead connection into a retryable failure, a new
    // connection to h3 fails its connect timeout (retryable for any method), and the retries go
    // to the other endpoint (a failure weighs on the balancer). So the drill asserts 0 failed
    // requests over the whole cut, not only after the lease.
    await d().apply(
      serviceRoute(
        'HTTPRoute',
        'web-tag',
        'web',
        `    - backendRefs: [{ name: web, port: 80 }]
      timeouts: { request: 12s, backendRequest: 1s }
      retry: { attempts: 3, backoff: 20ms }
`,
      ),
    );
    const h2 = d().address('h2');
    const h3 = d().address('h3');
    assert.deepEqual(await webHosts(), [h2, h3]);
    let servedByH3AfterRejoin = 0;
    let rejoined = false;
    const stats = await underLoad(drillGet, async (loop) => {
      await d().lab.cut('h3');
      // The control plane hears nothing from h3's agent; the lease ends; every proxy is told.
      await waitFor('h3\'s endpoint of web to leave the registry', async () => (await webHosts()).join() === h2, { timeoutMs: LEASE_MS + 15_000, intervalMs: 250 });
      await loop.waitForOk(100, 60_000);
      await d().lab.rejoin('h3');
      rejoined = true;
      await waitFor('h3\'s endpoint of web back', async () => (await webHosts()).join() === [h2, h3].join(), { timeoutMs: 60_000, intervalMs: 250 });
      await loop.waitForOk(50, 60_000);
    });
    assert.ok(rejoined);
    assert.equal(stats.failed, 0, failuresOf(stats));
    // And h3 serves again once it is back.
    await waitFor('a request served by web on h3 again', async () => {
      const res = await request(out('/back'), { dispatcher: d().http });
      await res.body.text();
      if (res.headers['x-echo-replica'] === '1') servedByH3AfterRejoin += 1;
      return servedByH3AfterRejoin > 0;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    await d().clear();
  });
});
