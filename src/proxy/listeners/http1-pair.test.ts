import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ProxyRuntime } from '../runtime.js';
import { bootstrap, cluster, endpoint, id, portOf, runtime, snapshot, testPki } from '../testing/fixtures.js';
import type { TestPki } from '../testing/fixtures.js';

const CLUSTER = 'default/backend:http';
let pki: TestPki;
let app: http.Server;
let server: ProxyRuntime; // backend's proxy (inbound)
let client: ProxyRuntime; // frontend's proxy (outbound)
let agent: http.Agent;

before(async () => {
  pki = await testPki();
  app = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          peer: req.headers['trellis-peer-identity'] ?? null,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as AddressInfo).port;
  server = await runtime(
    pki,
    bootstrap(id('backend'), [{ name: 'http', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: appPort } }], []),
  );
  assert.equal(server.applySnapshot(snapshot(1, pki, [])), null);
  await server.startListeners();
  client = await runtime(
    pki,
    bootstrap(id('frontend'), [], [{ name: 'backend', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, cluster: CLUSTER }]),
  );
  const inboundPort = portOf(server, 'http', 'inbound');
  assert.equal(client.applySnapshot(snapshot(1, pki, [cluster(CLUSTER, 'http', [endpoint(inboundPort, id('backend'))])])), null);
  await client.startListeners();
  agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
});

after(async () => {
  agent.destroy();
  client.close();
  server.close();
  await new Promise((r) => app.close(r));
  app.closeAllConnections();
  await pki.cleanup();
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  reused: boolean;
}

export function request(port: number, method: string, path: string, body?: string, headers: Record<string, string> = {}, a?: http.Agent): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: a ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), reused: req.reusedSocket }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('GET through outbound -> inbound reaches the app with the caller identity', async () => {
  const r = await request(portOf(client, 'backend', 'outbound'), 'GET', '/hello?x=1', undefined, {}, agent);
  assert.equal(r.status, 200);
  const j = JSON.parse(r.body) as { method: string; url: string; peer: string };
  assert.equal(j.method, 'GET');
  assert.equal(j.url, '/hello?x=1');
  assert.equal(j.peer, id('frontend'));
});

test('POST body arrives; a caller-supplied trellis-peer-identity is replaced', async () => {
  const r = await request(portOf(client, 'backend', 'outbound'), 'POST', '/items', 'x'.repeat(100_000), { 'trellis-peer-identity': 'spiffe://evil/ns/x/sa/y' }, agent);
  assert.equal(r.status, 200);
  const j = JSON.parse(r.body) as { body: string; peer: string };
  assert.equal(j.body.length, 100_000);
  assert.equal(j.peer, id('frontend'));
});

test('keep-alive: consecutive requests reuse the downstream connection', async () => {
  const port = portOf(client, 'backend', 'outbound');
  const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const r1 = await request(port, 'GET', '/1', undefined, {}, a);
    const r2 = await request(port, 'GET', '/2', undefined, {}, a);
    const r3 = await request(port, 'GET', '/3', undefined, {}, a);
    assert.equal(r1.status + r2.status + r3.status, 600);
    assert.equal(r1.reused, false);
    assert.equal(r2.reused, true);
    assert.equal(r3.reused, true);
  } finally {
    a.destroy();
  }
});

test('metrics count requests by source, destination and status on both sides', async () => {
  const text = await client.metrics.text();
  assert.match(
    text,
    /trellis_requests_total\{direction="outbound",src_namespace="default",src_workload="w",src_service_account="sa",dst_namespace="default",dst_service="backend",route="",method="GET",status_code="200",grpc_status="",reason=""\} [1-9]/,
  );
  const inbound = await server.metrics.text();
  assert.match(
    inbound,
    /trellis_requests_total\{direction="inbound",src_namespace="default",src_workload="",src_service_account="frontend",dst_namespace="default",dst_service="s",route="",method="GET",status_code="200",grpc_status="",reason=""\} [1-9]/,
  );
  assert.match(inbound, /trellis_tls_handshakes_total\{direction="inbound"\} [1-9]/);
});

test('unknown cluster answers 503 unknown-cluster', async () => {
  const other = await runtime(
    pki,
    bootstrap(id('frontend'), [], [{ name: 'nowhere', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, cluster: 'default/nowhere:http' }]),
  );
  try {
    other.applySnapshot(snapshot(1, pki, []));
    await other.startListeners();
    const r = await request(portOf(other, 'nowhere', 'outbound'), 'GET', '/');
    assert.equal(r.status, 503);
    assert.equal(r.headers['trellis-reason'], 'unknown-cluster');
  } finally {
    other.close();
  }
});

test('snapshot that removes the endpoint takes it out of rotation (503 no-endpoints)', async () => {
  const port = portOf(client, 'backend', 'outbound');
  assert.equal(client.applySnapshot(snapshot(2, pki, [cluster(CLUSTER, 'http', [])])), null);
  const r = await request(port, 'GET', '/');
  assert.equal(r.status, 503);
  assert.equal(r.headers['trellis-reason'], 'no-endpoints');
  assert.equal(client.applySnapshot(snapshot(3, pki, [cluster(CLUSTER, 'http', [endpoint(portOf(server, 'http', 'inbound'), id('backend'))])])), null);
  const r2 = await request(port, 'GET', '/');
  assert.equal(r2.status, 200);
});

test('an invalid snapshot is refused whole and the last good config stays', async () => {
  const bad = snapshot(4, pki, [cluster(CLUSTER, 'http', [{ ...endpoint(1, 'not-spiffe') }])]);
  assert.match(client.applySnapshot(bad) ?? '', /identity/);
  assert.equal(client.version, 3);
  const r = await request(portOf(client, 'backend', 'outbound'), 'GET', '/');
  assert.equal(r.status, 200);
});

test('inbound with the app down answers 503 app-unavailable', async () => {
  const down = await runtime(
    pki,
    bootstrap(id('backend'), [{ name: 'http', protocol: 'http', listen: { host: '127.0.0.1', port: 0 }, app: { host: '127.0.0.1', port: 1 } }], []),
  );
  try {
    down.applySnapshot(snapshot(1, pki, []));
    await down.startListeners();
    assert.equal(client.applySnapshot(snapshot(5, pki, [cluster(CLUSTER, 'http', [endpoint(portOf(down, 'http', 'inbound'), id('backend'))])])), null);
    const r = await request(portOf(client, 'backend', 'outbound'), 'GET', '/');
    assert.equal(r.status, 503);
    assert.equal(r.headers['trellis-reason'], 'app-unavailable');
  } finally {
    down.close();
  }
});
