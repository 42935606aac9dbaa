import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { ApplyResult, ResourceView } from '../api/resources.js';
import { runControlPlane, type RunningControlPlane } from '../control/main.js';
import { tempDir } from '../control/test-support.js';
import { ExitCode } from '../errors.js';
import { captureIo, type CapturedIo } from './test-support.js';
import { runCli } from './run.js';

const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs: [{name: web}]
  rules:
    - filters:
        - type: ExtensionRef
          extensionRef: {group: trellis.dev, kind: FaultInjection, name: slow}
      backendRefs: [{name: web, port: 8080, weight: 90}, {name: web-canary, port: 8080, weight: 10}]
---
apiVersion: trellis.dev/v1alpha1
kind: FaultInjection
metadata:
  name: slow
spec:
  delay: {fixedDelay: 200ms, percentage: 10}
`;

let cp: RunningControlPlane;
let dir: string;
let cleanup: () => Promise<void>;

/** Reads use a read token from the environment (get has no --state-dir); writes find the admin token with --state-dir. */
const capture = (stdin = '', env: Record<string, string> = {}): CapturedIo => captureIo({ cwd: dir, stdin, env });

const cli = async (args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> => {
  const io = capture(stdin, args[0] === 'get' ? { TRELLIS_TOKEN: readFileSync(join(dir, 'state', 'read-token'), 'utf8').trim() } : {});
  const code = await runCli([...args, '--control-plane', cp.apiUrl, ...(args[0] === 'get' ? [] : ['--state-dir', join(dir, 'state')])], io);
  return { code, out: io.stdout, err: io.stderr };
};

before(async () => {
  const t = await tempDir();
  dir = t.dir;
  cleanup = t.cleanup;
  cp = await runControlPlane({ stateDir: join(dir, 'state'), api: { host: '127.0.0.1', port: 0 }, push: { host: '127.0.0.1', port: 0 }, trustDomain: 'test.local', certTtlMs: 3600_000, logLevel: 'silent' });
  await mkdir(join(dir, 'res'));
  await writeFile(join(dir, 'res', 'routes.yaml'), ROUTES);
});
after(async () => {
  await cp.close();
  await cleanup();
});

describe('trellis apply / get / delete against a real control plane', () => {
  it('apply --dry-run shows what would change and stores nothing', async () => {
    const r = await cli(['apply', '-f', 'res', '--dry-run']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'HTTPRoute default/web created (dry run)\nFaultInjection default/slow created (dry run)\n');
    const g = await cli(['get', 'httproutes']);
    assert.equal(g.out, 'no httproutes found\n');
  });

  it('apply, then apply again: created, then unchanged', async () => {
    assert.equal((await cli(['apply', '-f', 'res/routes.yaml'])).out, 'HTTPRoute default/web created\nFaultInjection default/slow created\n');
    const again = await cli(['apply', '-f', '-', '-o', 'json'], ROUTES);
    assert.deepEqual((JSON.parse(again.out) as ApplyResult).results.map((x) => x.action), ['unchanged', 'unchanged']);
  });

  it('get shows status conditions: the route is not attached (no service web registered)', async () => {
    const list = await cli(['get', 'HTTPRoute']);
    assert.equal(list.code, 0, list.err);
    assert.match(list.out, /^KIND\s+NAMESPACE\s+NAME\s+PARENTS\/TARGET\s+ACCEPTED\s+RESOLVED REFS\s+GENERATION\s+VERSION\n/);
    assert.match(list.out, /HTTPRoute\s+default\s+web\s+web\s+False \(NoMatchingParent\)\s+False \(BackendNotFound\)\s+1\s+1\n/);
    const one = await cli(['get', 'httproute', 'web']);
    assert.match(one.out, /parent default\/web: Accepted=False NoMatchingParent: service default\/web is not registered/);
    const y = await cli(['get', 'httproute', 'web', '-o', 'yaml']);
    const doc = parseYaml(y.out) as ResourceView;
    assert.equal(doc.metadata.resourceVersion, '1');
    assert.equal(doc.status.parents?.[0]?.conditions[1]?.reason, 'BackendNotFound');
    const all = await cli(['get', 'resources', '-o', 'json']);
    assert.deepEqual((JSON.parse(all.out) as ResourceView[]).map((r) => r.kind), ['FaultInjection', 'HTTPRoute']);
  });

  it('every kind by its plural or short name (get destinationpolicies was refused as an unknown kind)', async () => {
    for (const name of ['destinationpolicies', 'dp', 'grpcroutes', 'grpcroutes.gateway.networking.k8s.io']) {
      const r = await cli(['get', name]);
      assert.equal(r.code, 0, `${name}: ${r.err}`);
      assert.equal(r.out, `no ${name} found\n`);
    }
    const routes = await cli(['get', 'httproutes.gateway.networking.k8s.io', '-o', 'json']);
    assert.deepEqual((JSON.parse(routes.out) as ResourceView[]).map((r) => r.metadata.name), ['web']);
    const faults = await cli(['get', 'faultinjections', '-o', 'json']);
    assert.equal(faults.code, 0, faults.err);
    assert.deepEqual((JSON.parse(faults.out) as ResourceView[]).map((r) => r.metadata.name), ['slow']);
  });

  it('an invalid file is rejected whole, with file:line:col: kind/name: path: reason (exit 3)', async () => {
    await writeFile(join(dir, 'bad.yaml'), ROUTES.replace('weight: 10}', 'weight: 2000000}').replace('name: slow\nspec', 'name: slower\nspec'));
    const r = await cli(['apply', '-f', 'bad.yaml']);
    assert.equal(r.code, ExitCode.Config);
    // Paths are shown relative to the process's working directory when inside it, else absolute.
    assert.match(r.err, /^trellis: \S*bad\.yaml:11:97: HTTPRoute\/web: spec\.rules\[0\]\.backendRefs\[1\]\.weight: must be at most 1000000\n$/);
    assert.equal((await cli(['get', 'faultinjection', 'slower'])).code, ExitCode.NotFound, 'nothing of the file was stored');
  });

  it('without the token a write is refused', async () => {
    const io = capture();
    const code = await runCli(['apply', '-f', 'res', '--control-plane', cp.apiUrl, '--state-dir', join(dir, 'nowhere')], io);
    assert.notEqual(code, 0);
    assert.match(io.stderr, /token/);
  });

  it('a read token may read but not write: 403, said as such', async () => {
    const read = readFileSync(join(dir, 'state', 'read-token'), 'utf8').trim();
    const io = capture('', { TRELLIS_TOKEN: read });
    const code = await runCli(['apply', '-f', 'res', '--control-plane', cp.apiUrl], io);
    assert.equal(code, ExitCode.Failure);
    assert.match(io.stderr, /may not do this: it needs an admin token.*from \$TRELLIS_TOKEN\) is not allowed/);
  });

  it('delete, then get says not found (exit 5)', async () => {
    const d = await cli(['delete', 'httproute', 'web']);
    assert.equal(d.code, 0, d.err);
    assert.equal(d.out, 'HTTPRoute default/web deleted\n');
    assert.equal((await cli(['delete', 'httproute', 'web'])).code, ExitCode.NotFound);
    assert.equal((await cli(['get', 'httproute', 'web'])).code, ExitCode.NotFound);
    assert.equal((await cli(['delete', 'widgets', 'x'])).code, ExitCode.Usage);
  });
});

describe('trellis up with a resources/ folder', () => {
  it('an invalid resource rejects the start with its file:line before anything starts', async () => {
    const mesh = join(dir, 'mesh');
    await mkdir(join(mesh, 'resources'), { recursive: true });
    await writeFile(
      join(mesh, 'trellis.yaml'),
      'apiVersion: trellis.dev/v1alpha1\nkind: Mesh\nmetadata: { name: m }\nspec:\n  controlPlane: { api: 127.0.0.1:0, push: 127.0.0.1:0 }\n  workloads:\n    - name: hello\n      command: [node, app.mjs]\n      ports: [{ name: http }]\n',
    );
    await writeFile(join(mesh, 'resources', 'faults.yaml'), 'apiVersion: trellis.dev/v1alpha1\nkind: FaultInjection\nmetadata: {name: x}\nspec:\n  abort: {httpStatus: 700}\n');
    const io = capture();
    io.cwd = mesh;
    const code = await runCli(['up', mesh, '--state-dir', join(mesh, 'state')], io);
    assert.equal(code, ExitCode.Config, io.stderr);
    assert.match(io.stderr, /^trellis: \S*resources\/faults\.yaml:5:23: FaultInjection\/x: spec\.abort\.httpStatus: must be at most 599\n$/);
  });
});
