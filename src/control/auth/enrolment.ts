import type { AgentCertificate, HostView, JoinRequest, JoinTokenCreated, JoinTokenRequest, JoinTokenView } from '../../api/credentials.js';
import { encodeJoinToken } from '../../api/credentials.js';
import type { CertificateAuthority } from '../../identity/ca.js';
import { caFingerprint } from '../../identity/fingerprint.js';
import { checkExpiredLeaf } from '../../identity/renewal.js';
import { agentSpiffeId } from '../../identity/spiffe.js';
import { HttpError } from '../api/http-error.js';
import type { CredentialStore, StoredJoinToken } from '../store/credential-store.js';
import { hashSecret, newSecretToken, parseSecretToken, secretMatches } from './secret-token.js';

export interface EnrolmentDeps {
  store: CredentialStore & { sync?(): Promise<void> };
  ca: CertificateAuthority;
  /** Lifetime of an agent certificate (the mesh's certificate TTL). */
  certTtlMs: number;
  clock: () => number;
  controlPlaneIdentity: string;
  trustDomain: string;
  /** How long after expiry an agent's last certificate may still renew it (renewalGraceMs of the TTL). */
  renewalGraceMs: number;
  /** The REST API URLs a join token carries when the request names none (https). */
  addresses(): string[];
}

/** Spent or expired join tokens are kept this long (so a late second use gets a clear answer), then dropped. */
export const SPENT_TOKEN_RETENTION_MS = 24 * 3600_000;

/**
 * Joining hosts (docs/multi-host.md, "Joining a host"): an admin makes a one-time join token for
 * a host name and the service accounts it may run; the host's agent spends it once, with a CSR,
 * and gets a certificate for `spiffe://<td>/agent/<host>`, renewed later with that certificate.
 * The token's service accounts become the host's policy (agent-scope.ts checks it).
 */
export class Enrolment {
  constructor(private readonly d: EnrolmentDeps) {}

  async createJoinToken(req: JoinTokenRequest): Promise<JoinTokenCreated> {
    const now = this.d.clock();
    await this.sweep(now);
    const addresses = req.addresses ?? this.d.addresses();
    if (addresses.length === 0 || !addresses.every((a) => a.startsWith('https://'))) {
      throw new HttpError(
        409,
        'TRELLIS_E_CONFIG',
        'a joining host needs the REST API over HTTPS: start the control plane with a non-loopback --api address (or --api-tls), or pass the https:// addresses hosts reach it at',
      );
    }
    const t = newSecretToken();
    const stored: StoredJoinToken = { id: t.id, hash: hashSecret(t.secret), host: req.host, serviceAccounts: [...req.serviceAccounts], createdAt: now, expiresAt: now + req.ttlMs, usedAt: null };
    await this.d.store.putJoinToken(stored);
    const fingerprint = caFingerprint(this.d.ca.trustBundlePem()[0] as string);
    return {
      ...joinView(stored),
      caFingerprint: fingerprint,
      addresses,
      token: encodeJoinToken({ token: t.text, host: req.host, caFingerprint: fingerprint, addresses }),
    };
  }

  listJoinTokens(): JoinTokenView[] {
    return [...this.d.store.joinTokens().values()].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id)).map(joinView);
  }

  deleteJoinToken(id: string): Promise<boolean> {
    return this.d.store.deleteJoinToken(id);
  }

  hosts(): HostView[] {
    return [...this.d.store.hostPolicies().values()]
      .sort((a, b) => a.host.localeCompare(b.host))
      .map((h) => ({ host: h.host, serviceAccounts: [...h.serviceAccounts], joinedAt: new Date(h.joinedAt).toISOString(), tokenId: h.tokenId }));
  }

  deleteHost(host: string): Promise<boolean> {
    return this.d.store.deleteHostPolicy(host);
  }

  /** POST /api/v1/join: spends the token once and signs the host's agent certificate. */
  async join(req: JoinRequest): Promise<AgentCertificate> {
    const parsed = parseSecretToken(req.token);
    let stored = parsed === null ? undefined : this.d.store.joinTokens().get(parsed.id);
    // Made a moment ago through another replica (over etcd), this one's view may not have it yet.
    if (parsed !== null && stored === undefined && this.d.store.sync !== undefined) {
      await this.d.store.sync();
      stored = this.d.store.joinTokens().get(parsed.id);
    }
    if (parsed === null || stored === undefined || !secretMatches(stored.hash, parsed.secret)) {
      throw new HttpError(401, 'TRELLIS_E_UNAUTHORIZED', 'unknown join token (never made by this control plane, or deleted)');
    }
    // Checked before signing for a clear answer; spendJoinToken below is the atomic check.
    const now = this.d.clock();
    if (stored.usedAt !== null) throw this.refused(stored, 'used');
    if (stored.expiresAt <= now) throw this.refused(stored, 'expired');
    // Signed before spending, so a bad CSR does not cost the token (a 400 leaves it unspent).
    const issued = await this.d.ca.signAgentCsr(req.csrPem, stored.host, this.d.certTtlMs);
    const spent = await this.d.store.spendJoinToken(stored.id, now);
    if (!spent.ok) {
      if (spent.reason === 'unknown') throw new HttpError(401, 'TRELLIS_E_UNAUTHORIZED', 'unknown join token (deleted while joining)');
      throw this.refused(this.d.store.joinTokens().get(stored.id) ?? stored, spent.reason);
    }
    await this.d.store.putHostPolicy({ host: stored.host, serviceAccounts: [...stored.serviceAccounts], tokenId: stored.id, joinedAt: now });
    return this.answer(stored.host, issued);
  }

  /** POST /api/v1/agents/:host/certificate, once the caller proved it holds the host's (current or just expired) certificate. */
  async renew(host: string, csrPem: string): Promise<AgentCertificate> {
    if (!this.d.store.hostPolicies().has(host)) throw new HttpError(403, 'TRELLIS_E_UNAUTHORIZED', `host ${host} is not joined (its policy was deleted); join it again with a new token`);
    return this.answer(host, await this.d.ca.signAgentCsr(csrPem, host, this.d.certTtlMs));
  }

  /**
   * Renewal with a certificate that expired (the host slept, the control plane was away): the
   * TLS handshake proved the caller holds its key; it must chain to this CA, be the agent
   * certificate of `host`, and have expired within the grace period (as for proxies,
   * src/control/push/renewal.ts). Past that, the host joins again with a new token.
   */
  async renewExpired(host: string, der: Buffer, csrPem: string): Promise<AgentCertificate> {
    const leaf = checkExpiredLeaf(der, this.d.ca.trustBundlePem(), this.d.clock(), this.d.renewalGraceMs);
    if (!leaf.ok) throw new HttpError(401, 'TRELLIS_E_UNAUTHORIZED', `renewal refused: ${leaf.reason}; join the host again with a new token`);
    if (leaf.identity !== agentSpiffeId(this.d.trustDomain, host)) throw new HttpError(403, 'TRELLIS_E_UNAUTHORIZED', `certificate ${leaf.identity} may not renew host ${host}`);
    return this.renew(host, csrPem);
  }

  private answer(host: string, issued: { identity: string; certChainPem: string[]; notAfter: Date }): AgentCertificate {
    return {
      host,
      identity: issued.identity,
      certChainPem: issued.certChainPem,
      trustBundlePem: this.d.ca.trustBundlePem(),
      notAfter: issued.notAfter.toISOString(),
      controlPlaneIdentity: this.d.controlPlaneIdentity,
    };
  }

  private refused(t: StoredJoinToken, reason: 'used' | 'expired'): HttpError {
    const again = `make a new one with \`trellis token create --host ${t.host} ...\``;
    return reason === 'used'
      ? new HttpError(401, 'TRELLIS_E_UNAUTHORIZED', `join token ${t.id} was already used${t.usedAt !== null ? ` at ${new Date(t.usedAt).toISOString()}` : ''}: a token enrols one host once; ${again}`)
      : new HttpError(401, 'TRELLIS_E_UNAUTHORIZED', `join token ${t.id} expired at ${new Date(t.expiresAt).toISOString()}; ${again}`);
  }

  /** Drops join tokens spent or expired more than SPENT_TOKEN_RETENTION_MS ago. */
  private async sweep(now: number): Promise<void> {
    for (const t of [...this.d.store.joinTokens().values()]) {
      const over = t.usedAt ?? t.expiresAt;
      if (over + SPENT_TOKEN_RETENTION_MS <= now) await this.d.store.deleteJoinToken(t.id);
    }
  }
}

function joinView(t: StoredJoinToken): JoinTokenView {
  return {
    id: t.id,
    host: t.host,
    serviceAccounts: [...t.serviceAccounts],
    createdAt: new Date(t.createdAt).toISOString(),
    expiresAt: new Date(t.expiresAt).toISOString(),
    usedAt: t.usedAt === null ? null : new Date(t.usedAt).toISOString(),
  };
}
