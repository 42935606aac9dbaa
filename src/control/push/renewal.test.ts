/**
 * Renewal with an expired certificate, against a real control plane whose certificates last
 * 1 s: the tests wait (by polling) until a certificate has expired, then present it.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { PUSH_PATH_ROTATE } from '../../api/push.js';
import type { CertificateResponse } from '../../api/push.js';
import { CertificateAuthority } from '../../identity/ca.js';
import { generateKeyAndCsr } from '../../identity/keys.js';
import { normalizeSerial } from '../../identity/renewal.js';
import type { TlsCredentials } from '../../identity/tls.js';
import type { ControlPlane } from '../control-plane.js';
import { STATUS, StreamClient, enroll, pushPost, until, useControlPlane } from '../test-support.js';
import { checkRenewal, MIN_RENEWAL_GRACE_MS, renewalGraceMs } from './renewal.js';

const WEB = 'spiffe://test.local/ns/default/sa/web';
const FRONT = 'spiffe://test.local/ns/default/sa/front';
const fixture = useControlPlane({ certTtlMs: 1000 });
const cpOf = (): ControlPlane => fixture.cp;

type Creds = TlsCredentials & { notAfter: string };

async function expired(c: Creds): Promise<Creds> {
  await until(() => Date.now() > Date.parse(c.notAfter) + 20, 20);
  return c;
}

async function rotate(nodeId: string, creds: TlsCredentials | null, identity = WEB): Promise<{ status: number; creds: Creds | null; message: string }> {
  const { keyPem, csrPem } = await generateKeyAndCsr(identity);
  const r = await pushPost(cpOf(), PUSH_PATH_ROTATE, { csrPem, nodeId }, creds);
  if (r.status !== 200) return { status: r.status, creds: null, message: (r.json as { error?: { message?: string } } | null)?.error?.message ?? '' };
  const c = r.json as CertificateResponse;
  return { status: 200, creds: { keyPem, certChainPem: c.certChainPem, notAfter: c.notAfter }, message: '' };
}

test('a proxy whose certificate expired renews it with that certificate; a superseded one, another node\'s or another CA\'s is refused', async () => {
  const first = await enroll(cpOf(), 'default/web/0', WEB);
  // The first certificate lived its whole TTL (1 s, rounded up to the second), not a fraction of it.
  assert.ok(Date.parse(first.notAfter) - Date.now() > 0, 'the new certificate is valid when it arrives');
  await expired(first);

  // Renewal by the expired certificate: a new one, valid now, for the same identity.
  const second = await rotate('default/web/0', first);
  assert.equal(second.status, 200, second.message);
  assert.ok(second.creds !== null && Date.parse(second.creds.notAfter) > Date.now());
  assert.equal(new X509Certificate(second.creds.certChainPem[0] as string).subjectAltName, `URI:${WEB}`);
  assert.equal(cpOf().tracker.get('default/web/0')?.issuedSerial, new X509Certificate(second.creds.certChainPem[0] as string).serialNumber, 'recorded when issued');

  // The stream still wants a valid certificate: an expired one is only good for renewal.
  const s = new StreamClient(cpOf(), first);
  s.send({ type: 'hello', nodeId: 'default/web/0', lastVersion: null, status: STATUS });
  assert.equal(await s.status, 401);
  s.close();

  // Two more certificates later, the first one is superseded: refused even within the grace period.
  const third = await rotate('default/web/0', second.creds);
  assert.equal(third.status, 200, third.message);
  const late = await rotate('default/web/0', first);
  assert.equal(late.status, 401);
  assert.match(late.message, /not the last one issued to node default\/web\/0/);

  // An expired certificate of another identity may not act for this node.
  const front = await expired(await enroll(cpOf(), 'default/front/0', FRONT));
  const wrongNode = await rotate('default/web/0', front);
  assert.equal(wrongNode.status, 403);

  // An expired certificate of another CA (same trust domain, same identity) is refused.
  const dir = await mkdtemp(join(tmpdir(), 'trellis-foreign-'));
  try {
    const foreign = await CertificateAuthority.loadOrCreate(dir, 'test.local', () => Date.now() - 10_000);
    const { keyPem, csrPem } = await generateKeyAndCsr(WEB);
    const issued = await foreign.signCsr(csrPem, WEB, 1000);
    const r = await rotate('default/web/0', { keyPem, certChainPem: issued.certChainPem });
    assert.equal(r.status, 401);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  // And no certificate at all, as before.
  assert.equal((await rotate('default/web/0', null)).status, 401);
});

test('checkRenewal: past the grace period, another identity, a superseded serial; no record (a restarted control plane) leaves the other checks', async () => {
  assert.equal(renewalGraceMs(1000), MIN_RENEWAL_GRACE_MS);
  assert.equal(renewalGraceMs(24 * 3600_000), 24 * 3600_000);
  const dir = await mkdtemp(join(tmpdir(), 'trellis-renewal-'));
  try {
    const T = Date.UTC(2030, 0, 1, 12, 0, 0);
    const ca = await CertificateAuthority.loadOrCreate(dir, 'test.local', () => T - 5000);
    const { csrPem } = await generateKeyAndCsr(WEB);
    const issued = await ca.signCsr(csrPem, WEB, 1000);
    const der = new X509Certificate(issued.certChainPem[0] as string).raw;
    const base = { nodeId: 'default/web/0', expectedIdentity: WEB, trustBundlePem: ca.trustBundlePem(), now: T, graceMs: 60_000, renewableSerials: [normalizeSerial(issued.serial)] };
    assert.equal(checkRenewal(der, base).ok, true);
    assert.equal(checkRenewal(der, { ...base, renewableSerials: null }).ok, true, 'no record: not refused for it');
    assert.deepEqual(checkRenewal(der, { ...base, now: T - 4000 + 60_001 }).ok, false);
    const other = checkRenewal(der, { ...base, expectedIdentity: FRONT });
    assert.equal(!other.ok && other.status, 403);
    const superseded = checkRenewal(der, { ...base, renewableSerials: ['abc', 'def'] });
    assert.equal(!superseded.ok && superseded.status, 401);
    const unknownNode = checkRenewal(der, { ...base, expectedIdentity: undefined });
    assert.equal(!unknownNode.ok && unknownNode.status, 403);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
