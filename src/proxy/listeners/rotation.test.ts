import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { clientTlsOptions } from '../../identity/tls.js';
import type { WorkloadCredentials } from '../../identity/workload-credentials.js';
import { silentLogger } from '../../telemetry/logger.js';
import { CertificateRotator } from '../control-client/rotation.js';
import type { ProxyRuntime } from '../runtime.js';
import { bootstrap, cluster, endpoint, id, portOf, runtime, snapshot, testPki } from '../testing/fixtures.js';
import type { TestPki } from '../testing/fixtures.js';

const CLUSTER = 'default/backend:http';
let pki: TestPki;
let app: http.Server;
let server: ProxyRuntime;
let client: ProxyRuntime;
let serverCreds: WorkloadCredentials;
let clientCreds: WorkloadCredentials;

before(async () => {
  pki = await testPki();
  app = http.createServer((req, res) => res.end(String(req.headers['trellis-peer-identity'])));
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as AddressInfo).port;
  serverCreds = await pki.credentials(id('backend'));
  clientCreds = await pki.credentials(id('frontend'));
  server = await runtime(
    pki,
    bootstrap(id('backend'), [{ name: 'http', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: appPort } }], []),
    { credentials: serverCreds },
  );
  server.applySnapshot(snapshot(1, pki, []));
  await server.startListeners();
  client = await runtime(pki, bootstrap(id('frontend'), [], [{ name: 'b', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, cluster: CLUSTER }]), {
    credentials: clientCreds,
    pool: { maxIdle: 4, idleTimeoutMs: 30_000 },
  });
  client.applySnapshot(snapshot(1, pki, [cluster(CLUSTER, 'http', [endpoint(portOf(server, 'http', 'inbound'), id('backend'))])]));
  await client.startListeners();
});

after(async () => {
  client.close();
  server.close();
  app.close();
  app.closeAllConnections();
  await pki.cleanup();
});

function get(port: number, agent: http.Agent | false): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
  });
}

function servedSerial(port: number, creds: { keyPem: string; certChainPem: string[] }): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ ...clientTlsOptions(creds, pki.ca.trustBundlePem(), id('backend'), ['http/1.1']), host: '127.0.0.1', port }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.destroy();
      resolve(serial);
    });
    s.on('error', reject);
  });
}

test('credentials rotation on both proxies while requests run: zero failed requests', async () => {
  const port = portOf(client, 'b', 'outbound');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let stop = false;
  const statuses: number[] = [];
  const loop = async (a: http.Agent | false): Promise<void> => {
    while (!stop) statuses.push(await get(port, a));
  };
  const loops = [loop(agent), loop(agent), loop(false)];
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 40));
    serverCreds.update(await pki.issue(id('backend')), pki.ca.trustBundlePem());
    await new Promise((r) => setTimeout(r, 40));
    clientCreds.update(await pki.issue(id('frontend')), pki.ca.trustBundlePem());
  }
  await new Promise((r) => setTimeout(r, 40));
  stop = true;
  await Promise.all(loops);
  agent.destroy();
  assert.ok(statuses.length > 20, `enough requests ran (${statuses.length})`);
  assert.deepEqual(
    statuses.filter((s) => s !== 200),
    [],
  );
  // a new connection is served with the newest certificate
  const latest = serverCreds.current;
  assert.ok(latest !== null);
  const serial = await servedSerial(portOf(server, 'http', 'inbound'), await pki.issue(id('frontend')));
  assert.equal(serial.toLowerCase().replace(/^0+/, ''), latest.serial.toLowerCase().replace(/^0+/, ''));
});

test('rotator: a failed renewal is retried with backoff, then credentials are swapped', async () => {
  let calls = 0;
  const fresh = await pki.issue(id('frontend'));
  const creds = await pki.credentials(id('frontend'));
  const old = creds.current?.serial;
  const rotated = new Promise<void>((resolve) => creds.once('rotated', () => resolve()));
  const rotator = new CertificateRotator({
    bootstrap: bootstrap(id('frontend'), [], []),
    credentials: creds,
    logger: silentLogger(),
    random: () => 0,
    fetch: () => {
      calls++;
      if (calls === 1) return Promise.reject(new Error('control plane away'));
      return Promise.resolve({ creds: fresh, trustBundlePem: pki.ca.trustBundlePem() });
    },
  });
  await rotator.rotate();
  assert.equal(creds.current?.serial, old, 'failed attempt keeps the current credentials');
  await rotated;
  rotator.stop();
  assert.equal(calls, 2);
  assert.equal(creds.current?.serial, fresh.serial);
});
