/**
 * Who may do what on the REST API, over a real `trellis control-plane` process serving HTTPS
 * on loopback (`--api-tls`: what it does on any other address). Every route of the server's own
 * table (API_ROUTES) is called with no credential and with a read token, so a route added
 * later is covered without touching this file; the few routes open to anyone are listed here by
 * hand, so opening one more is a deliberate change of this test.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { API_ROUTES } from '../../src/control/api/routes.js';
import { CertificateAuthority } from '../../src/identity/ca.js';
import { controlPlaneTlsOptions } from '../../src/identity/control-plane-tls.js';
import { startControlPlane, type ControlPlaneProcess } from '../helpers/mesh.js';
import { freePorts, runCli } from '../helpers/proc.js';

/** Open to anyone who reaches the port: nothing here shows traffic or changes the mesh. */
const OPEN = new Set(['GET /healthz', 'GET /api/v1/ca', 'POST /api/v1/join', '* /v1/traces', 'GET /', 'GET /dashboard/*', 'POST /api/v1/agents/:agentId/certificate']);

describe('REST API: every route refuses what it must (HTTPS on loopback)', () => {
  let dir = '';
  let cp: ControlPlaneProcess | undefined;
  let verified: Agent;
  let stateDir = '';
  const token = (name: string): string => readFileSync(join(stateDir, name), 'utf8').trim();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-access-'));
    stateDir = join(dir, 'state');
    const [apiPort, pushPort] = await freePorts(2);
    cp = await startControlPlane({ cwd: dir, stateDir, apiPort: apiPort!, pushPort: pushPort!, apiTls: true });
    verified = new Agent({ connect: controlPlaneTlsOptions([readFileSync(join(stateDir, 'ca', 'root.crt'), 'utf8')]) });
  });
  after(async () => {
    await verified?.close();
    await cp?.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; text: string; headers: Record<string, unknown> }> => {
    const res = await request(`${cp!.apiUrl}${path}`, { method: method as 'GET', headers: { 'content-type': 'application/json', ...headers }, body, dispatcher: verified, headersTimeout: 10_000, bodyTimeout: 10_000 });
    return { status: res.statusCode, text: await res.body.text(), headers: res.headers };
  };

  /** A concrete request for a route: parameters filled in, '*' methods as POST. */
  const concrete = (r: (typeof API_ROUTES)[number]): [string, string] => [r.method === '*' ? 'POST' : r.method, r.path.replace(/:[A-Za-z]+/g, 'x').replace(/\/\*$/, '/')];

  it('serves HTTPS with a certificate from the mesh CA naming the control plane; plain HTTP gets nothing', async () => {
    assert.match(cp!.apiUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ok = await call('GET', '/healthz');
    assert.equal(ok.status, 200);
    const plain = await request(cp!.apiUrl.replace('https:', 'http:') + '/healthz', { headersTimeout: 5000 }).then(
      (r) => r.statusCode,
      (err: Error) => err.message,
    );
    assert.notEqual(plain, 200, 'plain HTTP must not be answered on the HTTPS port');
  });

  it('the table: the open routes are exactly the listed ones', () => {
    const open = API_ROUTES.filter((r) => r.access === 'public' || r.access === 'join-token' || r.access === 'agent-certificate').map((r) => `${r.method} ${r.path}`);
    assert.deepEqual(new Set(open), OPEN);
  });

  it('without a credential: every route that is not open answers 401 with WWW-Authenticate', async () => {
    for (const r of API_ROUTES) {
      const [method, path] = concrete(r);
      const res = await call(method, path, {}, method === 'GET' ? undefined : '{}');
      if (OPEN.has(`${r.method} ${r.path}`)) {
        assert.ok(res.status !== 403, `${method} ${path} is open: ${res.status}`);
        if (r.path !== '/api/v1/join' && r.access !== 'agent-certificate') assert.notEqual(res.status, 401, `${method} ${path} is open`);
        continue;
      }
      assert.equal(res.status, 401, `${method} ${path} (${r.access}) without a credential: ${res.text}`);
      assert.equal(res.headers['www-authenticate'], 'Bearer realm="trellis"', `${method} ${path}`);
      assert.equal((JSON.parse(res.text) as { error: { code: string } }).error.code, 'TRELLIS_E_UNAUTHORIZED');
    }
  });

  it('with a wrong or malformed token: 401 as well', async () => {
    for (const bad of ['Bearer 0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'Bearer nonsense', 'Basic dXNlcjpwYXNz', `Bearer ${token('read-token')}x`]) {
      const res = await call('GET', '/api/v1/services', { authorization: bad });
      assert.equal(res.status, 401, bad);
    }
  });

  it('with a read token: reads are answered; admin and agent routes are 403', async () => {
    const read = { authorization: `Bearer ${token('read-token')}` };
    for (const r of API_ROUTES) {
      const [method, path] = concrete(r);
      const res = await call(method, path, read, method === 'GET' ? undefined : '{}');
      if (r.access === 'admin' || r.access === 'agent') assert.equal(res.status, 403, `${method} ${path} (${r.access}) with a read token: ${res.text}`);
      else assert.ok(res.status !== 401 && res.status !== 403, `${method} ${path} (${r.access}) with a read token: ${res.status} ${res.text}`);
    }
  });

  it('with the admin token: writes work, and a token it makes has the role it was given', async () => {
    const admin = { authorization: `Bearer ${token('admin-token')}` };
    const made = await call('POST', '/api/v1/tokens', admin, JSON.stringify({ role: 'read', name: 'grafana' }));
    assert.equal(made.status, 200, made.text);
    const { token: grafana, id } = JSON.parse(made.text) as { token: string; id: string };
    assert.equal((await call('GET', '/api/v1/stats', { authorization: `Bearer ${grafana}` })).status, 200);
    assert.equal((await call('PUT', '/api/v1/resources', { authorization: `Bearer ${grafana}` }, '{"resources":[]}')).status, 403);
    assert.equal((await call('DELETE', `/api/v1/tokens/${id}`, admin)).status, 200);
    assert.equal((await call('GET', '/api/v1/stats', { authorization: `Bearer ${grafana}` })).status, 401, 'a deleted token is refused at once');
    assert.equal((await call('PUT', '/api/v1/resources', admin, '{"resources":[]}')).status, 200);
    // The stored record holds a hash, never the token.
    const stored = readFileSync(join(stateDir, 'store', 'credentials.json'), 'utf8');
    for (const t of [token('admin-token'), token('read-token')]) assert.ok(!stored.includes(t.split('.')[1]!), 'no secret in the store');
  });

  it('the dashboard login: a valid token becomes an HttpOnly SameSite cookie good for reads only', async () => {
    const bad = await call('GET', '/dashboard/?token=0123456789abcdef.nope');
    assert.equal(bad.status, 401);
    const login = await call('GET', `/dashboard/?token=${token('admin-token')}`);
    assert.equal(login.status, 303);
    assert.equal(login.headers.location, '/dashboard/');
    const cookie = String(login.headers['set-cookie']);
    assert.match(cookie, /^trellis-token-\d+=[0-9a-f]{16}\.[\w-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
    const jar = { cookie: cookie.split(';')[0]! };
    assert.equal((await call('GET', '/api/v1/services', jar)).status, 200);
    // Even an admin token's cookie never authorizes a write: a browser sends cookies cross-site too.
    assert.equal((await call('PUT', '/api/v1/resources', jar, '{"resources":[]}')).status, 401);
    assert.equal((await call('POST', '/api/v1/tokens', jar, JSON.stringify({ role: 'admin', name: 'csrf' }))).status, 401);
  });

  it('the CLI verifies the HTTPS control plane against the CA; a foreign CA is refused', async () => {
    const env = { ...process.env, TRELLIS_TOKEN: token('read-token') };
    const ok = await runCli(['get', 'services', '-o', 'json', '--control-plane', cp!.apiUrl, '--ca-file', join(stateDir, 'ca', 'root.crt')], { env, cwd: dir });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.trim(), '[]');
    const foreign = await CertificateAuthority.loadOrCreate(join(dir, 'foreign-ca'), 'trellis.local');
    await writeFile(join(dir, 'foreign.crt'), foreign.trustBundlePem()[0]!);
    const refused = await runCli(['get', 'services', '--control-plane', cp!.apiUrl, '--ca-file', join(dir, 'foreign.crt')], { env, cwd: dir });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /cannot reach the control plane .*(certificate|CERT|self.signed|verify)/i);
  });
});
