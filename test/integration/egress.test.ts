/**
 * Egress through the CLI (`trellis up`): a workload's proxy opens the mesh file's egress
 * listeners; servers on loopback stand in for the outside services (nothing leaves the
 * machine). The test process plays the app: it calls the listeners whose addresses the agent
 * gave the app (the app writes its EGRESS_* variables to a file).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { foreignCredentials } from '../helpers/certs.js';
import { startMesh, type Mesh } from '../helpers/mesh.js';

const APP = `import { writeFileSync } from 'node:fs';
import http from 'node:http';
writeFileSync('egress-env.json', JSON.stringify({ http: process.env.EGRESS_WEB_ADDR, tls: process.env.EGRESS_SECURE_ADDR }));
http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
`;

function meshYaml(name: string, mode: string, httpPort: number, tlsPort: number): string {
  return `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: ${name} }
spec:
  trustDomain: egress.test
  controlPlane: { api: 127.0.0.1:0, push: 127.0.0.1:0 }
  outbound:
    mode: ${mode}
    ports:
      - { name: web, port: ${httpPort}, protocol: http }
      - { name: secure, port: ${tlsPort}, protocol: tls }
  workloads:
    - name: caller
      command: [node, app.mjs]
      ports: [{ name: http }]
`;
}

function resources(httpPort: number, tlsPort: number): string {
  const ext = (name: string, host: string, port: number, protocol: string): string => `apiVersion: trellis.dev/v1alpha1
kind: ExternalService
metadata: { name: ${name} }
spec: { hostname: ${host}, port: ${port}, protocol: ${protocol}, endpoints: [{ address: 127.0.0.1 }] }
`;
  return [
    ext('docs', 'docs.outside.test', httpPort, 'HTTP'),
    ext('payments', 'pay.outside.test', tlsPort, 'TLS'),
    ext('forbidden', 'forbidden.outside.test', httpPort, 'HTTP'),
    ext('forbidden-tls', 'forbidden-tls.outside.test', tlsPort, 'TLS'),
    // Only another workload may use "forbidden": this caller is refused by its own proxy.
    ...['forbidden', 'forbidden-tls'].map((t) => `apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: only-batch-${t} }
spec:
  targetRef: { group: trellis.dev, kind: ExternalService, name: ${t} }
  defaultAction: deny
  action: ALLOW
  rules: [{ from: [{ source: { serviceAccounts: [batch] } }] }]
`),
  ].join('---\n');
}

interface Outside {
  httpPort: number;
  tlsPort: number;
  /** Host headers and SNI names the outside servers saw. */
  seen: string[];
  close(): Promise<void>;
}

async function outsideServers(): Promise<Outside> {
  const seen: string[] = [];
  const h = http.createServer((req, res) => {
    seen.push(`http:${req.headers.host ?? ''}${req.url ?? ''}`);
    res.end(`outside says hi to ${req.headers.host ?? ''}`);
  });
  const creds = foreignCredentials('spiffe://outside.test/ns/x/sa/y');
  const t = tls.createServer({ cert: creds.certPem, key: creds.keyPem }, (s) => {
    seen.push(`tls:${(s as tls.TLSSocket & { servername?: string }).servername ?? ''}`);
    s.end('secure hello\n');
  });
  await new Promise<void>((r) => h.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => t.listen(0, '127.0.0.1', r));
  return {
    httpPort: (h.address() as net.AddressInfo).port,
    tlsPort: (t.address() as net.AddressInfo).port,
    seen,
    close: async () => {
      h.closeAllConnections();
      await new Promise((r) => h.close(r));
      await new Promise((r) => t.close(r));
    },
  };
}

async function egressAddrs(mesh: Mesh): Promise<{ http: string; tls: string }> {
  for (let i = 0; i < 100; i++) {
    try {
      return JSON.parse(await readFile(join(mesh.dir, 'egress-env.json'), 'utf8')) as { http: string; tls: string };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error('the app never wrote its egress variables');
}

async function httpVia(addr: string, host: string, path = '/'): Promise<{ status: number; reason: string | undefined; body: string }> {
  const res = await request(`http://${addr}${path}`, { headers: { host }, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const body = await res.body.text();
  const reason = res.headers['trellis-reason'];
  return { status: res.statusCode, reason: typeof reason === 'string' ? reason : undefined, body };
}

/** TLS through the egress listener: the app's own session with the outside server (resolves to what it read, or `reset`). */
function tlsVia(addr: string, servername: string): Promise<string> {
  const [host, port] = addr.split(':') as [string, string];
  return new Promise((resolve) => {
    const s = tls.connect({ host, port: Number(port), servername, rejectUnauthorized: false });
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('end', () => resolve(got));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNRESET' || /socket disconnected/.test(e.message) ? 'reset' : `error ${e.message}`));
  });
}

async function proxyMetrics(mesh: Mesh): Promise<string> {
  const proxies = await mesh.getJson<{ nodeId: string; adminUrl: string | null }[]>('proxies');
  const p = proxies.find((x) => x.nodeId.includes('/caller/'));
  assert.ok(p?.adminUrl, 'the caller proxy has an admin URL');
  const res = await request(`${p.adminUrl}/metrics`);
  return res.body.text();
}

for (const mode of ['registryOnly', 'allowAny'] as const) {
  describe(`egress, outbound mode ${mode}`, () => {
    let outside: Outside;
    let mesh: Mesh | undefined;
    let addrs: { http: string; tls: string };

    before(async () => {
      outside = await outsideServers();
      mesh = await startMesh({
        meshYaml: meshYaml(`it-egress-${mode.toLowerCase()}`, mode, outside.httpPort, outside.tlsPort),
        files: { 'app.mjs': APP, 'resources/egress.yaml': resources(outside.httpPort, outside.tlsPort) },
      });
      addrs = await egressAddrs(mesh);
    });

    after(async () => {
      await mesh?.stop();
      await outside?.close();
    });

    it('HTTP to a declared ExternalService goes through, by Host or as an HTTP proxy (absolute-form)', async () => {
      const r = await httpVia(addrs.http, 'docs.outside.test', '/guide');
      assert.equal(r.status, 200);
      assert.equal(r.body, 'outside says hi to docs.outside.test');
      const [host, port] = addrs.http.split(':') as [string, string];
      const status = await new Promise<number>((resolve, reject) => {
        http.get({ host, port: Number(port), path: 'http://docs.outside.test/proxied' }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        }).on('error', reject);
      });
      assert.equal(status, 200);
      assert.ok(outside.seen.includes('http:docs.outside.test/proxied'), outside.seen.join(' '));
    });

    it(`HTTP to an undeclared host is ${mode === 'registryOnly' ? 'refused: 403 egress-denied' : 'passed through'}`, async () => {
      const r = await httpVia(addrs.http, `127.0.0.1:${outside.httpPort}`, '/undeclared');
      if (mode === 'registryOnly') {
        assert.equal(r.status, 403);
        assert.equal(r.reason, 'egress-denied');
        assert.ok(!outside.seen.some((s) => s.endsWith('/undeclared')), 'the outside server never saw it');
      } else {
        assert.equal(r.status, 200);
        assert.ok(outside.seen.some((s) => s.endsWith('/undeclared')));
      }
    });

    it('TLS passthrough by SNI to a declared ExternalService: the app talks TLS with the outside server itself', async () => {
      assert.equal(await tlsVia(addrs.tls, 'pay.outside.test'), 'secure hello\n');
      assert.ok(outside.seen.includes('tls:pay.outside.test'));
    });

    it(`TLS to an undeclared name is ${mode === 'registryOnly' ? 'reset' : 'passed through to that name'}`, async () => {
      const got = await tlsVia(addrs.tls, 'localhost');
      assert.equal(got, mode === 'registryOnly' ? 'reset' : 'secure hello\n');
    });

    it('authorization on the caller side: an ExternalService only another workload may use is refused (403 unauthorized, TLS reset)', async () => {
      const r = await httpVia(addrs.http, 'forbidden.outside.test', '/secret');
      assert.equal(r.status, 403);
      assert.equal(r.reason, 'unauthorized');
      assert.ok(!outside.seen.some((s) => s.endsWith('/secret')));
      assert.equal(await tlsVia(addrs.tls, 'forbidden-tls.outside.test'), 'reset');
      assert.ok(!outside.seen.includes('tls:forbidden-tls.outside.test'));
    });

    it('tap shows egress requests with the ExternalService as destination, and the refusals with their reason', async () => {
      const m = mesh as Mesh;
      const res = await request(`${m.apiUrl}/api/v1/tap?workload=default/caller&max=2`, { headers: { accept: 'text/event-stream', ...m.authHeaders() }, bodyTimeout: 20_000 });
      assert.equal(res.statusCode, 200);
      res.body.setEncoding('utf8');
      let text = '';
      let sent: Promise<unknown> | undefined;
      for await (const chunk of res.body as AsyncIterable<string>) {
        text += chunk;
        if (sent === undefined && text.includes('"kind":"attached"')) {
          sent = (async () => {
            await httpVia(addrs.http, 'docs.outside.test', '/tapped');
            await httpVia(addrs.http, 'forbidden.outside.test', '/tapped-denied');
          })();
        }
      }
      await sent;
      const events = text
        .split('\n\n')
        .filter((f) => f.startsWith('data: '))
        .map((f) => JSON.parse(f.slice(6)) as { kind: string; event?: { path: string; status: number; reason?: string; dst: { service: string }; direction: string; policy?: string } })
        .filter((e) => e.kind === 'request')
        .map((e) => e.event);
      assert.deepEqual(
        events.map((e) => [e?.direction, e?.path, e?.status, e?.dst.service, e?.reason]),
        [
          ['outbound', '/tapped', 200, 'default/docs', undefined],
          ['outbound', '/tapped-denied', 403, 'default/forbidden', 'unauthorized'],
        ],
      );
      assert.equal(events[1]?.policy, 'default', 'the deciding rule: the default of the ExternalService (deny), since no ALLOW matched');
    });

    it('metrics name the ExternalService as the destination, with the decisions', async () => {
      const text = await proxyMetrics(mesh as Mesh);
      const lines = text.split('\n');
      const has = (re: RegExp): boolean => lines.some((l) => re.test(l));
      const series = (...parts: string[]): boolean => lines.some((l) => l.startsWith('trellis_requests_total{') && parts.every((p) => l.includes(p)));
      assert.ok(series('direction="outbound"', 'dst_service="docs"', 'status_code="200"'), lines.filter((l) => l.startsWith('trellis_requests_total')).join('\n'));
      assert.ok(series('dst_service="forbidden"', 'status_code="403"', 'reason="unauthorized"'));
      if (mode === 'registryOnly') assert.ok(series('dst_service="unregistered"', 'status_code="403"', 'reason="egress-denied"'));
      assert.ok(has(/^trellis_egress_connections_total\{listener="egress-secure",destination="default\/payments",decision="allowed"\} [1-9]/));
      assert.ok(has(/^trellis_egress_connections_total\{listener="egress-secure",destination="default\/forbidden-tls",decision="unauthorized"\} [1-9]/));
      if (mode === 'registryOnly') assert.ok(has(/^trellis_egress_connections_total\{listener="egress-secure",destination="unregistered",decision="denied"\} [1-9]/));
      else assert.ok(has(/^trellis_egress_connections_total\{listener="egress-secure",destination="passthrough",decision="allowed"\} [1-9]/));
    });
  });
}
