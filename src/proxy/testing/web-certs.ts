import { randomBytes } from 'node:crypto';
import { ECDSA_SHA256, generateP256, loadX509, privateKeyToPem } from '../../identity/crypto-provider.js';
import type { CryptoKeyPair } from '../../identity/crypto-provider.js';

/**
 * Test helper: a web-PKI CA of its own (the mesh CA is name-constrained to SPIFFE URIs, so it
 * cannot sign DNS names) and server certificates for host names, as an operator would bring
 * them to an ingress. Real certificates via @peculiar/x509; only for tests.
 */
export interface TestWebCa {
  /** The CA certificate, PEM: what a client trusts. */
  certPem: string;
  /** A leaf for `names` (DNS SANs); `validity` overrides the default of an hour around now. */
  issue(names: string[], validity?: { notBefore: Date; notAfter: Date }): Promise<{ certPem: string; keyPem: string; serial: string }>;
}

export async function testWebCa(name = 'Trellis test web CA'): Promise<TestWebCa> {
  const x509 = await loadX509();
  const caKeys: CryptoKeyPair = await generateP256();
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(now - 3_600_000),
    notAfter: new Date(now + 86_400_000),
    keys: caKeys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  return {
    certPem: ca.toString('pem'),
    async issue(names, validity) {
      const keys = await generateP256();
      const s = serial();
      const t = Date.now();
      const leaf = await x509.X509CertificateGenerator.create({
        serialNumber: s,
        subject: `CN=${names[0] ?? 'no-name'}`,
        issuer: ca.subject,
        notBefore: validity?.notBefore ?? new Date(t - 3_600_000),
        notAfter: validity?.notAfter ?? new Date(t + 3_600_000),
        publicKey: keys.publicKey,
        signingKey: caKeys.privateKey,
        signingAlgorithm: ECDSA_SHA256,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension(names.map((n) => ({ type: 'dns' as const, value: n }))),
          await x509.AuthorityKeyIdentifierExtension.create(ca),
        ],
      });
      return { certPem: leaf.toString('pem'), keyPem: await privateKeyToPem(keys.privateKey), serial: s };
    },
  };
}

function serial(): string {
  // Positive (the first bit clear) and with a non-zero first byte: DER drops leading zero
  // bytes, so a serial starting 00 would read back shorter than the one written.
  const b = randomBytes(16);
  b[0] = 0x01 + ((b[0] as number) % 0x7f);
  return b.toString('hex');
}
