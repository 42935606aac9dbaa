import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PUSH_PATH_CERTIFICATE, PUSH_PATH_ROTATE } from '../../api/push.js';
import type { ProxySnapshot } from '../../api/snapshot.js';
import { CertificateAuthority } from '../../identity/ca.js';
import { generateKeyAndCsr } from '../../identity/keys.js';
import type { ControlPlane } from '../control-plane.js';
import { STATUS, StreamClient, agentReport, api, enroll, pushPost, until, useControlPlane, workload } from '../test-support.js';

const WEB = 'spiffe://test.local/ns/default/sa/web';
const FRONT = 'spiffe://test.local/ns/default/sa/front';
const fixture = useControlPlane();
/** The file's control plane (started in before()). */
const cpOf = (): ControlPlane => fixture.cp;

test('token -> CSR -> certificate for the token\'s identity, whatever the CSR asked', async () => {
  // The agent token gets identities only of workloads its agent reported.
  const early = await api(cpOf(), 'POST', '/api/v1/agents/a1/tokens', { nodeId: 'default/web/0', identity: WEB });
  assert.equal(early.status, 403);
  assert.equal((await api(cpOf(), 'PUT', '/api/v1/agents/a1', agentReport('a1', [workload('web')]))).status, 200);
  const t = await api(cpOf(), 'POST', '/api/v1/agents/a1/tokens', { nodeId: 'default/web/0', identity: WEB });
  assert.equal(t.status, 200);
  const grant = t.json as { token: string; pushUrl: string; trustBundlePem: string[]; controlPlaneIdentity: string };
  assert.equal(grant.pushUrl, cpOf().pushUrl);
  assert.equal(grant.controlPlaneIdentity, 'spiffe://test.local/ns/trellis-system/sa/control-plane');
  const { csrPem } = await generateKeyAndCsr('spiffe://test.local/ns/kube-system/sa/admin');
  const r = await pushPost(cpOf(), PUSH_PATH_CERTIFICATE, { csrPem, token: grant.token, nodeId: 'default/web/0' }, null);
  assert.equal(r.status, 200);
  const body = r.json as { certChainPem: string[]; trustBundlePem: string[]; notAfter: string };
  assert.equal(new X509Certificate(body.certChainPem[0] as string).subjectAltName, `URI:${WEB}`);
  assert.deepEqual(body.trustBundlePem, cpOf().ca.trustBundlePem());

  // The same token again: refused.
  const again = await pushPost(cpOf(), PUSH_PATH_CERTIFICATE, { csrPem, token: grant.token, nodeId: 'default/web/0' }, null);
  assert.equal(again.status, 401);
  assert.match((again.json as { error: { message: string } }).error.message, /already used/);
});

test('a wrong token, a token for another node and no token are refused', async () => {
  const { csrPem } = await generateKeyAndCsr(WEB);
  const wrong = await pushPost(cpOf(), PUSH_PATH_CERTIFICATE, { csrPem, token: 'made-up', nodeId: 'default/web/0' }, null);
  assert.equal(wrong.status, 401);
  const t = await api(cpOf(), 'POST', '/api/v1/agents/a1/tokens', { nodeId: 'default/web/0', identity: WEB });
  const other = await pushPost(cpOf(), PUSH_PATH_CERTIFICATE, { csrPem, token: (t.json as { token: string }).token, nodeId: 'default/web/1' }, null);
  assert.equal(other.status, 401);
  const none = await pushPost(cpOf(), PUSH_PATH_CERTIFICATE, { csrPem, nodeId: 'default/web/0' }, null);
  assert.equal(none.status, 401);
  const bad = await pushPost(cpOf(), PUSH_PATH_CERTIFICATE, { csrPem: 42, nodeId: 'default/web/0' }, null);
  assert.equal(bad.status, 400);
  assert.match((bad.json as { error: { message: string } }).error.message, /^csrPem: /);
});

test('/rotate needs the current certificate of the node\'s identity', async () => {
  const creds = await enroll(cpOf(), 'default/web/0', WEB);
  const { csrPem } = await generateKeyAndCsr(WEB);
  assert.equal((await pushPost(cpOf(), PUSH_PATH_ROTATE, { csrPem, nodeId: 'default/web/0' }, null)).status, 401);
  const ok = await pushPost(cpOf(), PUSH_PATH_ROTATE, { csrPem, nodeId: 'default/web/0' }, creds);
  assert.equal(ok.status, 200);
  const front = await enroll(cpOf(), 'default/front/0', FRONT);
  const wrongNode = await pushPost(cpOf(), PUSH_PATH_ROTATE, { csrPem, nodeId: 'default/web/0' }, front);
  assert.equal(wrongNode.status, 403);
});

test('/stream refuses a client without a certificate or with a foreign one', async () => {
  const noCert = new StreamClient(cpOf(), null);
  noCert.send({ type: 'hello', nodeId: 'default/web/0', lastVersion: null, status: STATUS });
  assert.equal(await noCert.status, 401);
  noCert.close();

  const dir = await mkdtemp(join(tmpdir(), 'trellis-foreign-'));
  try {
    const foreign = await CertificateAuthority.loadOrCreate(dir, 'test.local');
    const { keyPem, csrPem } = await generateKeyAndCsr(WEB);
    const issued = await foreign.signCsr(csrPem, WEB, 3600_000);
    const s = new StreamClient(cpOf(), { keyPem, certChainPem: issued.certChainPem });
    s.send({ type: 'hello', nodeId: 'default/web/0', lastVersion: null, status: STATUS });
    assert.equal(await s.status, 401);
    s.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  // A mesh certificate, but for another node's identity: 403.
  const front = await enroll(cpOf(), 'default/front/0', FRONT);
  const s = new StreamClient(cpOf(), front);
  s.send({ type: 'hello', nodeId: 'default/web/0', lastVersion: null, status: STATUS });
  assert.equal(await s.status, 403);
  s.close();
});

test('snapshot on hello, a new one after an agent report changes endpoints, acks tracked, no duplicate on reconnect', async () => {
  const creds = await enroll(cpOf(), 'default/front/0', FRONT);
  const report = (webPorts: number[]) =>
    agentReport('a1', [workload('front', { upstreams: ['default/web:http'], readyPorts: [21000] }), workload('web', { readyPorts: webPorts })]);
  assert.equal((await api(cpOf(), 'PUT', '/api/v1/agents/a1', report([21001]))).status, 200);
  await until(() => cpOf().snapshots.get('default/front/0') !== undefined);

  const s = new StreamClient(cpOf(), creds);
  s.send({ type: 'hello', nodeId: 'default/front/0', lastVersion: null, status: STATUS });
  assert.equal(await s.status, 200);
  const m1 = await s.next();
  assert.equal(m1?.type, 'snapshot');
  const snap1 = (m1 as { snapshot: ProxySnapshot }).snapshot;
  assert.deepEqual(snap1.clusters[0]?.endpoints.map((e) => e.port), [21001]);
  s.send({ type: 'ack', version: snap1.version });
  await until(() => cpOf().tracker.get('default/front/0')?.ackedVersion === snap1.version);

  assert.equal((await api(cpOf(), 'PUT', '/api/v1/agents/a1', report([21001, 21002]))).status, 200);
  const m2 = await s.next();
  const snap2 = (m2 as { snapshot: ProxySnapshot }).snapshot;
  assert.ok(snap2.version > snap1.version);
  assert.deepEqual(snap2.clusters[0]?.endpoints.map((e) => e.port), [21001, 21002]);
  s.send({ type: 'nack', version: snap2.version, error: 'bad' });
  await until(() => cpOf().tracker.get('default/front/0')?.nack?.version === snap2.version);
  s.send({ type: 'ack', version: snap2.version });
  await until(() => cpOf().tracker.get('default/front/0')?.ackedVersion === snap2.version);
  const view = ((await api(cpOf(), 'GET', '/api/v1/proxies')).json as { nodeId: string; connected: boolean; version: number; ackedVersion: number; nack: unknown }[]).find(
    (p) => p.nodeId === 'default/front/0',
  );
  assert.deepEqual([view?.connected, view?.version, view?.ackedVersion, view?.nack], [true, snap2.version, snap2.version, null]);

  // A report that does not change front's content pushes nothing to it.
  const w = report([21001, 21002]);
  (w.workloads[1] as { ports: { name: string; protocol: 'http' }[] }).ports.push({ name: 'admin', protocol: 'http' });
  assert.equal((await api(cpOf(), 'PUT', '/api/v1/agents/a1', w)).status, 200);
  await cpOf().snapshots.idle();
  s.close();
  await until(() => cpOf().tracker.get('default/front/0')?.connected === false);

  // Reconnect already holding the current version: no snapshot, but the stream is open and pings flow.
  const s2 = new StreamClient(cpOf(), creds);
  s2.send({ type: 'hello', nodeId: 'default/front/0', lastVersion: snap2.version, status: STATUS });
  assert.equal(await s2.status, 200);
  const first = await s2.nextAny();
  assert.equal(first?.type, 'ping', 'the first message is a ping, not a duplicate snapshot');
  assert.deepEqual(s2.pending(), []);
  assert.equal(cpOf().tracker.get('default/front/0')?.connected, true);
  s2.close();

  // Reconnect with an old version: the current snapshot comes at once.
  const s3 = new StreamClient(cpOf(), creds);
  s3.send({ type: 'hello', nodeId: 'default/front/0', lastVersion: snap1.version, status: STATUS });
  const m3 = await s3.next();
  assert.equal((m3 as { snapshot: ProxySnapshot }).snapshot.version, snap2.version);
  s3.close();
});

test('acks count in any JSON spelling (the exact one takes a fast path); a malformed ack ends the stream', async () => {
  const creds = await enroll(cpOf(), 'default/web/0', WEB);
  const s = new StreamClient(cpOf(), creds);
  s.send({ type: 'hello', nodeId: 'default/web/0', lastVersion: null, status: STATUS });
  assert.equal(await s.status, 200);
  const st = () => cpOf().tracker.get('default/web/0');
  s.sendRaw('{"type":"ack","version":41}');
  await until(() => st()?.ackedVersion === 41);
  s.sendRaw('{ "version": 42, "type": "ack" }');
  await until(() => st()?.ackedVersion === 42);
  s.sendRaw('{"type":"ack","version":"43"}');
  await until(() => st()?.connected === false);
  assert.equal(st()?.ackedVersion, 42);
  s.close();
});

test('a stream whose first line is not hello is refused with 400', async () => {
  const creds = await enroll(cpOf(), 'default/web/0', WEB);
  const s = new StreamClient(cpOf(), creds);
  s.send({ type: 'ack', version: 1 });
  assert.equal(await s.status, 400);
  s.close();
});

test('a stream that stays silent for three ping intervals is dropped', async () => {
  const creds = await enroll(cpOf(), 'default/web/0', WEB);
  const s = new StreamClient(cpOf(), creds);
  s.send({ type: 'hello', nodeId: 'default/web/0', lastVersion: null, status: STATUS });
  assert.equal(await s.status, 200);
  // Never answer: next() skips pings and resolves null once the control plane ends the stream.
  while ((await s.next()) !== null);
  await until(() => cpOf().tracker.get('default/web/0')?.connected === false);
  s.close();
});
