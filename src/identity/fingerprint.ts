import { createHash, X509Certificate } from 'node:crypto';
import { parseSpiffeUri, parseSubjectAltNames } from './spiffe.js';

/**
 * The CA pin a join token carries, computed as kubeadm's discovery hash: `sha256:<hex>` of the
 * CA certificate's DER SubjectPublicKeyInfo. Pinning the key rather than the whole certificate
 * keeps a token valid if the root is re-issued with the same key. The same value by hand:
 *
 *   openssl x509 -pubkey -noout -in ca/root.crt | openssl pkey -pubin -outform der | sha256sum
 */
export function caFingerprint(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** `sha256:` and 64 hex digits (upper case accepted), normalized to lower case; null otherwise. */
export function normalizeFingerprint(text: string): string | null {
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(text.trim());
  return m === null ? null : `sha256:${(m[1] as string).toLowerCase()}`;
}

/**
 * The certificate of `bundlePem` whose key matches `fingerprint`, or null. A bundle whose certificates
 * do not parse counts as no match.
 */
export function findPinnedCertificate(bundlePem: readonly string[], fingerprint: string): string | null {
  const want = normalizeFingerprint(fingerprint);
  if (want === null) return null;
  for (const pem of bundlePem) {
    try {
      if (caFingerprint(pem) === want) return pem;
    } catch {
      // not a certificate: cannot be the pinned one
    }
  }
  return null;
}

/** The trust domain a mesh root names in its URI SAN (`spiffe://<td>`), or null. */
export function trustDomainOfRoot(certPem: string): string | null {
  let san: string | undefined;
  try {
    san = new X509Certificate(certPem).subjectAltName;
  } catch {
    return null;
  }
  for (const [type, value] of parseSubjectAltNames(san ?? '')) {
    if (type !== 'URI') continue;
    const p = parseSpiffeUri(value);
    if (p !== null && p.segments.length === 0) return p.trustDomain;
  }
  return null;
}
