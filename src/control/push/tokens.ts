import { randomBytes, timingSafeEqual } from 'node:crypto';

export const TOKEN_TTL_MS = 10 * 60 * 1000;

interface Grant {
  nodeId: string;
  identity: string;
  expiresAt: number;
}

export type TokenResult = { ok: true; identity: string } | { ok: false; reason: string };

/**
 * One-time bootstrap tokens: the agent asks for one per proxy start (nodeId + identity);
 * the proxy spends it on its first CSR. A token works once, for its nodeId, within 10 minutes.
 * Kept in memory: a control-plane restart voids outstanding tokens (the agent asks again).
 */
export class BootstrapTokens {
  private readonly grants = new Map<string, Grant>();

  constructor(private readonly ttlMs: number = TOKEN_TTL_MS) {}

  issue(nodeId: string, identity: string, now: number): string {
    this.sweep(now);
    const token = randomBytes(32).toString('base64url');
    this.grants.set(token, { nodeId, identity, expiresAt: now + this.ttlMs });
    return token;
  }

  /** Spends `token` for `nodeId`. A token presented for the wrong node is spent too (no guessing). */
  consume(token: string, nodeId: string, now: number): TokenResult {
    const grant = this.grants.get(token);
    if (grant === undefined) return { ok: false, reason: 'unknown or already used token' };
    this.grants.delete(token);
    if (grant.expiresAt <= now) return { ok: false, reason: 'token expired' };
    const a = Buffer.from(grant.nodeId);
    const b = Buffer.from(nodeId);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, reason: `token was not issued for node ${nodeId}` };
    return { ok: true, identity: grant.identity };
  }

  private sweep(now: number): void {
    for (const [t, g] of this.grants) if (g.expiresAt <= now) this.grants.delete(t);
  }
}
