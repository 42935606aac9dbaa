import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import type { ProxySnapshot } from '../api/snapshot.js';
import { TrellisError } from '../errors.js';
import { serverTlsOptions } from '../identity/tls.js';
import { runControlPlane } from './main.js';
import { STATUS, StreamClient, agentReport, api, enroll, startControlPlane, tempDir, until, workload } from './test-support.js';

const FRONT = 'spiffe://test.local/ns/default/sa/front';

test('runControlPlane writes control-plane.json, the token (0600) and a 0700 state dir', async () => {
  const { dir, cleanup } = await tempDir();
  const stateDir = join(dir, 'state');
  try {
    const cp = await runControlPlane({
      stateDir,
      api: { host: '127.0.0.1', port: 0 },
      push: { host: '127.0.0.1', port: 0 },
      trustDomain: 'test.local',
      certTtlMs: 60_000,
      logLevel: 'silent',
    });
    try {
      const info = JSON.parse(await readFile(join(stateDir, 'control-plane.json'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(info, { pid: process.pid, apiUrl: cp.apiUrl, pushUrl: cp.pushUrl, trustDomain: 'test.local' });
      assert.match(cp.apiUrl, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/);
      assert.match(cp.pushUrl, /^https:\/\/127\.0\.0\.1:[1-9]\d*$/);
      assert.equal((await stat(stateDir)).mode & 0o777, 0o700);
      assert.equal((await stat(join(stateDir, 'agent-token'))).mode & 0o777, 0o600);
      assert.equal((await stat(join(stateDir, 'ca', 'root.key'))).mode & 0o777, 0o600);
    } finally {
      await cp.close();
    }
    await assert.rejects(stat(join(stateDir, 'control-plane.json')), { code: 'ENOENT' });
  } finally {
    await cleanup();
  }
});

test('a busy port fails with TRELLIS_E_PORT_IN_USE naming the address', async () => {
  const { dir, cleanup } = await tempDir();
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as AddressInfo).port;
  try {
    await assert.rejects(startControlPlane(dir, { api: { host: '127.0.0.1', port } }), (err: unknown) => {
      assert.ok(err instanceof TrellisError);
      assert.equal(err.code, 'TRELLIS_E_PORT_IN_USE');
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      return true;
    });
  } finally {
    await new Promise<void>((r) => blocker.close(() => r()));
    await cleanup();
  }
});

test('a restart from the same state dir keeps CA, token, registry (leases renewed) and versions', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    let now = Date.now();
    const clock = (): number => now;
    const cp1 = await startControlPlane(dir, { clock });
    let bundle: string[];
    let token: string;
    let v: number;
    let creds: Awaited<ReturnType<typeof enroll>>;
    let counter: number;
    let apiPort: number;
    try {
      const report = agentReport('a1', [workload('front', { upstreams: ['default/web:http'], readyPorts: [22000] }), workload('web', { readyPorts: [22001] })], 5000);
      assert.equal((await api(cp1, 'PUT', '/api/v1/agents/a1', report)).status, 200);
      await until(() => cp1.snapshots.get('default/front/0') !== undefined);
      await cp1.snapshots.idle();
      bundle = cp1.ca.trustBundlePem();
      token = cp1.agentToken;
      v = cp1.snapshots.get('default/front/0')?.version ?? -1;
      creds = await enroll(cp1, 'default/front/0', FRONT);
      counter = cp1.store.version();
      apiPort = Number(new URL(cp1.apiUrl).port);
    } finally {
      await cp1.close();
    }

    now += 60_000; // down for longer than the lease
    // Back on the same API port, as `trellis up` restarts it: the snapshots' trace endpoint is that address.
    const cp2 = await startControlPlane(dir, { clock, api: { host: '127.0.0.1', port: apiPort } });
    try {
      assert.deepEqual(cp2.ca.trustBundlePem(), bundle);
      assert.equal(cp2.agentToken, token);
      assert.deepEqual(cp2.registry.agentIds(), ['a1'], 'the lease was renewed, not expired');
      assert.equal(cp2.registry.nextExpiry(), now + 5000);
      assert.equal(cp2.snapshots.get('default/front/0')?.version, v, 'unchanged content keeps its version');
      assert.equal(cp2.store.version(), counter);

      // The old certificate still opens a stream (same CA, identity remembered), and holding
      // version v gets no snapshot.
      const s = new StreamClient(cp2, creds);
      s.send({ type: 'hello', nodeId: 'default/front/0', lastVersion: v, status: STATUS });
      assert.equal(await s.status, 200);
      assert.equal((await s.nextAny())?.type, 'ping');

      // A change after the restart gets a version above every earlier one.
      const more = agentReport('a1', [workload('front', { upstreams: ['default/web:http'], readyPorts: [22000] }), workload('web', { readyPorts: [22001, 22002] })], 5000);
      assert.equal((await api(cp2, 'PUT', '/api/v1/agents/a1', more)).status, 200);
      const m = await s.next();
      assert.ok((m as { snapshot: ProxySnapshot }).snapshot.version > counter);
      s.close();
    } finally {
      await cp2.close();
    }
  } finally {
    await cleanup();
  }
});

test('check: replicas without proxies, sync, certificates and peers verified over mTLS', async () => {
  const { dir, cleanup } = await tempDir();
  const cp = await startControlPlane(dir);
  const servers: ReturnType<typeof createTlsServer>[] = [];
  try {
    // "web" replica 0 is a real mTLS endpoint with the right identity; replica 1 presents "front"'s identity.
    const web = await enroll(cp, 'default/web/0', 'spiffe://test.local/ns/default/sa/web');
    const impostor = await enroll(cp, 'default/front/9', FRONT);
    const ports: number[] = [];
    for (const creds of [web, impostor]) {
      const srv = createTlsServer(serverTlsOptions(creds, cp.ca.trustBundlePem(), ['http/1.1']), (sock) => sock.end());
      srv.on('tlsClientError', () => {});
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      servers.push(srv);
      ports.push((srv.address() as AddressInfo).port);
    }
    assert.equal((await api(cp, 'PUT', '/api/v1/agents/a1', agentReport('a1', [workload('web', { readyPorts: ports })]))).status, 200);
    await cp.snapshots.idle();
    const r1 = (await api(cp, 'GET', '/api/v1/check')).json as { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] };
    assert.equal(r1.ok, false);
    const byName = Object.fromEntries(r1.checks.map((c) => [c.name, c]));
    assert.equal(byName['proxies connected']?.ok, false);
    assert.match(byName['proxies connected']?.detail ?? '', /default\/web\/0 has no connected proxy/);
    assert.equal(byName['peers verified']?.ok, false);
    assert.match(byName['peers verified']?.detail ?? '', /default\/web\/1 .*front/);
    assert.doesNotMatch(byName['peers verified']?.detail ?? '', /default\/web\/0/);

    // Connect both proxies and ack; point replica 1 at a correct endpoint: all green.
    const web1 = await enroll(cp, 'default/web/1', 'spiffe://test.local/ns/default/sa/web');
    const srv = createTlsServer(serverTlsOptions(web1, cp.ca.trustBundlePem(), ['http/1.1']), (sock) => sock.end());
    srv.on('tlsClientError', () => {});
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    servers.push(srv);
    const fixed = [ports[0] as number, (srv.address() as AddressInfo).port];
    assert.equal((await api(cp, 'PUT', '/api/v1/agents/a1', agentReport('a1', [workload('web', { readyPorts: fixed })]))).status, 200);
    await cp.snapshots.idle();
    const streams: StreamClient[] = [];
    for (const [i, creds] of [web, web1].entries()) {
      const s = new StreamClient(cp, creds);
      s.send({ type: 'hello', nodeId: `default/web/${i}`, lastVersion: null, status: STATUS });
      const m = await s.next();
      s.send({ type: 'ack', version: (m as { snapshot: ProxySnapshot }).snapshot.version });
      streams.push(s);
    }
    await until(() => cp.proxies().filter((p) => p.connected && p.ackedVersion === p.version).length === 2);
    const r2 = (await api(cp, 'GET', '/api/v1/check')).json as { ok: boolean; checks: { name: string; ok: boolean; detail: string }[] };
    assert.deepEqual(
      r2.checks.map((c) => [c.name, c.ok]),
      [
        ['proxies connected', true],
        ['proxies in sync', true],
        ['certificates valid', true],
        ['peers verified', true],
        ['apps reachable only through their proxy', true],
      ],
      JSON.stringify(r2.checks),
    );
    assert.equal(r2.ok, true);
    for (const s of streams) s.close();
  } finally {
    for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
    await cp.close();
    await cleanup();
  }
});

test('close() ends open push streams promptly', async () => {
  const { dir, cleanup } = await tempDir();
  const cp = await startControlPlane(dir, { pingIntervalMs: 60_000 });
  try {
    const creds = await enroll(cp, 'default/front/0', FRONT);
    const s = new StreamClient(cp, creds);
    s.send({ type: 'hello', nodeId: 'default/front/0', lastVersion: null, status: STATUS });
    assert.equal(await s.status, 200);
    await cp.close();
    assert.equal(await s.next(), null, 'the stream ended');
    s.close();
  } finally {
    await cp.close();
    await cleanup();
  }
});
