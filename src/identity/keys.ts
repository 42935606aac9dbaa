import { ECDSA_SHA256, generateP256, loadX509, privateKeyToPem } from './crypto-provider.js';
import { parseSpiffeUri } from './spiffe.js';

/**
 * A fresh ECDSA P-256 key and a CSR carrying `identity` as its only URI SAN.
 * The proxy keeps keyPem to itself and sends only csrPem to the control plane.
 */
export async function generateKeyAndCsr(identity: string): Promise<{ keyPem: string; csrPem: string }> {
  if (parseSpiffeUri(identity) === null) throw new Error(`not a SPIFFE ID: "${identity}"`);
  const x509 = await loadX509();
  const keys = await generateP256();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: ECDSA_SHA256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: identity }])],
  });
  return { keyPem: await privateKeyToPem(keys.privateKey), csrPem: csr.toString('pem') };
}
