import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/store.js';

export const TOKEN_TTL_MS = 10 * 60 * 1000;

export type TokenResult = { ok: true; identity: string } | { ok: false; reason: string };

/** SHA-256 of a token (hex): what the store keeps, so reading the store never yields a usable token. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * One-time bootstrap tokens: the agent asks for one per proxy start (nodeId + identity);
 * the proxy spends it on its first CSR. A token works once, for its nodeId, within 10 minutes.
 * Kept in the Store (by hash), so a token issued by one control-plane replica is spent at any
 * other, exactly once, and survives a restart; expired ones are swept by the leader's
 * garbage collection (sweep()).
 */
export class BootstrapTokens {
  constructor(
    private readonly store: Store,
    private readonly ttlMs: number = TOKEN_TTL_MS,
  ) {}

  async issue(nodeId: string, identity: string, now: number): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.store.putBootstrapToken(tokenHash(token), { nodeId, identity, expiresAt: now + this.ttlMs });
    return token;
  }

  /** Spends `token` for `nodeId`. A token presented for the wrong node is spent too (no guessing). */
  async consume(token: string, nodeId: string, now: number): Promise<TokenResult> {
    const grant = await this.store.takeBootstrapToken(tokenHash(token));
    if (grant === undefined) return { ok: false, reason: 'unknown or already used token' };
    if (grant.expiresAt <= now) return { ok: false, reason: 'token expired' };
    const a = Buffer.from(grant.nodeId);
    const b = Buffer.from(nodeId);
    if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, reason: `token was not issued for node ${nodeId}` };
    return { ok: true, identity: grant.identity };
  }

  /** Deletes expired grants (run by one replica: the leader). */
  sweep(now: number): Promise<number> {
    return this.store.sweepBootstrapTokens(now);
  }
}
