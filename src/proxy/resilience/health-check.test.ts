import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { ClusterConfig, HealthCheckConfig } from '../../api/snapshot.js';
import { ClusterTable } from '../cluster/cluster-table.js';
import { tcpConnector } from '../pool/connect.js';
import { cluster, endpoint } from '../testing/fixtures.js';
import { decodeServingStatus, encodeHealthRequest } from './probes.js';

const servers: { close(): void }[] = [];
after(() => {
  for (const s of servers) s.close();
});

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for: ${what}`);
}

/** An app answering GET /healthz with `status` (changeable), counting probes and their host. */
async function httpApp(): Promise<{ port: number; status: number; probes: number; hosts: string[] }> {
  const app = { port: 0, status: 200, probes: 0, hosts: [] as string[] };
  const server = http.createServer((req, res) => {
    app.probes++;
    app.hosts.push(req.headers.host ?? '');
    res.writeHead(req.url === '/healthz' ? app.status : 404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push({ close: () => server.close() });
  server.unref();
  app.port = (server.address() as AddressInfo).port;
  return app;
}

/** An h2c server implementing grpc.health.v1.Health/Check with a changeable status. */
async function grpcApp(): Promise<{ port: number; serving: number; services: string[] }> {
  const app = { port: 0, serving: 1, services: [] as string[] };
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      app.services.push(body.length > 7 ? body.subarray(7).toString('utf8') : '');
      if (headers[':path'] !== '/grpc.health.v1.Health/Check') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 2, 0x08, app.serving]));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push({ close: () => server.close() });
  server.unref();
  app.port = (server.address() as AddressInfo).port;
  return app;
}

const CHECK: Omit<HealthCheckConfig, 'http' | 'grpc'> = { intervalMs: 20, timeoutMs: 500, healthyThreshold: 2, unhealthyThreshold: 2 };

function table(): ClusterTable {
  return new ClusterTable({
    connector: (ec, _alpn, timeoutMs) => tcpConnector(ec.host, ec.port, timeoutMs),
    balancer: { random: () => 0, now: () => performance.now() },
  });
}

function withCheck(c: ClusterConfig, healthCheck: HealthCheckConfig): ClusterConfig {
  return { ...c, healthCheck };
}

test('http health check: failing endpoints leave the balancer and come back; all failing = panic', async () => {
  const [a, b] = [await httpApp(), await httpApp()];
  const t = table();
  t.apply([withCheck(cluster('default/web:http', 'http', [endpoint(a.port, 'spiffe://t/a', 0), endpoint(b.port, 'spiffe://t/b', 1)], 'round-robin'), { ...CHECK, http: { path: '/healthz' } })]);
  const c = t.get('default/web:http')!;
  const [ea, eb] = c.endpoints as [typeof c.endpoints[0], typeof c.endpoints[0]];
  try {
    await until(() => a.probes >= 2 && b.probes >= 2, 'probes of both endpoints');
    assert.ok(a.hosts.every((h) => h === 'web'), 'host is the service name');
    assert.equal(c.unhealthyEndpoints().length, 0);

    a.status = 503;
    await until(() => !ea.health.healthy, 'a marked unhealthy');
    assert.equal(eb.health.healthy, true);
    for (let i = 0; i < 6; i++) assert.equal(c.pick(), eb, 'round robin skips the unhealthy endpoint');

    b.status = 500; // every endpoint unhealthy: panic mode uses them all
    await until(() => !eb.health.healthy, 'b marked unhealthy');
    const picked = new Set([c.pick(), c.pick(), c.pick()]);
    assert.equal(picked.size, 2);

    a.status = 302; // 3xx counts as healthy
    await until(() => ea.health.healthy, 'a back after healthyThreshold successes');
    for (let i = 0; i < 4; i++) assert.equal(c.pick(), ea);
  } finally {
    t.close();
  }
});

test('http health check: a probe that gets no answer in time is a failure; checks stop on close', async () => {
  let hang = 0;
  const server = http.createServer(() => {
    hang++; // never answers
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push({ close: () => server.close() });
  const port = (server.address() as AddressInfo).port;
  const t = table();
  t.apply([withCheck(cluster('c', 'http', [endpoint(port, 'spiffe://t/a')]), { ...CHECK, timeoutMs: 50, http: { path: '/' } })]);
  const ep = t.get('c')!.endpoints[0]!;
  try {
    await until(() => !ep.health.healthy, 'unhealthy after timeouts');
  } finally {
    t.close();
  }
  const seen = hang;
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(hang <= seen + 1, 'no new rounds after close');
  (server as http.Server & { closeAllConnections(): void }).closeAllConnections();
});

test('grpc health check: Health/Check with the service name; NOT_SERVING is unhealthy', async () => {
  const app = await grpcApp();
  const other = await grpcApp();
  const t = table();
  const cfg = cluster('default/rpc:grpc', 'grpc', [endpoint(app.port, 'spiffe://t/a', 0), endpoint(other.port, 'spiffe://t/b', 1)], 'round-robin');
  t.apply([withCheck(cfg, { ...CHECK, grpc: { service: 'shop.Cart' } })]);
  const c = t.get('default/rpc:grpc')!;
  const ea = c.endpoints[0]!;
  try {
    await until(() => app.services.length >= 2, 'probes');
    assert.equal(app.services[0], 'shop.Cart');
    app.serving = 2; // NOT_SERVING
    await until(() => !ea.health.healthy, 'unhealthy');
    for (let i = 0; i < 4; i++) assert.notEqual(c.pick(), ea);
    app.serving = 1;
    await until(() => ea.health.healthy, 'healthy again');

    // the health check is removed by a new snapshot: every endpoint is healthy again at once
    app.serving = 2;
    await until(() => !ea.health.healthy, 'unhealthy again');
    t.apply([cfg]);
    assert.equal(ea.health.healthy, true);
    assert.equal(t.get('default/rpc:grpc')!.endpoints[0], ea);
  } finally {
    t.close();
  }
});

test('health protobuf: request encoding and response decoding', () => {
  assert.deepEqual([...encodeHealthRequest('')], [0, 0, 0, 0, 0]);
  assert.deepEqual([...encodeHealthRequest('ab')], [0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]);
  assert.equal(decodeServingStatus(Buffer.from([0, 0, 0, 0, 2, 0x08, 1])), 1);
  assert.equal(decodeServingStatus(Buffer.from([0, 0, 0, 0, 0])), 0, 'empty message: UNKNOWN');
  assert.equal(decodeServingStatus(Buffer.from([1, 0, 0, 0, 2, 0x08, 1])), -1, 'compressed');
  assert.equal(decodeServingStatus(Buffer.from([0, 0, 0, 0, 5, 0x12, 1, 0x41, 0x08, 2])), 2, 'unknown field skipped');
  assert.equal(decodeServingStatus(Buffer.from([0, 0, 0, 0, 2, 0x08])), -1, 'truncated');
});
