import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CertificateAuthority } from './ca.js';
import { caFingerprint, findPinnedCertificate, normalizeFingerprint, trustDomainOfRoot } from './fingerprint.js';

describe('CA fingerprint (kubeadm discovery hash)', () => {
  let dir = '';
  let ca: CertificateAuthority;
  let other: CertificateAuthority;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-fp-'));
    ca = await CertificateAuthority.loadOrCreate(join(dir, 'a'), 'fp.local');
    other = await CertificateAuthority.loadOrCreate(join(dir, 'b'), 'fp.local');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('is sha256 of the DER SubjectPublicKeyInfo: the same as the openssl pipeline the docs give', () => {
    const fp = caFingerprint(ca.trustBundlePem()[0]!);
    assert.match(fp, /^sha256:[0-9a-f]{64}$/);
    const pub = execFileSync('openssl', ['x509', '-pubkey', '-noout', '-in', join(dir, 'a', 'root.crt')]);
    const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub });
    const hex = execFileSync('sha256sum', { input: der }).toString().split(' ')[0];
    assert.equal(fp, `sha256:${hex}`);
    assert.notEqual(caFingerprint(other.trustBundlePem()[0]!), fp);
  });

  it('finds only the pinned certificate of a bundle; a bundle without it has none', () => {
    const pinned = ca.trustBundlePem()[0]!;
    const fp = caFingerprint(pinned).toUpperCase().replace('SHA256:', 'sha256:');
    assert.equal(normalizeFingerprint(fp), caFingerprint(pinned));
    assert.equal(findPinnedCertificate([other.trustBundlePem()[0]!, 'junk', pinned], fp), pinned);
    assert.equal(findPinnedCertificate(other.trustBundlePem(), fp), null);
    assert.equal(findPinnedCertificate([pinned], 'sha256:abc'), null);
    assert.equal(trustDomainOfRoot(pinned), 'fp.local');
    assert.equal(trustDomainOfRoot('not a certificate'), null);
  });
});
