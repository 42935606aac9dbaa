/**
 * Fault drills over three network-namespace hosts (test/helpers/drill-lab.ts): `client` on h1,
 * `web` with one replica on h2 (replica 0) and one on h3 (replica 1). A load loop from the root
 * namespace goes through client's outbound listener on h1's address, across the bridge, and
 * counts every failed request; each drill breaks something while it runs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndpointView } from '../../src/api/registry.js';
import { failuresOf, underLoad, useDrillLab } from '../helpers/drill-lab.js';
import { httpGetOutcome } from '../helpers/load.js';
import { TRUST_DOMAIN } from '../helpers/meshes.js';
import { labSkipReason } from '../helpers/netns-lab.js';
import { waitFor } from '../helpers/proc.js';
import { serviceRoute } from '../helpers/traffic-mesh.js';

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

describe('fault drills across hosts', { skip: labSkipReason() }, () => {
  const drill = useDrillLab({
    hosts: ['h1', 'h2', 'h3'],
    meshYaml,
    agentHosts: ['h1', 'h2', 'h3'],
    trustDomain: TRUST_DOMAIN,
    expectWorkloads: 3,
  });
  const d = () => drill.get();
  const out = (path: string): string => `http://${d().address('h1')}:${WEB_OUT}${path}`;
  const webHosts = async (): Promise<string[]> => {
    const eps = await d().mesh.api<EndpointView[]>('/api/v1/endpoints');
    return eps.filter((e) => e.service === 'web' && e.ready).map((e) => e.host).sort();
  };

  it('a host cut off (its link down): its endpoint leaves within the lease, requests fail over with none failed, and it rejoins when the link returns', async () => {
    // What keeps callers whole while h3 is silently gone (packets dropped, no reset): a per-try
    // timeout turns a request stuck on a dead connection into a retryable failure, a new
    // connection to h3 fails its connect timeout (retryable for any method), and the retries go
    // to the other endpoint (a failure weighs on the balancer). So the drill asserts 0 failed
    // requests over the whole cut, not only after the lease.
    await d().apply(
      serviceRoute(
        'HTTPRoute',
        'web-failover',
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
    const get = httpGetOutcome(out('/cut'), d().http);
    const stats = await underLoad(async () => {
      const o = await get();
      return o;
    }, async (loop) => {
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
      const res = await fetch(out('/back'));
      await res.text();
      if (res.headers.get('x-echo-replica') === '1') servedByH3AfterRejoin += 1;
      return servedByH3AfterRejoin > 0;
    }, { timeoutMs: 30_000, intervalMs: 100 });
    await d().clear();
  });
});
