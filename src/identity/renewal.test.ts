import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CertificateAuthority } from './ca.js';
import { generateKeyAndCsr } from './keys.js';
import { checkExpiredLeaf, normalizeSerial } from './renewal.js';

const ID = 'spiffe://td.test/ns/default/sa/web';
const T = Date.UTC(2030, 0, 1, 12, 0, 0);
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A CA whose clock reads `at`, in a fresh dir (or `dir`: the same root). */
async function caAt(at: number, dir?: string): Promise<{ ca: CertificateAuthority; dir: string }> {
  const d = dir ?? (await mkdtemp(join(tmpdir(), 'trellis-renewal-')));
  if (dir === undefined) dirs.push(d);
  return { ca: await CertificateAuthority.loadOrCreate(d, 'td.test', () => at), dir: d };
}

async function leafDer(ca: CertificateAuthority, ttlMs: number): Promise<{ der: Buffer; serial: string }> {
  const { csrPem } = await generateKeyAndCsr(ID);
  const issued = await ca.signCsr(csrPem, ID, ttlMs);
  return { der: new X509Certificate(issued.certChainPem[0] as string).raw, serial: issued.serial };
}

test('an expired leaf of this CA within the grace period passes, with its identity, serial and expiry', async () => {
  const { ca } = await caAt(T - 10_000);
  const { der, serial } = await leafDer(ca, 1000);
  const r = checkExpiredLeaf(der, ca.trustBundlePem(), T, 60_000);
  assert.equal(r.ok, true, JSON.stringify(r));
  if (!r.ok) return;
  assert.equal(r.identity, ID);
  assert.equal(r.serial, normalizeSerial(serial));
  assert.equal(r.notAfter.getTime(), T - 9000);
});

test('refused: past the grace period, not expired, another CA, a CA certificate, garbage', async () => {
  const { ca, dir } = await caAt(T - 10_000);
  const { der } = await leafDer(ca, 1000);
  const bundle = ca.trustBundlePem();
  const past = checkExpiredLeaf(der, bundle, T - 9000 + 60_001, 60_000);
  assert.equal(past.ok, false);
  assert.match(!past.ok ? past.reason : '', /more than 60 s ago/);

  const fresh = await leafDer((await caAt(T, dir)).ca, 3600_000);
  const notExpired = checkExpiredLeaf(fresh.der, bundle, T, 60_000);
  assert.equal(notExpired.ok, false);

  const foreign = await leafDer((await caAt(T - 10_000)).ca, 1000);
  const other = checkExpiredLeaf(foreign.der, bundle, T, 60_000);
  assert.deepEqual(other, { ok: false, reason: 'client certificate not signed by this mesh' });

  const root = checkExpiredLeaf(new X509Certificate(bundle[0] as string).raw, bundle, T + 20 * 365 * 86400_000, Infinity);
  assert.equal(root.ok, false);
  assert.match(!root.ok ? root.reason : '', /CA certificate/);

  assert.deepEqual(checkExpiredLeaf(Buffer.from('not a certificate'), bundle, T, 60_000), { ok: false, reason: 'unreadable client certificate' });
});

test('normalizeSerial: case and leading zeros do not matter', () => {
  assert.equal(normalizeSerial('0DF516AB'), 'df516ab');
  assert.equal(normalizeSerial('0df516ab'), 'df516ab');
  assert.equal(normalizeSerial('00'), '0');
});
