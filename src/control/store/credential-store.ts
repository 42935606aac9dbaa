/**
 * The durable half of API authentication (src/control/auth/): API tokens, join tokens and
 * host policies. Secrets are never stored, only `sha256(secret)` in hex: every secret is 32
 * random bytes, so a fast hash is enough (nothing to brute-force), and whoever reads the store
 * (a backup, an etcd snapshot) learns no credential.
 *
 * Like the rest of Store, reads come from memory after open and every write is durable when its
 * promise resolves. spendJoinToken must be atomic across control-plane replicas (etcd: a
 * transaction comparing the key's mod revision), so a token is never spent twice.
 */

import type { ApiRole } from '../../api/credentials.js';

export type { ApiRole };

export interface StoredApiToken {
  /** Public part of the token (`<id>.<secret>`), 16 hex digits; the key. */
  id: string;
  /** sha256(secret), hex. */
  hash: string;
  role: ApiRole;
  /** Who or what it is for (`local admin`, `grafana`): shown by `token list`. */
  name: string;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms; null: never expires. */
  expiresAt: number | null;
}

export interface StoredJoinToken {
  id: string;
  hash: string;
  /** The host the token enrols; the agent's id and the name in its certificate. */
  host: string;
  /** What the host may run: `<namespace>/<serviceAccount>` patterns (src/control/auth/host-policy.ts). */
  serviceAccounts: string[];
  createdAt: number;
  expiresAt: number;
  /** Epoch ms it was spent; null: not yet. */
  usedAt: number | null;
}

/** What a joined host's agent may do: written when it joins, read on every agent call. */
export interface StoredHostPolicy {
  host: string;
  serviceAccounts: string[];
  /** The join token that enrolled it. */
  tokenId: string;
  joinedAt: number;
}

export type SpendResult = { ok: true; token: StoredJoinToken } | { ok: false; reason: 'unknown' | 'used' | 'expired' };

/**
 * The one rule for spending a join token, shared by every store: unknown, used or expired
 * tokens are refused (in that order); otherwise the answer carries the token as spent at `now`,
 * which the store must then write atomically (a check-and-set against what it read).
 */
export function spendOutcome(token: StoredJoinToken | undefined | null, now: number): SpendResult {
  if (token === undefined || token === null) return { ok: false, reason: 'unknown' };
  if (token.usedAt !== null) return { ok: false, reason: 'used' };
  if (token.expiresAt <= now) return { ok: false, reason: 'expired' };
  return { ok: true, token: { ...token, usedAt: now } };
}

export interface CredentialStore {
  apiTokens(): ReadonlyMap<string, StoredApiToken>;
  putApiToken(token: StoredApiToken): Promise<void>;
  /** True when it was there. */
  deleteApiToken(id: string): Promise<boolean>;

  joinTokens(): ReadonlyMap<string, StoredJoinToken>;
  putJoinToken(token: StoredJoinToken): Promise<void>;
  deleteJoinToken(id: string): Promise<boolean>;
  /**
   * Marks the token used at `now`, atomically: of two concurrent calls (on any replica) exactly
   * one gets ok. Refuses an unknown, already used or expired (expiresAt <= now) token. The hash
   * is checked by the caller before spending.
   */
  spendJoinToken(id: string, now: number): Promise<SpendResult>;

  hostPolicies(): ReadonlyMap<string, StoredHostPolicy>;
  putHostPolicy(policy: StoredHostPolicy): Promise<void>;
  deleteHostPolicy(host: string): Promise<boolean>;
}
