import { X509Certificate } from 'node:crypto';
import { describeCertificate } from './certs.js';

/** What an expired certificate proved, once it passed checkExpiredLeaf. */
export interface ExpiredLeaf {
  identity: string;
  /** Lower-case hex without leading zeros (normalizeSerial). */
  serial: string;
  notAfter: Date;
}

export type ExpiredLeafResult = ({ ok: true } & ExpiredLeaf) | { ok: false; reason: string };

/** Serials compare as numbers: lower-case hex, leading zeros dropped (Node and the CA print them differently). */
export function normalizeSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

/**
 * May this expired workload certificate still renew itself? The TLS handshake has already
 * proved that the client holds its key (TLS 1.3 CertificateVerify is checked whatever the
 * chain's verdict); OpenSSL refused the chain only because it expired. This redoes the rest of
 * path validation by hand, everything but the clock: a leaf (not a CA) signed by one of the
 * bundle's roots, with exactly one SPIFFE ID, that expired no more than `graceMs` before `now`.
 * Whether that identity may act for the node is the caller's decision.
 */
export function checkExpiredLeaf(der: Buffer, trustBundlePem: string[], now: number, graceMs: number): ExpiredLeafResult {
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(der);
  } catch {
    return { ok: false, reason: 'unreadable client certificate' };
  }
  if (leaf.ca) return { ok: false, reason: 'a CA certificate is not a workload certificate' };
  const signedByBundle = trustBundlePem.some((pem) => {
    try {
      const root = new X509Certificate(pem);
      return leaf.checkIssued(root) && leaf.verify(root.publicKey);
    } catch {
      return false;
    }
  });
  if (!signedByBundle) return { ok: false, reason: 'client certificate not signed by this mesh' };
  const info = describeCertificate(leaf.toString());
  if (info.identity === null) return { ok: false, reason: 'client certificate carries no single SPIFFE ID' };
  const expiredFor = now - info.notAfter.getTime();
  if (expiredFor < 0) return { ok: false, reason: 'client certificate has not expired (yet the handshake refused it)' };
  if (expiredFor > graceMs) {
    return { ok: false, reason: `client certificate expired at ${info.notAfter.toISOString()}, more than ${Math.round(graceMs / 1000)} s ago` };
  }
  return { ok: true, identity: info.identity, serial: normalizeSerial(info.serial), notAfter: info.notAfter };
}
