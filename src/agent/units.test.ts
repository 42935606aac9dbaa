import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseMeshText } from '../config/load.js';
import type { TrellisError } from '../errors.js';
import { buildBootstrap, ingressListeners, newAdminToken } from './bootstrap.js';
import { buildAppEnv, expandCommand, meshVariables } from './env.js';
import { PortAllocator, probeBind } from './ports.js';
import { resolveCommand, tailFile } from './process.js';
import { looksLike } from './pids.js';

const MESH = `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: t }
spec:
  workloads:
    - name: web-front
      command: [node, app.mjs]
      env: { GREETING: hello, PORT: "1" }
      ports: [{ name: http }, { name: admin-http }]
      upstreams:
        - { service: catalog, port: grpc }
        - { service: catalog, port: http, env: CATALOG_HTTP }
    - name: catalog
      command: [node, catalog.mjs]
      ports: [{ name: grpc, protocol: grpc }, { name: http }]
`;

describe('port allocation', () => {
  it('hands out distinct free loopback ports', async () => {
    const alloc = new PortAllocator();
    const ports = await alloc.allocateMany(20);
    assert.equal(new Set(ports).size, 20);
    for (const p of ports) assert.ok(p > 0 && p < 65536);
    // Each is bindable right now.
    for (const p of ports.slice(0, 3)) assert.equal(await probeBind('127.0.0.1', p), p);
  });

  it('claims a fixed port only if free, and resolves port 0', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const busy = (server.address() as { port: number }).port;
    try {
      const alloc = new PortAllocator();
      await assert.rejects(alloc.claim({ host: '127.0.0.1', port: busy }, 'ingress web listen'), (err: TrellisError) => {
        assert.equal(err.code, 'TRELLIS_E_PORT_IN_USE');
        assert.equal(err.message, `ingress web listen: 127.0.0.1:${busy} is already in use`);
        return true;
      });
      const any = await alloc.claim({ host: '127.0.0.1', port: 0 }, 'x');
      assert.ok(any.port > 0);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('workload environment', () => {
  it('sets PORT, PORT_<NAME>, upstream addresses and identity over inherited and mesh env', () => {
    const mesh = parseMeshText(MESH, '/m/trellis.yaml');
    const w = mesh.workloads[0];
    assert.ok(w);
    const env = buildAppEnv({
      base: { PATH: '/bin', GREETING: 'inherited', TRELLIS_REPLICA: 'x', UNSET: undefined },
      workload: w,
      replica: 1,
      identity: 'spiffe://trellis.local/ns/default/sa/web-front',
      appPorts: new Map([
        ['http', 4001],
        ['admin-http', 4002],
      ]),
      outbound: [
        { host: '127.0.0.1', port: 5001 },
        { host: '127.0.0.1', port: 5002 },
      ],
    });
    assert.deepEqual(env, {
      PATH: '/bin',
      GREETING: 'hello',
      PORT: '4001',
      PORT_HTTP: '4001',
      PORT_ADMIN_HTTP: '4002',
      CATALOG_ADDR: '127.0.0.1:5001',
      CATALOG_HTTP: '127.0.0.1:5002',
      TRELLIS_WORKLOAD: 'web-front',
      TRELLIS_REPLICA: '1',
      TRELLIS_IDENTITY: 'spiffe://trellis.local/ns/default/sa/web-front',
    });
  });
});

describe('$(VAR) in command and env', () => {
  const MESH_REFS = `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: t }
spec:
  workloads:
    - name: web
      command: [node, server.js, "$(PORT)", "--admin=$(PORT_ADMIN)", "--catalog=http://$(CATALOG_ADDR)", "--greet=$(GREETING)", "$$(PORT)", "$(HOME)", "$PORT"]
      env: { BASE: "http://$(CATALOG_ADDR)", GREETING: "hi from $(TRELLIS_WORKLOAD)/$(TRELLIS_REPLICA)", API: "$(BASE)/v1", EARLY: "$(LATE)", LATE: x, COST: "5$$" }
      ports: [{ name: http }, { name: admin }]
      upstreams: [{ service: catalog, port: http }]
    - name: catalog
      command: [node, catalog.mjs]
      ports: [{ name: http }]
`;
  const input = (): Parameters<typeof buildAppEnv>[0] => ({
    base: { HOME: '/home/u', PATH: '/bin' },
    workload: parseMeshText(MESH_REFS, '/m/trellis.yaml').workloads[0]!,
    replica: 0,
    identity: 'spiffe://trellis.local/ns/default/sa/web',
    appPorts: new Map([
      ['http', 4001],
      ['admin', 4002],
    ]),
    outbound: [{ host: '127.0.0.1', port: 5001 }],
  });

  it('command arguments get the ports, upstream addresses and env values the mesh file defines', () => {
    assert.deepEqual(expandCommand(parseMeshText(MESH_REFS, '/m/trellis.yaml').workloads[0]!.command ?? [], meshVariables(input())), [
      'node',
      'server.js',
      '4001',
      '--admin=4002',
      '--catalog=http://127.0.0.1:5001',
      '--greet=hi from web/0',
      '$(PORT)', // escaped
      '$(HOME)', // inherited by trellis up, not defined by the mesh file: left as written
      '$PORT', // shell syntax is not ours
    ]);
  });

  it('env values are expanded as in a Pod: assigned variables and earlier entries, $$ for $', () => {
    const env = buildAppEnv(input());
    assert.equal(env.BASE, 'http://127.0.0.1:5001');
    assert.equal(env.GREETING, 'hi from web/0');
    assert.equal(env.API, 'http://127.0.0.1:5001/v1');
    assert.equal(env.EARLY, '$(LATE)');
    assert.equal(env.COST, '5$');
    assert.equal(env.HOME, '/home/u');
    assert.equal(env.PORT, '4001');
  });
});

describe('process helpers', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-agent-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('resolves node to this binary, relative paths to the mesh folder, names through PATH', async () => {
    assert.equal(resolveCommand('node', dir, ''), process.execPath);
    await writeFile(join(dir, 'run.sh'), '#!/bin/sh\n');
    await chmod(join(dir, 'run.sh'), 0o755);
    assert.equal(resolveCommand('./run.sh', dir, ''), join(dir, 'run.sh'));
    assert.equal(resolveCommand('run.sh', '/', dir), join(dir, 'run.sh'));
    assert.equal(resolveCommand('no-such-program-here', dir, dir), null);
    assert.equal(resolveCommand('./missing.sh', dir, ''), null);
  });

  it('tails the last lines of a log', async () => {
    const f = join(dir, 'x.log');
    await writeFile(f, Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n') + '\n');
    assert.deepEqual(await tailFile(f, 3), ['line 27', 'line 28', 'line 29']);
    assert.deepEqual(await tailFile(join(dir, 'none.log'), 3), []);
  });

  it('recognises its own process by /proc cmdline, and not others', () => {
    assert.equal(looksLike(process.pid, [process.execPath]), true);
    assert.equal(looksLike(process.pid, [process.execPath, 'definitely-not-an-argument']), false);
    assert.equal(looksLike(2 ** 22 + 17, ['x']), false);
  });
});

describe('proxy bootstrap', () => {
  it('accessLog: file becomes the replica\'s file with the mesh file\'s rotation', () => {
    const m = parseMeshText(MESH.replace('spec:\n', 'spec:\n  accessLog: { maxSize: 1MiB, keep: 2 }\n'), '/m/trellis.yaml');
    const w = m.workloads[0];
    assert.ok(w);
    const ports = { admin: 9000, app: new Map([['http', 9001], ['admin-http', 9002]]), inbound: new Map([['http', 9101], ['admin-http', 9102]]), inboundHost: '127.0.0.1', outbound: [{ host: '127.0.0.1', port: 9201 }, { host: '127.0.0.1', port: 9202 }] };
    const token = { token: 'tok', pushUrl: 'https://127.0.0.1:9', trustBundlePem: ['PEM'], controlPlaneIdentity: 'spiffe://trellis.local/control-plane' };
    const b = buildBootstrap({ mesh: m, spec: { kind: 'workload', workload: w }, replica: 0, ports, token, adminToken: newAdminToken(), accessLogFile: '/s/logs/web-front-0.access.log', logLevel: 'info' });
    assert.deepEqual(b.accessLog, { path: '/s/logs/web-front-0.access.log', maxBytes: 1024 * 1024, keep: 2 });
  });

  const mesh = parseMeshText(
    MESH.replace('spec:\n', 'spec:\n  trustDomain: t.local\n  accessLog: stdout\n  ingress: [{ name: gate, listen: "127.0.0.1:0", service: catalog, port: grpc }]\n'),
    '/m/trellis.yaml',
  );
  const token = { token: 'tok', pushUrl: 'https://127.0.0.1:9', trustBundlePem: ['PEM'], controlPlaneIdentity: 'spiffe://t.local/control-plane' };

  it('a workload replica: inbound per port to its app port, outbound per upstream', () => {
    const w = mesh.workloads[0];
    assert.ok(w);
    const b = buildBootstrap({
      mesh,
      spec: { kind: 'workload', workload: w },
      replica: 1,
      ports: { admin: 9000, app: new Map([['http', 9001], ['admin-http', 9002]]), inbound: new Map([['http', 9101], ['admin-http', 9102]]), inboundHost: '127.0.0.1', outbound: [{ host: '127.0.0.1', port: 9201 }, { host: '127.0.0.1', port: 9202 }] },
      token,
      adminToken: 'a'.repeat(43),
      accessLogFile: '/s/logs/web-front-1.access.log',
      logLevel: 'info',
    });
    assert.deepEqual(b.node, { id: 'default/web-front/1', namespace: 'default', workload: 'web-front', service: 'web-front', serviceAccount: 'web-front', replica: 1, identity: 'spiffe://t.local/ns/default/sa/web-front' });
    assert.deepEqual(b.controlPlane, { pushUrl: 'https://127.0.0.1:9', trustBundlePem: ['PEM'], identity: 'spiffe://t.local/control-plane', token: 'tok' });
    assert.deepEqual(b.inbound, [
      { name: 'http', protocol: 'http', listen: { host: '127.0.0.1', port: 9101 }, app: { host: '127.0.0.1', port: 9001 } },
      { name: 'admin-http', protocol: 'http', listen: { host: '127.0.0.1', port: 9102 }, app: { host: '127.0.0.1', port: 9002 } },
    ]);
    assert.deepEqual(b.outbound, [
      { name: 'catalog-grpc', protocol: 'grpc', listen: { host: '127.0.0.1', port: 9201 }, cluster: 'default/catalog:grpc' },
      { name: 'catalog-http', protocol: 'http', listen: { host: '127.0.0.1', port: 9202 }, cluster: 'default/catalog:http' },
    ]);
    assert.equal(b.accessLog, 'stdout');
    assert.equal(b.drainTimeoutMs, 5000);
    assert.equal(b.adminToken, 'a'.repeat(43));
  });

  it('an ingress: its own identity, one outbound listener, no inbound', () => {
    const g = mesh.ingress[0];
    assert.ok(g);
    const b = buildBootstrap({ mesh, spec: { kind: 'ingress', ingress: g }, replica: 0, ports: { admin: 9000, app: new Map(), inbound: new Map(), inboundHost: '127.0.0.1', outbound: [{ host: '127.0.0.1', port: 8080 }] }, token, adminToken: newAdminToken(), accessLogFile: 'x', logLevel: 'warn' });
    assert.equal(b.node.identity, 'spiffe://t.local/ns/default/sa/gate');
    assert.equal(b.accessLog, 'stdout');
    assert.equal(b.node.id, 'default/gate/0');
    assert.deepEqual(b.inbound, []);
    assert.deepEqual(b.outbound, [{ name: 'gate', protocol: 'grpc', listen: { host: '127.0.0.1', port: 8080 }, cluster: 'default/catalog:grpc', ingress: true }]);
    assert.match(b.adminToken ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(newAdminToken(), b.adminToken, 'a new token per proxy start');
  });

  it('an ingress with TLS: the plain listener, then `<name>-tls` with its certificate files; TLS only has just the one', () => {
    const g = mesh.ingress[0];
    assert.ok(g);
    const certificates = [{ certFile: '/m/certs/shop.crt', keyFile: '/m/certs/shop.key', hosts: ['shop.example.com'] }];
    const both = { ...g, tls: { listen: { host: '127.0.0.1', port: 8443 }, certificates } };
    assert.deepEqual(ingressListeners(both).map((l) => [l.name, l.tls]), [['gate', false], ['gate-tls', true]]);
    const ports = { admin: 9000, app: new Map(), inbound: new Map(), inboundHost: '127.0.0.1', outbound: [{ host: '127.0.0.1', port: 8080 }, { host: '127.0.0.1', port: 8443 }] };
    const b = buildBootstrap({ mesh, spec: { kind: 'ingress', ingress: both }, replica: 0, ports, token, adminToken: newAdminToken(), accessLogFile: 'x', logLevel: 'warn' });
    assert.deepEqual(b.outbound, [
      { name: 'gate', protocol: 'grpc', listen: { host: '127.0.0.1', port: 8080 }, cluster: 'default/catalog:grpc', ingress: true },
      { name: 'gate-tls', protocol: 'grpc', listen: { host: '127.0.0.1', port: 8443 }, cluster: 'default/catalog:grpc', ingress: true, tls: { certificates } },
    ]);
    const tlsOnly = { ...both, listen: null };
    const only = buildBootstrap({ mesh, spec: { kind: 'ingress', ingress: tlsOnly }, replica: 0, ports: { ...ports, outbound: [{ host: '127.0.0.1', port: 8443 }] }, token, adminToken: newAdminToken(), accessLogFile: 'x', logLevel: 'warn' });
    assert.deepEqual(only.outbound.map((o) => [o.name, o.listen.port, o.tls !== undefined]), [['gate-tls', 8443, true]]);
  });
});
