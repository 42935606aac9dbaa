import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ProxyRuntime } from '../runtime.js';
import { bootstrap, cluster, endpoint, id, portOf, runtime, snapshot, testPki } from '../testing/fixtures.js';
import type { TestPki } from '../testing/fixtures.js';

const CLUSTER = 'default/backend:http';
let pki: TestPki;
let app: http.Server;
let server: ProxyRuntime;
let client: ProxyRuntime;
let releaseSlow: (() => void) | null = null;
let slowArrived: Promise<void>;
let markArrived: () => void;

before(async () => {
  pki = await testPki();
  slowArrived = new Promise((r) => (markArrived = r));
  app = http.createServer((req, res) => {
    if (req.url === '/slow') {
      markArrived();
      releaseSlow = () => res.end('slow done');
      return;
    }
    res.end('ok');
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as AddressInfo).port;
  server = await runtime(
    pki,
    bootstrap(id('backend'), [{ name: 'http', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: appPort } }], []),
  );
  server.applySnapshot(snapshot(1, pki, []));
  await server.startListeners();
  client = await runtime(pki, bootstrap(id('frontend'), [], [{ name: 'b', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, cluster: CLUSTER }]));
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

test('drain: in-flight request finishes, idle keep-alive closes, new connections are refused', async () => {
  const port = portOf(client, 'b', 'outbound');
  const agent = new http.Agent({ keepAlive: true });
  const order: string[] = [];
  // an idle keep-alive connection
  await new Promise<void>((resolve) =>
    http.get({ port, host: '127.0.0.1', path: '/', agent }, (res) => {
      res.socket.once('close', () => order.push('idle closed'));
      res.resume().on('end', resolve);
    }),
  );
  const slow = new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
    http
      .get({ port, host: '127.0.0.1', path: '/slow', agent: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, connection: res.headers.connection }));
      })
      .on('error', reject);
  });
  await slowArrived;
  const drained = client.drain();
  await new Promise((r) => setTimeout(r, 50));
  order.push('slow released');
  const refused = await new Promise<boolean>((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
  assert.equal(refused, true, 'listener stopped accepting');
  assert.ok(releaseSlow !== null);
  releaseSlow();
  const r = await slow;
  assert.equal(r.status, 200);
  assert.equal(r.body, 'slow done');
  await drained;
  agent.destroy();
  assert.deepEqual(order.slice(0, 2), ['idle closed', 'slow released'], 'idle keep-alive closed at once, not at the deadline');
  assert.equal(r.connection, 'close', 'busy connection told to close after its response');
});
