/**
 * mTLS modes and the plaintext bypass, through the CLI on a real mesh:
 * - apps that listen on 0.0.0.0 and on [::] (as third-party services meshed as-is do) make
 *   `trellis check` fail, naming the workload and the address; an app on 127.0.0.1 does not;
 *   the dashboard's workload status carries the same finding;
 * - a PERMISSIVE workload serves a plaintext client and an mTLS client (through a caller's
 *   proxy) on the same inbound port, and the plaintext one has no identity; a STRICT one
 *   refuses the plaintext client. Plaintext callers show in the dashboard's workload status.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request, type Agent } from 'undici';
import type { CheckReport, EndpointView } from '../../src/api/registry.js';
import type { WorkloadStatusView } from '../../src/api/stats.js';
import { httpAgent, startMesh, type Mesh } from '../helpers/mesh.js';
import { spiffeId, TRUST_DOMAIN } from '../helpers/meshes.js';
import { freePort, waitFor } from '../helpers/proc.js';

// An HTTP app on $PORT at the host given as its argument; answers with the caller identity its proxy passed on.
const LISTEN_ON = `import http from 'node:http';
const host = process.argv[2];
http.createServer((req, res) => res.end(JSON.stringify({ peer: req.headers['trellis-peer-identity'] ?? null }))).listen(Number(process.env.PORT), host);
`;

function meshYaml(outPort: number): string {
  return `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: it-bypass }
spec:
  trustDomain: ${TRUST_DOMAIN}
  controlPlane: { api: 127.0.0.1:0, push: 127.0.0.1:0 }
  accessLog: "off"
  workloads:
    - { name: wide4, command: [node, listen-on.mjs, 0.0.0.0], ports: [{ name: http }] }
    - { name: wide6, command: [node, listen-on.mjs, "::"], ports: [{ name: http }] }
    - { name: local, command: [node, listen-on.mjs, 127.0.0.1], ports: [{ name: http }] }
    - name: legacy
      mtls: PERMISSIVE
      command: [node, listen-on.mjs, 127.0.0.1]
      ports: [{ name: http }]
    - name: caller
      command: [node, listen-on.mjs, 127.0.0.1]
      ports: [{ name: http }]
      upstreams: [{ service: legacy, port: http, listen: "127.0.0.1:${outPort}" }]
`;
}

async function get(url: string, dispatcher: Agent): Promise<{ status: number; body: string }> {
  const res = await request(url, { dispatcher, headersTimeout: 10_000, bodyTimeout: 10_000 });
  return { status: res.statusCode, body: await res.body.text() };
}

/** Sends a plaintext HTTP request and collects whatever comes back until the server closes. */
function plaintext(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'));
    let data = '';
    s.on('data', (d: Buffer) => (data += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve(data));
  });
}

describe('plaintext bypass and mTLS modes', () => {
  let mesh: Mesh | undefined;
  let agent: Agent;
  let outPort: number;
  let endpoints: EndpointView[];
  const inboundOf = (service: string): number => {
    const e = endpoints.find((x) => x.service === service);
    assert.ok(e, `an endpoint of ${service}`);
    return e.portNumber;
  };

  before(async () => {
    agent = httpAgent();
    outPort = await freePort();
    mesh = await startMesh({ meshYaml: meshYaml(outPort), files: { 'listen-on.mjs': LISTEN_ON } });
    endpoints = await mesh.getJson<EndpointView[]>('endpoints');
  });

  after(async () => {
    await agent?.close();
    await mesh?.stop();
  });

  it('trellis check fails naming the apps on 0.0.0.0 and [::], not the one on 127.0.0.1', async () => {
    const m = mesh as Mesh;
    // the agent scans every 2 s: wait until its report carries both findings
    const report = await waitFor(
      'check to report both apps',
      async () => {
        const r = await m.cli(['check', '-o', 'json']);
        const parsed = JSON.parse(r.stdout) as CheckReport;
        const bypass = parsed.checks.find((c) => c.name === 'apps reachable only through their proxy');
        return bypass !== undefined && /wide4/.test(bypass.detail) && /wide6/.test(bypass.detail) ? { code: r.code, bypass } : undefined;
      },
      { timeoutMs: 30_000 },
    );
    assert.equal(report.code, 1);
    assert.equal(report.bypass.ok, false);
    assert.match(report.bypass.detail, /wide4: app listens on 0\.0\.0\.0:\d+, reachable without mTLS/);
    assert.match(report.bypass.detail, /wide6: app listens on \[::\]:\d+, reachable without mTLS/);
    assert.doesNotMatch(report.bypass.detail, /local:|legacy:|caller:/);
    const text = await m.cli(['check']);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /FAIL\s+apps reachable only through their proxy\s+.*wide4: app listens on 0\.0\.0\.0:\d+/);
    const rows = await m.api<WorkloadStatusView[]>('/api/v1/workloads/status');
    const wide4 = rows.find((r) => r.workload === 'wide4');
    assert.match(wide4?.exposed[0]?.address ?? '', /^0\.0\.0\.0:\d+$/);
    assert.equal(wide4?.exposed[0]?.closed, false);
    assert.deepEqual(rows.find((r) => r.workload === 'local')?.exposed, []);
  });

  it('PERMISSIVE serves a plaintext client (no identity) and an mTLS client (its identity) on one port', async () => {
    const plain = await plaintext(inboundOf('legacy'));
    assert.match(plain, /^HTTP\/1\.1 200 /);
    assert.match(plain, /\{"peer":null\}/);
    const meshed = await get(`http://127.0.0.1:${outPort}/`, agent);
    assert.equal(meshed.status, 200);
    assert.deepEqual(JSON.parse(meshed.body), { peer: spiffeId('caller') });
  });

  it('STRICT refuses the plaintext client: no HTTP answer, the app never sees it', async () => {
    const reply = await plaintext(inboundOf('local'));
    assert.doesNotMatch(reply, /HTTP\/1\./);
  });

  it('the dashboard shows each port\'s mode and the PERMISSIVE port\'s plaintext callers', async () => {
    const m = mesh as Mesh;
    // proxies report status every 10 s
    const legacy = await waitFor(
      'plaintext callers in the workload status',
      async () => {
        const rows = await m.api<WorkloadStatusView[]>('/api/v1/workloads/status');
        const row = rows.find((r) => r.workload === 'legacy');
        return (row?.ports[0]?.plaintextConnections ?? 0) >= 1 ? row : undefined;
      },
      { timeoutMs: 30_000 },
    );
    assert.equal(legacy?.ports[0]?.mtls, 'PERMISSIVE');
    const rows = await m.api<WorkloadStatusView[]>('/api/v1/workloads/status');
    assert.deepEqual(rows.find((r) => r.workload === 'local')?.ports, [{ name: 'http', mtls: 'STRICT', plaintextConnections: null }]);
  });
});
