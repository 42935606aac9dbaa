import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { PassThrough } from 'node:stream';
import net from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { ProxyBootstrap } from '../api/bootstrap.js';
import type { ControlPlane } from '../control/control-plane.js';
import { agentReport, api, startControlPlane, tempDir, until, workload } from '../control/test-support.js';
import { silentLogger } from '../telemetry/logger.js';
import { runProxy } from './main.js';
import type { RunningProxy } from './main.js';

let tmp: { dir: string; cleanup: () => Promise<void> };
let cp: ControlPlane;
let app: http.Server;
const proxies: RunningProxy[] = [];

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function writeBootstrap(name: string, nodeId: string, identity: string, rest: Pick<ProxyBootstrap, 'inbound' | 'outbound'>, accessLog: ProxyBootstrap['accessLog'] = 'off'): Promise<string> {
  const t = await api(cp, 'POST', '/api/v1/agents/a1/tokens', { nodeId, identity });
  assert.equal(t.status, 200, JSON.stringify(t.json));
  const tok = t.json as { token: string; pushUrl: string; trustBundlePem: string[]; controlPlaneIdentity: string };
  const b: ProxyBootstrap = {
    node: { id: nodeId, namespace: 'default', workload: name, service: name, serviceAccount: name, replica: 0, identity },
    controlPlane: { pushUrl: tok.pushUrl, trustBundlePem: tok.trustBundlePem, identity: tok.controlPlaneIdentity, token: tok.token },
    admin: { host: '127.0.0.1', port: 0 },
    ...rest,
    drainTimeoutMs: 1_000,
    accessLog,
    logLevel: 'error',
  };
  const path = join(tmp.dir, `${name}.json`);
  await writeFile(path, JSON.stringify(b));
  return path;
}

before(async () => {
  tmp = await tempDir('trellis-proxy-e2e-');
  // short certificates so the proxies rotate (POST rotate over mTLS) during the test
  cp = await startControlPlane(join(tmp.dir, 'cp'), { certTtlMs: 4_000 });
  app = http.createServer((req, res) => res.end(`hello ${String(req.headers['trellis-peer-identity'])}`));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
});

after(async () => {
  for (const p of proxies) p.close();
  await cp.close();
  app.close();
  app.closeAllConnections();
  await tmp.cleanup();
});

test('runProxy against a real control plane: certificate, push stream, ready, request through the pair', async () => {
  const appPort = (app.address() as AddressInfo).port;
  const inboundPort = await freePort();
  const outboundPort = await freePort();
  const report = agentReport('a1', [
    workload('backend', { readyPorts: [inboundPort] }),
    workload('frontend', { readyPorts: [await freePort()], upstreams: ['default/backend:http'] }),
  ]);
  assert.equal((await api(cp, 'PUT', '/api/v1/agents/a1', report)).status, 200);
  const backendId = 'spiffe://test.local/ns/default/sa/backend';
  const frontendId = 'spiffe://test.local/ns/default/sa/frontend';
  const bPath = await writeBootstrap('backend', 'default/backend/0', backendId, {
    inbound: [{ name: 'http', protocol: 'http', listen: { host: '127.0.0.1', port: inboundPort }, app: { host: '127.0.0.1', port: appPort } }],
    outbound: [],
  });
  const accessLogPath = join(tmp.dir, 'logs', 'frontend-0.access.log');
  const aPath = await writeBootstrap('frontend', 'default/frontend/0', frontendId, {
    inbound: [],
    outbound: [{ name: 'backend', protocol: 'http', listen: { host: '127.0.0.1', port: outboundPort }, cluster: 'default/backend:http' }],
  }, { path: accessLogPath, maxBytes: 1024 * 1024, keep: 1 });
  const parentStdin = new PassThrough();
  let exited = false;
  const b = await runProxy(bPath, { logger: silentLogger(), exitWhenClosed: parentStdin, onExit: () => (exited = true) });
  proxies.push(b);
  const a = await runProxy(aPath, { logger: silentLogger() });
  proxies.push(a);

  assert.equal((await fetch(`${a.adminUrl}/ready`)).status, 200);
  assert.equal((await fetch(`${b.adminUrl}/live`)).status, 200);
  const body = await (await fetch(`http://127.0.0.1:${outboundPort}/`)).text();
  assert.equal(body, `hello ${frontendId}`);

  const config = (await (await fetch(`${a.adminUrl}/config`)).json()) as { bootstrap: { controlPlane: { token?: string } }; version: number; certificate: { identity: string } };
  assert.equal(config.bootstrap.controlPlane.token, undefined, 'the token is never dumped');
  assert.equal(config.certificate.identity, frontendId);
  assert.ok(config.version >= 1);
  const metrics = await (await fetch(`${a.adminUrl}/metrics`)).text();
  assert.match(metrics, /trellis_cluster_endpoints\{cluster="default\/backend:http"\} 1/);

  // the control plane learns the proxy's ACK and status
  await until(async () => {
    const r = await api(cp, 'GET', '/api/v1/proxies');
    const views = r.json as { nodeId: string; ackedVersion: number | null; peersVerified: number }[];
    const v = views.find((p) => p.nodeId === 'default/frontend/0');
    return v !== undefined && v.ackedVersion !== null;
  }, 50);

  // rotation through the real control plane while requests keep flowing: none fails
  const firstSerial = a.runtime.status().certSerial;
  const statuses: number[] = [];
  while (a.runtime.status().certSerial === firstSerial || b.runtime.status().certSerial === '' || statuses.length < 5) {
    statuses.push(await fetch(`http://127.0.0.1:${outboundPort}/`).then(async (r) => (await r.text(), r.status), () => 0));
  }
  assert.deepEqual(statuses.filter((s) => s !== 200), []);
  assert.notEqual(a.runtime.status().certSerial, firstSerial);

  // drain: /ready turns 503, then everything closes
  await a.drain();
  assert.equal(await fetch(`${a.adminUrl}/ready`).then((r) => r.status, () => 0), 0, 'admin closed after drain');
  // ...and every request the proxy served is in its access log once drain returns (batched lines are flushed, not lost).
  const logged = (await readFile(accessLogPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { direction: string; status: number });
  assert.equal(logged.length, 1 + statuses.length, 'one line per request');
  assert.ok(logged.every((l) => l.direction === 'outbound' && l.status === 200));

  // the parent going away (stdin closed) stops the proxy
  parentStdin.end();
  await until(() => exited);
  const refused = await fetch(`http://127.0.0.1:${inboundPort}/`).then(() => false, () => true);
  assert.ok(refused);
});
