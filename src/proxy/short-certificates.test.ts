/**
 * Short certificate lifetimes, with two real proxies (runProxy) and a real control plane in
 * this process: at certificateTTL 1 s and 2 s requests keep flowing over mTLS across several
 * rotations; a proxy whose certificate expired while the control plane was away says so on
 * /ready and renews with its expired certificate once the control plane is back.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ProxyBootstrap } from '../api/bootstrap.js';
import type { ControlPlane } from '../control/control-plane.js';
import { agentReport, api, startControlPlane, tempDir, until, workload } from '../control/test-support.js';
import { silentLogger } from '../telemetry/logger.js';
import { runProxy, type RunningProxy } from './main.js';

const BACKEND = 'spiffe://test.local/ns/default/sa/backend';
const FRONTEND = 'spiffe://test.local/ns/default/sa/frontend';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface Pair {
  cp: ControlPlane;
  a: RunningProxy;
  b: RunningProxy;
  outboundPort: number;
  stateDir: string;
  pushPort: number;
}

/** A control plane with `certTtlMs`, backend proxy b in front of the app, frontend proxy a with an outbound listener to b. */
async function startPair(dir: string, appPort: number, certTtlMs: number): Promise<Pair> {
  const pushPort = await freePort();
  const stateDir = join(dir, 'cp');
  const cp = await startControlPlane(stateDir, { certTtlMs, push: { host: '127.0.0.1', port: pushPort } });
  const inboundPort = await freePort();
  const outboundPort = await freePort();
  const report = agentReport('a1', [
    workload('backend', { readyPorts: [inboundPort] }),
    workload('frontend', { readyPorts: [await freePort()], upstreams: ['default/backend:http'] }),
  ]);
  assert.equal((await api(cp, 'PUT', '/api/v1/agents/a1', report)).status, 200);
  const write = async (name: string, identity: string, rest: Pick<ProxyBootstrap, 'inbound' | 'outbound'>): Promise<string> => {
    const nodeId = `default/${name}/0`;
    const t = await api(cp, 'POST', '/api/v1/agents/a1/tokens', { nodeId, identity });
    const tok = t.json as { token: string; pushUrl: string; trustBundlePem: string[]; controlPlaneIdentity: string };
    const b: ProxyBootstrap = {
      node: { id: nodeId, namespace: 'default', workload: name, service: name, serviceAccount: name, replica: 0, identity },
      controlPlane: { pushUrl: tok.pushUrl, trustBundlePem: tok.trustBundlePem, identity: tok.controlPlaneIdentity, token: tok.token },
      admin: { host: '127.0.0.1', port: 0 },
      ...rest,
      drainTimeoutMs: 1_000,
      accessLog: 'off',
      logLevel: 'error',
    };
    const path = join(dir, `${name}-${certTtlMs}.json`);
    await writeFile(path, JSON.stringify(b), { mode: 0o600 });
    return path;
  };
  const bPath = await write('backend', BACKEND, {
    inbound: [{ name: 'http', protocol: 'http', listen: { host: '127.0.0.1', port: inboundPort }, app: { host: '127.0.0.1', port: appPort } }],
    outbound: [],
  });
  const aPath = await write('frontend', FRONTEND, {
    inbound: [],
    outbound: [{ name: 'backend', protocol: 'http', listen: { host: '127.0.0.1', port: outboundPort }, cluster: 'default/backend:http' }],
  });
  const b = await runProxy(bPath, { logger: silentLogger() });
  const a = await runProxy(aPath, { logger: silentLogger() });
  return { cp, a, b, outboundPort, stateDir, pushPort };
}

/**
 * A new mTLS connection from a to b's inbound listener, made as a's connection pool makes one
 * (a's current client options), with one request on it: each handshake uses the certificates
 * both proxies hold at that moment.
 */
function newConnectionGet(p: Pair): Promise<number> {
  return new Promise((resolve) => {
    const port = p.b.runtime.listener('http', 'inbound')?.port ?? 0;
    const socket = tls.connect({ host: '127.0.0.1', port, ...p.a.runtime.tls.clientOptions(BACKEND, ['http/1.1']) });
    let text = '';
    socket.setEncoding('latin1');
    socket.once('secureConnect', () => socket.write('GET / HTTP/1.1\r\nhost: backend\r\nconnection: close\r\n\r\n'));
    socket.on('data', (d: string) => (text += d));
    socket.on('error', () => {});
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
  });
}

async function get(port: number): Promise<number> {
  return fetch(`http://127.0.0.1:${port}/`).then(
    async (r) => (await r.text(), r.status),
    () => 0,
  );
}

describe('short certificate lifetimes', () => {
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let app: http.Server;
  let appPort = 0;
  const running: Pair[] = [];

  before(async () => {
    tmp = await tempDir('trellis-short-ttl-');
    app = http.createServer((req, res) => res.end(`hello ${String(req.headers['trellis-peer-identity'])}`));
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    appPort = (app.address() as AddressInfo).port;
  });

  after(async () => {
    for (const p of running) {
      p.a.close();
      p.b.close();
      await p.cp.close();
    }
    app.closeAllConnections();
    app.close();
    await tmp.cleanup();
  });

  for (const ttl of [1000, 2000]) {
    test(`certificateTTL ${ttl / 1000}s: every request over mTLS succeeds across at least three rotations of both proxies`, { timeout: 60_000 }, async (t) => {
      const p = await startPair(join(tmp.dir, `ttl-${ttl}`), appPort, ttl);
      running.push(p);
      const serials = { a: new Set<string>(), b: new Set<string>() };
      const pooled: number[] = [];
      const fresh: number[] = [];
      while (serials.a.size < 4 || serials.b.size < 4 || pooled.length < 20) {
        serials.a.add(p.a.runtime.status().certSerial);
        serials.b.add(p.b.runtime.status().certSerial);
        // Through a's outbound listener (its pooled mTLS connection lives across rotations) ...
        pooled.push(await get(p.outboundPort));
        // ... and on a new mTLS connection made with the certificates of this moment.
        fresh.push(await newConnectionGet(p));
      }
      const sb = p.b.runtime.status();
      t.diagnostic(`${pooled.length} requests each way; ${serials.a.size} / ${serials.b.size} certificates; b: ${sb.tlsHandshakes} inbound handshakes, ${sb.tlsFailures} failures`);
      assert.deepEqual(pooled.filter((s) => s !== 200), [], 'no request through the proxies failed');
      assert.deepEqual(fresh.filter((s) => s !== 200), [], 'no new mTLS connection failed');
      assert.equal(sb.tlsFailures, 0, 'no handshake with an expired certificate');
      assert.equal(p.a.runtime.status().tlsFailures, 0);
      // The control plane's view of each certificate is the current one, not one a rotation behind.
      const report = await p.cp.check();
      const certs = report.checks.find((c) => c.name === 'certificates valid');
      assert.equal(certs?.ok, true, certs?.detail);
    });
  }

  test('a proxy whose certificate expired while the control plane was away reports it, then renews with it and serves again', { timeout: 60_000 }, async () => {
    const p = await startPair(join(tmp.dir, 'away'), appPort, 1000);
    running.push(p);
    assert.equal(await get(p.outboundPort), 200);
    const before = p.a.runtime.status().certSerial;

    await p.cp.close();
    // Both certificates run out (1-2 s): /ready says why, and new mTLS connections would fail.
    await until(() => Date.parse(p.a.runtime.status().certNotAfter) < Date.now() && Date.parse(p.b.runtime.status().certNotAfter) < Date.now(), 50);
    const ready = await fetch(`${p.a.adminUrl}/ready`);
    assert.deepEqual([ready.status, await ready.text()], [503, 'certificate expired\n']);

    // Back on the same state directory and push address, with no record of what it issued before.
    const cp2 = await startControlPlane(p.stateDir, { certTtlMs: 1000, push: { host: '127.0.0.1', port: p.pushPort } });
    p.cp = cp2;
    await until(async () => (await fetch(`${p.a.adminUrl}/ready`)).status === 200 && (await fetch(`${p.b.adminUrl}/ready`)).status === 200, 100);
    assert.notEqual(p.a.runtime.status().certSerial, before, 'a new certificate, from the expired one (no new token)');
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push(await get(p.outboundPort));
    assert.deepEqual(statuses.filter((s) => s !== 200), []);
  });
});
