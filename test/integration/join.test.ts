/**
 * Joining a host, with real processes on loopback: a `trellis control-plane` serving HTTPS
 * (`--api-tls`, as off loopback), `trellis token create --host` through the CLI, and
 * `trellis agent --join` runs as a new host would, with nothing but the token. Then what a
 * joined host may not do: spend a token twice or late, run an identity its token does not
 * list, act for another host, take over another host's proxy node, or get a reserved identity.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import type { JoinTokenCreated } from '../../src/api/credentials.js';
import type { AgentReport, WorkloadView } from '../../src/api/registry.js';
import { readHostFiles } from '../../src/agent/credentials/host-files.js';
import { controlPlaneTlsOptions } from '../../src/identity/control-plane-tls.js';
import { spawnCli, startControlPlane, writeMeshDir, type ControlPlaneProcess, type MeshDir, type SpawnedProcess } from '../helpers/mesh.js';
import { freePorts, runCli, sleep, waitFor } from '../helpers/proc.js';

const TD = 'join.local';
const meshYaml = (workload: string): string => `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: it-join }
spec:
  trustDomain: ${TD}
  workloads:
    - name: ${workload}
      command: [node, http-echo.mjs]
      ports: [{ name: http, protocol: http }]
`;

function errorText(body: string): string {
  try {
    return (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? body;
  } catch {
    return body;
  }
}

describe('joining a host with a one-time token', () => {
  let md: MeshDir | undefined;
  let other: MeshDir | undefined;
  let cp: ControlPlaneProcess | undefined;
  let h1: SpawnedProcess | undefined;
  let scratch = '';

  before(async () => {
    md = await writeMeshDir({ meshYaml: meshYaml('web') });
    other = await writeMeshDir({ meshYaml: meshYaml('db') });
    scratch = await mkdtemp(join(tmpdir(), 'trellis-join-'));
    const [apiPort, pushPort] = await freePorts(2);
    // Short certificates: the host's agent renews its own several times during the test.
    cp = await startControlPlane({ cwd: md.dir, stateDir: md.stateDir, apiPort: apiPort!, pushPort: pushPort!, trustDomain: TD, certTtl: '6s', apiTls: true });
  });
  after(async () => {
    await h1?.kill('SIGTERM').catch(() => undefined);
    await cp?.kill('SIGTERM').catch(() => undefined);
    await md?.cleanup();
    await other?.cleanup();
    await rm(scratch, { recursive: true, force: true });
  });

  /** `trellis token create --host ...` as an admin, through the CLI; the token goes to a file. */
  const createToken = async (host: string, serviceAccounts: string[], ttl = '1h'): Promise<{ file: string; created: JoinTokenCreated }> => {
    const r = await runCli(['token', 'create', '--host', host, ...serviceAccounts.flatMap((s) => ['--service-account', s]), '--ttl', ttl, '-o', 'json', '--control-plane', cp!.apiUrl], { env: cp!.cliEnv(), cwd: md!.dir });
    assert.equal(r.code, 0, r.stderr);
    const created = JSON.parse(r.stdout) as JoinTokenCreated;
    const file = join(scratch, `${host}-${created.id}.token`);
    await writeFile(file, `${created.token}\n`, { mode: 0o600 });
    return { file, created };
  };

  /** Runs `trellis agent <dir> --join <file>` from a folder of its own (no access to the control plane's state). */
  const join1 = (dir: string, tokenFile: string, stateDir: string): SpawnedProcess => spawnCli(['agent', dir, '--join', tokenFile, '--state-dir', stateDir], dir);

  const exitOf = async (p: SpawnedProcess): Promise<{ code: number | null; stderr: string }> => {
    await waitFor('the agent to exit', () => p.child.exitCode !== null || p.child.signalCode !== null, { timeoutMs: 60_000, intervalMs: 100 });
    return { code: p.child.exitCode, stderr: p.output().stderr };
  };

  it('token create: the token pins the CA by its key hash and names the https address', async () => {
    const { created } = await createToken('h0', ['web']);
    assert.match(created.caFingerprint, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(created.addresses, [cp!.apiUrl]);
    assert.deepEqual(created.serviceAccounts, ['default/web']);
    const usage = await runCli(['token', 'create', '--host', 'h0', '--control-plane', cp!.apiUrl], { env: cp!.cliEnv(), cwd: md!.dir });
    assert.equal(usage.code, 2, 'a host with no --service-account is a usage error');
    const read = await runCli(['token', 'create', '--host', 'h0', '--service-account', 'web', '--control-plane', cp!.apiUrl], { env: { ...cp!.cliEnv(), TRELLIS_TOKEN: readFileSync(join(md!.stateDir, 'read-token'), 'utf8').trim() }, cwd: md!.dir });
    assert.equal(read.code, 1);
    assert.match(read.stderr, /needs an admin token/);
  });

  it('an agent joins with the token alone, runs its workload as host h1, and renews its own certificate', async () => {
    const { file } = await createToken('h1', ['web']);
    h1 = join1(md!.dir, file, join(scratch, 'h1'));
    await waitFor(
      'host h1 to report web ready',
      async () => {
        if (h1!.child.exitCode !== null) throw new Error(`agent exited ${h1!.child.exitCode}: ${h1!.output().stderr}`);
        if (!/^ready agent=h1/m.test(h1!.output().stdout)) return false;
        const ws = await cp!.api<WorkloadView[]>('/api/v1/workloads');
        return ws.some((w) => w.name === 'web' && w.agentId === 'h1' && w.replicas.every((r) => r.state === 'ready'));
      },
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    const files = await readHostFiles(join(scratch, 'h1'));
    assert.ok(files !== null);
    const first = new X509Certificate(files.certChainPem[0]!);
    assert.equal(first.subjectAltName, `URI:spiffe://${TD}/agent/h1`);
    // Certificates last 6 s here: the agent renews at about half their life with a new key,
    // and its calls keep being accepted with each new one.
    await waitFor('the host certificate to be renewed', async () => (await readHostFiles(join(scratch, 'h1')))?.certChainPem[0] !== files.certChainPem[0], { timeoutMs: 30_000, intervalMs: 200 });
    const renewed = await readHostFiles(join(scratch, 'h1'));
    assert.notEqual(renewed!.keyPem, files.keyPem, 'a new key with each renewal');
    const seen = (await cp!.api<WorkloadView[]>('/api/v1/workloads')).find((w) => w.agentId === 'h1');
    assert.ok(seen !== undefined);
  });

  it('a token is spent once: a second host with it is refused, and clearly', async () => {
    const { file } = await createToken('h5', ['web']);
    const first = join1(other!.dir, file, join(scratch, 'h5-first'));
    // The first use may fail on its mesh file (db is not allowed): it spends the token anyway.
    await exitOf(first);
    const second = await exitOf(join1(md!.dir, file, join(scratch, 'h5-second')));
    assert.equal(second.code, 1);
    assert.match(second.stderr, /join token [0-9a-f]{16} was already used at .*a token enrols one host once/);
  });

  it('a token past its --ttl is refused', async () => {
    const { file, created } = await createToken('h3', ['web'], '1s');
    const wait = Date.parse(created.expiresAt) - Date.now();
    if (wait > -1) await sleep(wait + 200);
    const r = await exitOf(join1(md!.dir, file, join(scratch, 'h3')));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /join token [0-9a-f]{16} expired at /);
  });

  it('an agent asking for an identity its host may not run is refused', async () => {
    const { file } = await createToken('h2', ['web']);
    const r = await exitOf(join1(other!.dir, file, join(scratch, 'h2')));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /host h2 may not run default\/db \(its join token allowed: default\/web\)/);
    const ws = await cp!.api<WorkloadView[]>('/api/v1/workloads');
    assert.ok(!ws.some((w) => w.agentId === 'h2'), 'nothing of h2 was registered');
  });

  it("a joined host may not act for another host, take over another host's node, or get a reserved identity", async () => {
    const files = (await readHostFiles(join(scratch, 'h1')))!;
    const asH1 = new Agent({ connect: controlPlaneTlsOptions(files.trustBundlePem, { keyPem: files.keyPem, certChainPem: files.certChainPem }) });
    /** Status and the error message (or the body) of one call as host h1. */
    const call = async (method: 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<{ status: number; text: string }> => {
      const res = await request(`${cp!.apiUrl}${path}`, { method, dispatcher: asH1, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: res.statusCode, text: errorText(await res.body.text()) };
    };
    try {
      const web = (await cp!.api<WorkloadView[]>('/api/v1/workloads')).find((w) => w.agentId === 'h1')!;
      const report = (agentId: string): AgentReport => ({ agentId, hostname: 'x', leaseMs: 15_000, workloads: [{ ...web, replicas: web.replicas }] });
      const claim = await call('PUT', '/api/v1/agents/h2', report('h2'));
      assert.equal(claim.status, 403, claim.text);
      assert.match(claim.text, /the agent of host h1 may not act for agent "h2"/);
      assert.equal((await call('DELETE', '/api/v1/agents/h2')).status, 403);
      const token = await call('POST', '/api/v1/agents/h2/tokens', { nodeId: 'default/web/9', identity: `spiffe://${TD}/ns/default/sa/web` });
      assert.equal(token.status, 403, token.text);
      const db = await call('POST', '/api/v1/agents/h1/tokens', { nodeId: 'default/db/0', identity: `spiffe://${TD}/ns/default/sa/db` });
      assert.equal(db.status, 403, db.text);
      assert.match(db.text, /host h1 may not run default\/db/);
      const reserved = await call('POST', '/api/v1/agents/h1/tokens', { nodeId: 'x/0', identity: `spiffe://${TD}/ns/trellis-system/sa/control-plane` });
      assert.equal(reserved.status, 403, reserved.text);
      assert.match(reserved.text, /reserved for the control plane/);
      const renewOther = await call('POST', '/api/v1/agents/h2/certificate', { csrPem: 'x' });
      assert.equal(renewOther.status, 403, renewOther.text);

      // A second host allowed the same service account still cannot take over h1's proxy node.
      const { file } = await createToken('h4', ['web']);
      const h4State = join(scratch, 'h4');
      const { joinOrResume, readJoinToken } = await import('../../src/agent/credentials/join.js');
      const { systemClock } = await import('../../src/util/clock.js');
      const pino = (await import('pino')).default;
      const cred = await joinOrResume(h4State, await readJoinToken(file, scratch), { clock: systemClock, logger: pino({ level: 'silent' }) });
      try {
        const res = await request(`${cp!.apiUrl}/api/v1/agents/h4`, { method: 'PUT', dispatcher: cred.dispatcher(), headers: { 'content-type': 'application/json' }, body: JSON.stringify(report('h4')) });
        const text = errorText(await res.body.text());
        assert.equal(res.statusCode, 403, text);
        assert.match(text, /proxy node default\/web\/0 is registered by agent h1, not by host h4/);
      } finally {
        await cred.close();
      }

      // An admin removes host h1: its certificate is refused from then on.
      const removed = await runCli(['token', 'delete', '--host', 'h1', '--control-plane', cp!.apiUrl], { env: cp!.cliEnv(), cwd: md!.dir });
      assert.equal(removed.code, 0, removed.stderr);
      // With h1's current certificate (they last 6 s here and the agent keeps renewing; the one
      // read at the start may have expired on a slow machine, which would be refused for that).
      const now = (await readHostFiles(join(scratch, 'h1')))!;
      const asH1Now = new Agent({ connect: controlPlaneTlsOptions(now.trustBundlePem, { keyPem: now.keyPem, certChainPem: now.certChainPem }) });
      const afterRes = await request(`${cp!.apiUrl}/api/v1/agents/h1`, { method: 'PUT', dispatcher: asH1Now, headers: { 'content-type': 'application/json' }, body: JSON.stringify(report('h1')) });
      const after = { status: afterRes.statusCode, text: errorText(await afterRes.body.text()) };
      await asH1Now.close();
      assert.equal(after.status, 401, after.text);
      assert.match(after.text, /host h1 is not joined/);
    } finally {
      await asH1.close();
    }
  });
});
