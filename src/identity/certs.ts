import { X509Certificate } from 'node:crypto';
import { parseSubjectAltNames, parseSpiffeUri } from './spiffe.js';

export interface CertificateInfo {
  notBefore: Date;
  notAfter: Date;
  /** Upper-case hex, as Node prints it. */
  serial: string;
  /** The single SPIFFE URI SAN, or null. */
  identity: string | null;
  isCA: boolean;
}

/** Facts about a PEM certificate (Node's own parser, synchronous). Throws on bad PEM. */
export function describeCertificate(pem: string): CertificateInfo {
  const c = new X509Certificate(pem);
  const uris = parseSubjectAltNames(c.subjectAltName ?? '')
    .filter(([t, v]) => t === 'URI' && parseSpiffeUri(v) !== null)
    .map(([, v]) => v);
  return {
    notBefore: new Date(c.validFrom),
    notAfter: new Date(c.validTo),
    serial: c.serialNumber,
    identity: uris.length === 1 ? (uris[0] as string) : null,
    isCA: c.ca,
  };
}
