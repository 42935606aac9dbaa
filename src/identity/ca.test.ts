import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { TrellisError } from '../errors.js';
import { CertificateAuthority, CLOCK_SKEW_MS, leafValidity } from './ca.js';
import { describeCertificate } from './certs.js';
import { ECDSA_SHA256, generateP256, loadX509 } from './crypto-provider.js';
import { generateKeyAndCsr } from './keys.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'trellis-ca-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const ID = 'spiffe://td.test/ns/default/sa/frontend';

test('loadOrCreate writes root.key 0600 in a 0700 dir and reloads the same root', async () => {
  const dir = join(await tempDir(), 'ca');
  const ca = await CertificateAuthority.loadOrCreate(dir, 'td.test');
  assert.equal((await stat(join(dir, 'root.key'))).mode & 0o777, 0o600);
  assert.equal((await stat(dir)).mode & 0o777, 0o700);
  const root = new X509Certificate(ca.trustBundlePem()[0] as string);
  assert.equal(root.ca, true);
  assert.equal(root.subjectAltName, 'URI:spiffe://td.test');
  assert.ok(root.checkIssued(root));
  const again = await CertificateAuthority.loadOrCreate(dir, 'td.test');
  assert.deepEqual(again.trustBundlePem(), ca.trustBundlePem());
  // A certificate signed after the reload chains to the original root.
  const { csrPem } = await generateKeyAndCsr(ID);
  const issued = await again.signCsr(csrPem, ID, 3600_000);
  assert.ok(new X509Certificate(issued.certChainPem[0] as string).verify(root.publicKey));
});

test('loading a CA of another trust domain fails with TRELLIS_E_IDENTITY', async () => {
  const dir = await tempDir();
  await CertificateAuthority.loadOrCreate(dir, 'td.test');
  await assert.rejects(CertificateAuthority.loadOrCreate(dir, 'other.test'), (err: unknown) => {
    assert.ok(err instanceof TrellisError);
    assert.equal(err.code, 'TRELLIS_E_IDENTITY');
    assert.match(err.message, /"td\.test", not "other\.test"/);
    return true;
  });
});

test('a key without its certificate is not silently replaced', async () => {
  const dir = await tempDir();
  await writeFile(join(dir, 'root.key'), 'x', { mode: 0o600 });
  await assert.rejects(CertificateAuthority.loadOrCreate(dir, 'td.test'), /refusing to replace/);
});

test('signCsr ignores the SANs and subject the CSR asks for', async () => {
  const ca = await CertificateAuthority.loadOrCreate(await tempDir(), 'td.test');
  const x = await loadX509();
  const keys = await generateP256();
  const csr = await x.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=admin',
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x.SubjectAlternativeNameExtension([
        { type: 'url', value: 'spiffe://td.test/ns/kube-system/sa/admin' },
        { type: 'dns', value: 'evil.example' },
      ]),
      new x.BasicConstraintsExtension(true, 5, true),
    ],
  });
  const issued = await ca.signCsr(csr.toString('pem'), ID, 3600_000);
  const leaf = new X509Certificate(issued.certChainPem[0] as string);
  assert.equal(leaf.subjectAltName, `URI:${ID}`);
  assert.equal(leaf.ca, false);
  assert.doesNotMatch(leaf.subject, /admin/);
  const x509 = await loadX509();
  const parsed = new x509.X509Certificate(issued.certChainPem[0] as string);
  const eku = parsed.getExtension(x509.ExtendedKeyUsageExtension);
  assert.deepEqual([...(eku?.usages ?? [])], [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
  const ku = parsed.getExtension(x509.KeyUsagesExtension);
  assert.equal(ku?.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement);
  const info = describeCertificate(issued.certChainPem[0] as string);
  assert.equal(info.identity, ID);
  assert.equal(info.serial.toLowerCase(), issued.serial.toLowerCase());
});

test('signCsr sets notBefore a minute back and notAfter at now + ttl (injected clock)', async () => {
  const now = Date.UTC(2030, 0, 1, 12, 0, 0);
  const ca = await CertificateAuthority.loadOrCreate(await tempDir(), 'td.test', () => now);
  const { csrPem } = await generateKeyAndCsr(ID);
  const issued = await ca.signCsr(csrPem, ID, 3600_000);
  assert.equal(issued.notAfter.getTime(), now + 3600_000);
  const info = describeCertificate(issued.certChainPem[0] as string);
  assert.equal(info.notBefore.getTime(), now - 60_000);
  assert.equal(info.notAfter.getTime(), now + 3600_000);
  const second = await ca.signCsr(csrPem, ID, 3600_000);
  assert.notEqual(second.serial, issued.serial, 'serials are random');
});

test('a 1 s certificate issued at x.850 s is valid until x+2 s: notAfter rounds UP to the second, never down', async () => {
  // Before: the encoder truncated x+1.850 to x+1, so the certificate lived 0.15 s.
  const whole = Date.UTC(2030, 0, 1, 12, 0, 0);
  const now = whole + 850;
  const ca = await CertificateAuthority.loadOrCreate(await tempDir(), 'td.test', () => now);
  const { csrPem } = await generateKeyAndCsr(ID);
  const issued = await ca.signCsr(csrPem, ID, 1000);
  const info = describeCertificate(issued.certChainPem[0] as string);
  assert.equal(info.notAfter.getTime(), whole + 2000, 'what the certificate says');
  assert.equal(issued.notAfter.getTime(), whole + 2000, 'what the CA reports is what the certificate says');
  assert.equal(info.notBefore.getTime(), whole - 60_000, 'notBefore: a minute back, rounded down');
  for (let ms = 0; ms < 1000; ms += 37) {
    const v = leafValidity(whole + ms, 1000);
    const lives = v.notAfter.getTime() - (whole + ms);
    assert.ok(lives >= 1000 && lives < 2000, `issued at +${ms} ms: valid for ${lives} ms`);
    assert.equal(v.notAfter.getTime() % 1000, 0);
    assert.ok(v.notBefore.getTime() <= whole + ms - CLOCK_SKEW_MS);
  }
});

test('signCsr refuses a tampered CSR, a foreign trust domain and garbage', async () => {
  const ca = await CertificateAuthority.loadOrCreate(await tempDir(), 'td.test');
  const { csrPem } = await generateKeyAndCsr(ID);
  await assert.rejects(ca.signCsr(csrPem, 'spiffe://other.test/ns/default/sa/frontend', 1000), /outside trust domain/);
  await assert.rejects(ca.signCsr(csrPem, 'spiffe://td.test/frontend', 1000), /not a workload SPIFFE ID/);
  await assert.rejects(ca.signCsr('not a csr', ID, 1000), /malformed CSR/);
  const x509 = await loadX509();
  // Flip one byte inside the signed part (the public key) so the signature no longer matches.
  const csr = new x509.Pkcs10CertificateRequest(csrPem);
  const der = new Uint8Array(csr.rawData.slice(0));
  const at = der.length - 100;
  der[at] = (der[at] ?? 0) ^ 0x01;
  const tampered = x509.PemConverter.encode(der.buffer, 'CERTIFICATE REQUEST');
  await assert.rejects(ca.signCsr(tampered, ID, 1000), (err: unknown) => err instanceof TrellisError && err.code === 'TRELLIS_E_IDENTITY');
});

test('issueServerCertificate carries the SPIFFE ID, DNS names and IPs', async () => {
  const ca = await CertificateAuthority.loadOrCreate(await tempDir(), 'td.test');
  const cp = 'spiffe://td.test/ns/trellis-system/sa/control-plane';
  const s = await ca.issueServerCertificate(cp, ['localhost'], ['127.0.0.1', '::1'], 60_000);
  const leaf = new X509Certificate(s.certChainPem[0] as string);
  assert.match(leaf.subjectAltName ?? '', /URI:spiffe:\/\/td\.test\/ns\/trellis-system\/sa\/control-plane/);
  assert.match(leaf.subjectAltName ?? '', /DNS:localhost/);
  assert.match(leaf.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  assert.ok(leaf.checkPrivateKey((await import('node:crypto')).createPrivateKey(s.keyPem)));
  await assert.rejects(ca.issueServerCertificate(cp, [], ['nope'], 1000), /not an IP/);
});

test('the root carries a critical URI name constraint for its trust domain', async () => {
  const ca = await CertificateAuthority.loadOrCreate(await tempDir(), 'td.test');
  const x509 = await loadX509();
  const root = new x509.X509Certificate(ca.trustBundlePem()[0] as string);
  const nc = root.getExtension('2.5.29.30');
  assert.ok(nc !== null);
  assert.equal(nc.critical, true);
  assert.deepEqual(
    [...new Uint8Array(nc.value)],
    [0x30, 0x0d, 0xa0, 0x0b, 0x30, 0x09, 0x86, 0x07, ...Buffer.from('td.test')],
  );
});
