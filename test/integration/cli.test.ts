/** The CLI against a running mesh: get (json, yaml), proxy-config, check, version, help, exit codes. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import type { EndpointView, ProxyView, ServiceView, WorkloadView } from '../../src/api/registry.js';
import { ExitCode } from '../../src/errors.js';
import { packageRoot } from '../../src/util/paths.js';
import { startMesh, type Mesh } from '../helpers/mesh.js';
import { pairMesh, spiffeId } from '../helpers/meshes.js';
import { freePort, pidAlive, runCli } from '../helpers/proc.js';

/** Every numeric value of a key named `key`, anywhere in a JSON value. */
function numbersAt(value: unknown, key: string, out: number[] = []): number[] {
  if (Array.isArray(value)) for (const v of value) numbersAt(v, key, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === key && typeof v === 'number') out.push(v);
      numbersAt(v, key, out);
    }
  }
  return out;
}

describe('cli', () => {
  let mesh: Mesh | undefined;

  before(async () => {
    const outPort = await freePort();
    mesh = await startMesh({
      meshYaml: pairMesh({ name: 'it-cli', protocol: 'http', serverCommand: ['node', 'http-echo.mjs'], outPort, serverReplicas: 2 }),
    });
  });

  after(async () => {
    await mesh?.stop();
  });

  it('get services -o json|yaml', async () => {
    const services = await mesh!.getJson<ServiceView[]>('services');
    const b = services.find((s) => s.name === 'b');
    assert.ok(b, JSON.stringify(services));
    assert.equal(b.identity, spiffeId('b'));
    assert.equal(b.endpointsTotal, 2);
    assert.equal(b.endpointsReady, 2);
    assert.deepEqual(b.ports, [{ name: 'http', protocol: 'http' }]);
    assert.ok(services.some((s) => s.name === 'a'));

    const r = await mesh!.cli(['get', 'services', '-o', 'yaml']);
    assert.equal(r.code, 0, r.stderr);
    const fromYaml = YAML.parse(r.stdout) as ServiceView[];
    assert.deepEqual(fromYaml.map((s) => s.name).sort(), services.map((s) => s.name).sort());
  });

  it('get workloads -o json|yaml: replicas, states and live pids', async () => {
    const workloads = await mesh!.getJson<WorkloadView[]>('workloads');
    const b = workloads.find((w) => w.name === 'b');
    assert.ok(b);
    assert.equal(b.identity, spiffeId('b'));
    assert.deepEqual(b.replicas.map((r) => r.replica).sort(), [0, 1]);
    for (const r of b.replicas) {
      assert.equal(r.state, 'ready');
      assert.equal(r.restarts, 0);
      assert.ok(r.appPid !== null && pidAlive(r.appPid), `app pid ${r.appPid}`);
      assert.ok(r.proxyPid !== null && pidAlive(r.proxyPid), `proxy pid ${r.proxyPid}`);
    }
    assert.deepEqual(workloads.find((w) => w.name === 'a')?.upstreams, ['default/b:http']);

    const r = await mesh!.cli(['get', 'workloads', '-o', 'yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual((YAML.parse(r.stdout) as WorkloadView[]).map((w) => w.name).sort(), ['a', 'b']);
  });

  it('get endpoints -o json|yaml: one per replica, with the service identity', async () => {
    const endpoints = (await mesh!.getJson<EndpointView[]>('endpoints')).filter((e) => e.service === 'b');
    assert.equal(endpoints.length, 2);
    assert.equal(new Set(endpoints.map((e) => `${e.host}:${e.portNumber}`)).size, 2, 'distinct inbound addresses');
    for (const e of endpoints) {
      assert.equal(e.identity, spiffeId('b'));
      assert.equal(e.protocol, 'http');
      assert.equal(e.ready, true);
    }
    const r = await mesh!.cli(['get', 'endpoints', '-o', 'yaml']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok((YAML.parse(r.stdout) as EndpointView[]).some((e) => e.service === 'b'));
  });

  it('get proxies -o json: every proxy connected with a certificate and an acked version', async () => {
    const proxies = await mesh!.getJson<ProxyView[]>('proxies');
    assert.deepEqual(proxies.map((p) => p.nodeId).sort(), ['default/a/0', 'default/b/0', 'default/b/1']);
    for (const p of proxies) {
      assert.equal(p.connected, true, p.nodeId);
      assert.notEqual(p.certSerial, null, p.nodeId);
      assert.equal(typeof p.ackedVersion, 'number', p.nodeId);
    }
  });

  it('proxy-config <workload> and <workload>/<replica> show a version and the upstream cluster', async () => {
    for (const target of ['a', 'a/0']) {
      const r = await mesh!.cli(['proxy-config', target, '-o', 'json']);
      assert.equal(r.code, 0, `${target}: ${r.stderr}`);
      const parsed: unknown = JSON.parse(r.stdout);
      assert.ok(numbersAt(parsed, 'version').length > 0, `${target}: a numeric version in ${r.stdout.slice(0, 300)}`);
      assert.ok(r.stdout.includes('default/b:http'), `${target}: cluster default/b:http in the config`);
    }
  });

  it('proxy-config of an unknown workload exits 5', async () => {
    const r = await mesh!.cli(['proxy-config', 'no-such-workload', '-o', 'json']);
    assert.equal(r.code, ExitCode.NotFound, r.stderr);
    assert.match(r.stderr, /no-such-workload/);
  });

  it('check -o json exits 0 with every check ok', async () => {
    const r = await mesh!.cli(['check', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal((JSON.parse(r.stdout) as { ok: boolean }).ok, true);
  });

  it('version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
    const r = await runCli(['version']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(pkg.version), r.stdout);
  });

  it('--help exits 0 and lists the commands', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const cmd of ['up', 'get', 'proxy-config', 'check', 'control-plane', 'agent']) assert.ok(r.stdout.includes(cmd), `help mentions ${cmd}`);
  });

  it('usage errors exit 2: unknown command, unknown resource kind, bad -o', async () => {
    for (const args of [['no-such-command'], ['get', 'nonsense', '--control-plane', mesh!.apiUrl], ['get', 'services', '-o', 'xml', '--control-plane', mesh!.apiUrl]]) {
      const r = await runCli(args);
      assert.equal(r.code, ExitCode.Usage, `${args.join(' ')}: ${r.stderr}`);
      assert.ok(r.stderr.length > 0, `${args.join(' ')} explains itself on stderr`);
    }
  });

  it('from a folder outside the repository, with no flag: finds the mesh through the record `up` left in the per-user config', async () => {
    const elsewhere = await mkdtemp(join(tmpdir(), 'trellis-elsewhere-'));
    try {
      assert.ok(!elsewhere.startsWith(packageRoot) && !elsewhere.startsWith(mesh!.dir));
      const env: NodeJS.ProcessEnv = { ...process.env, XDG_CONFIG_HOME: mesh!.configHome };
      delete env.TRELLIS_CONTROL_PLANE;
      const r = await runCli(['get', 'workloads', '-o', 'json'], { cwd: elsewhere, env });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual((JSON.parse(r.stdout) as WorkloadView[]).map((w) => w.name).sort(), ['a', 'b']);
      // The table's PIDS column shows the same live pids as -o json.
      const table = await runCli(['get', 'workloads'], { cwd: elsewhere, env });
      const b = (JSON.parse(r.stdout) as WorkloadView[]).find((w) => w.name === 'b')!;
      assert.ok(table.stdout.includes(b.replicas.map((x) => `${x.appPid}/${x.proxyPid}`).join(',')), table.stdout);
      // Without the record (another user's config), the CLI says where it looked.
      const none = await runCli(['get', 'workloads'], { cwd: elsewhere, env: { ...env, XDG_CONFIG_HOME: join(elsewhere, 'empty') } });
      if (none.code !== 0) assert.match(none.stderr, /came from the default: .*no running `trellis up` recorded in \S+empty\/trellis\/context\.json/);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('an unreachable control plane exits 4', async () => {
    const port = await freePort();
    const r = await runCli(['get', 'services', '-o', 'json', '--control-plane', `http://127.0.0.1:${port}`]);
    assert.equal(r.code, ExitCode.Unreachable, r.stderr);
    assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
  });
});
