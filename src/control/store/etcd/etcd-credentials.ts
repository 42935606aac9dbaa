import type { Etcd3, IRequestOp } from 'etcd3';
import { spendOutcome, type CredentialStore, type SpendResult, type StoredApiToken, type StoredHostPolicy, type StoredJoinToken } from '../credential-store.js';
import type { CachedKv, EtcdCache } from './etcd-cache.js';
import { grantLease } from './leases.js';
import type { KeyLayout } from './keys.js';

/**
 * How long an expired token stays listed (`trellis token list` shows it as expired) before
 * etcd deletes it. Expiry itself is decided by `expiresAt`, never by the lease: the lease only
 * keeps etcd from collecting dead tokens forever.
 */
export const EXPIRED_TOKEN_RETENTION_MS = 24 * 3600_000;

export interface EtcdCredentialDeps {
  client: Etcd3;
  keys: KeyLayout;
  cache: EtcdCache;
  /** Runs an etcd call, turning transport failures into TRELLIS_E_STORE. */
  call<T>(what: string, fn: () => Promise<T>): Promise<T>;
  /** Wall clock for lease lengths (tokens' expiresAt come from the control plane's clock). */
  now(): number;
}

/**
 * The CredentialStore half of EtcdStore. Keys (keys.ts): `api-tokens/<id>`, `join-tokens/<id>`,
 * `hosts/<host>`, each a JSON document holding only the SHA-256 of a secret, like FileStore.
 * Tokens that expire sit on an etcd lease ending EXPIRED_TOKEN_RETENTION_MS after their
 * expiry. A join token is spent with a transaction that compares its mod revision with the one
 * just read, so of two replicas spending it at once exactly one succeeds.
 */
export class EtcdCredentials implements CredentialStore {
  private readonly apiView = new Map<string, StoredApiToken>();
  private readonly joinView = new Map<string, StoredJoinToken>();
  private readonly hostView = new Map<string, StoredHostPolicy>();

  constructor(private readonly d: EtcdCredentialDeps) {}

  /** Applies one watched key of category api-tokens, join-tokens or hosts; false for any other category. */
  apply(category: string, id: string, kv: CachedKv | null, parse: <T>() => T | null): boolean {
    const map = category === 'api-tokens' ? this.apiView : category === 'join-tokens' ? this.joinView : category === 'hosts' ? this.hostView : null;
    if (map === null) return false;
    const v = kv === null ? null : parse<StoredApiToken & StoredJoinToken & StoredHostPolicy>();
    if (v === null) map.delete(id);
    else map.set(id, v);
    return true;
  }

  clear(): void {
    this.apiView.clear();
    this.joinView.clear();
    this.hostView.clear();
  }

  apiTokens(): ReadonlyMap<string, StoredApiToken> {
    return this.apiView;
  }

  putApiToken(token: StoredApiToken): Promise<void> {
    return this.putExpiring(this.d.keys.apiToken(token.id), token, token.expiresAt, 'storing an API token');
  }

  deleteApiToken(id: string): Promise<boolean> {
    return this.remove(this.d.keys.apiToken(id), 'deleting an API token');
  }

  joinTokens(): ReadonlyMap<string, StoredJoinToken> {
    return this.joinView;
  }

  putJoinToken(token: StoredJoinToken): Promise<void> {
    return this.putExpiring(this.d.keys.joinToken(token.id), token, token.expiresAt, 'storing a join token');
  }

  deleteJoinToken(id: string): Promise<boolean> {
    return this.remove(this.d.keys.joinToken(id), 'deleting a join token');
  }

  async spendJoinToken(id: string, now: number): Promise<SpendResult> {
    const key = Buffer.from(this.d.keys.joinToken(id));
    // Read etcd itself, not this replica's view: another replica may have spent (or made) the
    // token a moment ago. The transaction then writes only if nobody changed it since.
    for (;;) {
      const got = await this.d.call('reading a join token', () => this.d.client.kv.range({ key }));
      const kv = got.kvs[0];
      const outcome = spendOutcome(kv === undefined ? null : parseJson<StoredJoinToken>(kv.value), now);
      if (kv === undefined || !outcome.ok) return outcome;
      const put: IRequestOp = { request_put: { key, value: Buffer.from(JSON.stringify(outcome.token)), ignore_lease: String(kv.lease) !== '0' } };
      const res = await this.d.call('spending a join token', () =>
        this.d.client.kv.txn({ compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }], success: [put] }),
      );
      if (res.succeeded) {
        await this.d.cache.reached(Number(res.header.revision));
        return outcome;
      }
      // Someone changed it between the read and the transaction: read again (it is now used, or gone).
    }
  }

  hostPolicies(): ReadonlyMap<string, StoredHostPolicy> {
    return this.hostView;
  }

  async putHostPolicy(policy: StoredHostPolicy): Promise<void> {
    const res = await this.d.call('storing a host policy', () => this.d.client.put(this.d.keys.hostPolicy(policy.host)).value(JSON.stringify(policy)).exec());
    await this.d.cache.reached(Number(res.header.revision));
  }

  deleteHostPolicy(host: string): Promise<boolean> {
    return this.remove(this.d.keys.hostPolicy(host), 'deleting a host policy');
  }

  private async putExpiring(key: string, value: object, expiresAt: number | null, what: string): Promise<void> {
    const ttlMs = expiresAt === null ? null : Math.max(0, expiresAt - this.d.now()) + EXPIRED_TOKEN_RETENTION_MS;
    const res = await this.d.call(what, async () => {
      const put = this.d.client.put(key).value(JSON.stringify(value));
      if (ttlMs !== null) put.lease(await grantLease(this.d.client, Math.ceil(ttlMs / 1000)));
      return put.exec();
    });
    await this.d.cache.reached(Number(res.header.revision));
  }

  private async remove(key: string, what: string): Promise<boolean> {
    const res = await this.d.call(what, () => this.d.client.kv.deleteRange({ key: Buffer.from(key) }));
    if (Number(res.deleted) === 0) return false;
    await this.d.cache.reached(Number(res.header.revision));
    return true;
  }
}

function parseJson<T>(value: Buffer): T | null {
  try {
    return JSON.parse(value.toString('utf8')) as T;
  } catch {
    return null;
  }
}
