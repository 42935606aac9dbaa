import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { ProxyAdminDispatcher } from '../../control/proxy-admin/admin-dispatcher.js';
import { CertificateAuthority } from '../../identity/ca.js';
import { generateKeyAndCsr } from '../../identity/keys.js';
import type { TlsCredentials } from '../../identity/tls.js';
import { WorkloadCredentials } from '../../identity/workload-credentials.js';
import type { AdminSource } from './admin-server.js';
import { RemoteAdminServer } from './remote-admin-server.js';

const TD = 'td.test';
const PROXY_ID = 'spiffe://td.test/ns/default/sa/web';
const CONTROL_PLANE_ID = 'spiffe://td.test/ns/trellis-system/sa/control-plane';
const PEER_ID = 'spiffe://td.test/ns/default/sa/client';
const HOUR = 3600_000;

async function creds(ca: CertificateAuthority, id: string): Promise<TlsCredentials & { notAfter: Date; serial: string }> {
  const { keyPem, csrPem } = await generateKeyAndCsr(id);
  const issued = await ca.signCsr(csrPem, id, HOUR);
  return { keyPem, certChainPem: issued.certChainPem, notAfter: issued.notAfter, serial: issued.serial };
}

describe('remote admin listener (proxy) and the control plane\'s admin client', () => {
  let dir = '';
  let ca: CertificateAuthority;
  let server: RemoteAdminServer;
  let drained = 0;
  const cp = new ProxyAdminDispatcher(TD);
  const source: AdminSource = {
    isReady: () => true,
    metricsText: () => Promise.resolve('trellis_up 1\n'),
    metricsContentType: 'text/plain',
    configDump: () => ({ hello: 'config' }),
    adminToken: 'x'.repeat(43),
    drain: () => void drained++,
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-remote-admin-'));
    ca = await CertificateAuthority.loadOrCreate(join(dir, 'ca'), TD);
    const proxyCreds = new WorkloadCredentials();
    proxyCreds.update(await creds(ca, PROXY_ID), ca.trustBundlePem());
    server = new RemoteAdminServer({ host: '127.0.0.1', port: 0 }, source, proxyCreds, CONTROL_PLANE_ID);
    await server.listen();
    cp.update(await creds(ca, CONTROL_PLANE_ID), ca.trustBundlePem());
  });

  after(async () => {
    await server.close();
    await cp.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers the control plane\'s certificate: /metrics and /config over https', async () => {
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const url = `${server.url}/metrics`;
    const res = await request(url, { dispatcher: cp.for(url)! });
    assert.equal(res.statusCode, 200);
    assert.equal(await res.body.text(), 'trellis_up 1\n');
    const config = await request(`${server.url}/config`, { dispatcher: cp.for(url)! });
    assert.deepEqual(await config.body.json(), { hello: 'config' });
  });

  it('refuses another workload of the mesh (403) and serves no POST /drain, even with the admin token', async () => {
    const peer = await creds(ca, PEER_ID);
    const agent = new Agent({ connect: { key: peer.keyPem, cert: peer.certChainPem.join('\n'), ca: ca.trustBundlePem(), rejectUnauthorized: true, checkServerIdentity: () => undefined } });
    try {
      const res = await request(`${server.url}/metrics`, { dispatcher: agent });
      assert.equal(res.statusCode, 403);
      await res.body.dump();
    } finally {
      await agent.close();
    }
    const drain = await request(`${server.url}/drain`, { method: 'POST', headers: { authorization: `Bearer ${'x'.repeat(43)}` }, dispatcher: cp.for(server.url)! });
    assert.equal(drain.statusCode, 404);
    await drain.body.dump();
    assert.equal(drained, 0);
  });

  it('a client without a certificate gets no answer (the handshake fails)', async () => {
    const agent = new Agent({ connect: { ca: ca.trustBundlePem(), rejectUnauthorized: true, checkServerIdentity: () => undefined } });
    try {
      await assert.rejects(async () => {
        const res = await request(`${server.url}/metrics`, { dispatcher: agent });
        await res.body.dump();
      });
    } finally {
      await agent.close();
    }
  });

  it('the control plane\'s client uses undici\'s default for a loopback http URL', () => {
    assert.equal(cp.for('http://127.0.0.1:1/metrics'), undefined);
    assert.notEqual(cp.for('https://10.0.0.1:1/metrics'), undefined);
  });
});
