import type { TLSSocket } from 'node:tls';
import { checkExpiredLeaf, type ExpiredLeaf } from '../../identity/renewal.js';

/**
 * Renewal with an expired certificate: a proxy whose certificate ran out before it could rotate
 * (the control plane was away, the host slept, a 1 s TTL met a slow rotation) must not be
 * stuck refusing and being refused. Its credential is its last certificate:
 *
 * - the TLS handshake proved it holds that certificate's key;
 * - the certificate chains to this mesh's CA and only its expiry failed the check;
 * - it carries the node's registered identity;
 * - it expired at most `renewalGraceMs(certificateTTL)` ago;
 * - when this control plane has issued certificates to the node since it started, it is one of
 *   the last two (a superseded certificate cannot come back; two, so a rotation whose answer
 *   was lost still counts). After a control-plane restart there is no such record, and the
 *   other conditions decide.
 *
 * Beyond the grace period the proxy's only way back is a new bootstrap token: it reports
 * itself not ready and its agent restarts it (docs/operations.md).
 */

/** Minimum grace period: a few retries of a proxy's rotation backoff (at most 5 s apart). */
export const MIN_RENEWAL_GRACE_MS = 60_000;

/** One certificate lifetime after expiry, and at least a minute. */
export function renewalGraceMs(certTtlMs: number): number {
  return Math.max(certTtlMs, MIN_RENEWAL_GRACE_MS);
}

/** The DER of the client's certificate when the handshake refused it only because it expired, else null. */
export function expiredClientCertificate(socket: TLSSocket): Buffer | null {
  if (socket.authorized) return null;
  const why = socket.authorizationError as unknown;
  const code = typeof why === 'string' ? why : ((why as { code?: string } | null)?.code ?? String(why));
  if (code !== 'CERT_HAS_EXPIRED') return null;
  const raw = socket.getPeerCertificate()?.raw;
  return Buffer.isBuffer(raw) && raw.length > 0 ? raw : null;
}

export interface RenewalInputs {
  nodeId: string;
  /** The node's registered identity (undefined: unknown node). */
  expectedIdentity: string | undefined;
  trustBundlePem: string[];
  now: number;
  graceMs: number;
  /** Normalized serials of the node's last certificates from this control plane; null or empty: none recorded. */
  renewableSerials: string[] | null;
}

export type RenewalResult = ({ ok: true } & ExpiredLeaf) | { ok: false; status: 401 | 403; reason: string };

export function checkRenewal(der: Buffer, i: RenewalInputs): RenewalResult {
  const leaf = checkExpiredLeaf(der, i.trustBundlePem, i.now, i.graceMs);
  if (!leaf.ok) return { ok: false, status: 401, reason: `renewal refused: ${leaf.reason}` };
  if (i.expectedIdentity !== leaf.identity) {
    return { ok: false, status: 403, reason: `certificate ${leaf.identity} may not act for node ${i.nodeId}` };
  }
  if (i.renewableSerials !== null && i.renewableSerials.length > 0 && !i.renewableSerials.includes(leaf.serial)) {
    return { ok: false, status: 401, reason: `renewal refused: the expired certificate is not the last one issued to node ${i.nodeId}` };
  }
  return leaf;
}
