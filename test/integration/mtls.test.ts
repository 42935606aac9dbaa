/**
 * The inbound mTLS listener refuses anyone without a mesh certificate: a plain TCP/HTTP client,
 * a TLS client without a certificate, a TLS client whose certificate (with a valid-looking
 * SPIFFE ID) comes from another CA. The same listener serves a's proxy (control), and
 * `trellis check` passes on the healthy mesh.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import { request, type Agent } from 'undici';
import type { CheckReport, EndpointView, ProxyView } from '../../src/api/registry.js';
import { foreignCredentials } from '../helpers/certs.js';
import { httpAgent, startMesh, type Mesh } from '../helpers/mesh.js';
import { pairMesh, spiffeId } from '../helpers/meshes.js';
import { freePort, waitFor } from '../helpers/proc.js';

interface Attempt {
  /** Everything the server sent back. */
  data: string;
  /** Error that ended the connection, if any (a TLS alert, a reset). */
  error: string | null;
  /** True when the server closed the connection (rather than our 10 s bound ending it). */
  closedByServer: boolean;
}

/** Sends an HTTP request over `socket` once it is ready and collects the answer until close. */
function attempt(socket: net.Socket, readyEvent: 'connect' | 'secureConnect'): Promise<Attempt> {
  return new Promise((resolve) => {
    let data = '';
    let error: string | null = null;
    let closedByServer = true;
    const timer = setTimeout(() => {
      closedByServer = false;
      socket.destroy();
    }, 10_000);
    socket.on(readyEvent, () => socket.write('GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n'));
    socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
    socket.on('error', (err) => (error = `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ data, error, closedByServer });
    });
  });
}

function assertNoAppResponse(a: Attempt, what: string, t: { diagnostic(msg: string): void }): void {
  t.diagnostic(`${what}: ${a.closedByServer ? 'closed by the server' : 'no answer within 10 s'}, error=${a.error ?? 'none'}, ${a.data.length} byte(s) received`);
  assert.ok(!a.data.includes('HTTP/1.'), `${what}: got an HTTP response through the inbound listener: ${JSON.stringify(a.data.slice(0, 200))}`);
  assert.ok(!a.data.includes('"workload"'), `${what}: the app answered`);
}

describe('mTLS on the inbound listener', () => {
  let mesh: Mesh | undefined;
  let agent: Agent;
  let outPort: number;
  let inbound: EndpointView;

  before(async () => {
    agent = httpAgent();
    outPort = await freePort();
    mesh = await startMesh({ meshYaml: pairMesh({ name: 'it-mtls', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'], outPort }) });
    const endpoints = await mesh.getJson<EndpointView[]>('endpoints');
    const b = endpoints.find((e) => e.service === 'b');
    assert.ok(b, `get endpoints lists b: ${JSON.stringify(endpoints)}`);
    inbound = b;
  });

  after(async () => {
    await agent?.close();
    await mesh?.stop();
  });

  it('control: a\'s proxy reaches b through that inbound listener', async () => {
    assert.equal(inbound.identity, spiffeId('b'));
    const res = await request(`http://127.0.0.1:${outPort}/control`, { dispatcher: agent });
    const body = (await res.body.json()) as { workload: string; headers: Record<string, string> };
    assert.equal(res.statusCode, 200);
    assert.equal(body.workload, 'b');
    assert.equal(body.headers['trellis-peer-identity'], spiffeId('a'));
  });

  it('refuses a plain TCP/HTTP client', async (t) => {
    const a = await attempt(net.connect(inbound.portNumber, inbound.host), 'connect');
    assertNoAppResponse(a, 'plain HTTP', t);
  });

  it('refuses a TLS client without a certificate', async (t) => {
    const socket = tls.connect({ host: inbound.host, port: inbound.portNumber, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], servername: 'b' });
    const a = await attempt(socket, 'secureConnect');
    assertNoAppResponse(a, 'TLS without a client certificate', t);
  });

  it('refuses a TLS client with a certificate from another CA (same SPIFFE ID as a)', async (t) => {
    const foreign = foreignCredentials(spiffeId('a'));
    const prior = (await mesh!.getJson<ProxyView[]>('proxies')).find((p) => p.nodeId === inbound.nodeId);
    assert.ok(prior, `get proxies lists ${inbound.nodeId}`);
    const socket = tls.connect({
      host: inbound.host,
      port: inbound.portNumber,
      rejectUnauthorized: false,
      cert: foreign.certPem,
      key: foreign.keyPem,
      ALPNProtocols: ['http/1.1'],
      servername: 'b',
    });
    const a = await attempt(socket, 'secureConnect');
    assertNoAppResponse(a, 'TLS with a foreign certificate', t);
    // The refusal shows in b's proxy's counters (reported to the control plane).
    {
      await waitFor(
        `tlsFailures of ${inbound.nodeId} to grow past ${prior.tlsFailures}`,
        async () => {
          const now = (await mesh!.getJson<ProxyView[]>('proxies')).find((p) => p.nodeId === inbound.nodeId);
          return now !== undefined && now.tlsFailures > prior.tlsFailures;
        },
        { timeoutMs: 30_000, intervalMs: 500 },
      );
    }
  });

  it('trellis check -o json exits 0 on the healthy mesh', async () => {
    const r = await mesh!.cli(['check', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const report = JSON.parse(r.stdout) as CheckReport;
    assert.equal(report.ok, true);
    assert.ok(report.checks.length > 0);
    assert.ok(report.checks.every((c) => c.ok), JSON.stringify(report.checks));
  });
});
