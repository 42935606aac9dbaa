import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TrellisError } from '../../errors.js';
import type { Resource } from '../../api/resources.js';
import { StoreEvents } from './store-events.js';
import {
  resourceKey,
  StoreConflictError,
  type ReplicaInfo,
  type Store,
  type StoreChange,
  type StoredAgent,
  type StoredGrant,
  type StoredSnapshotVersion,
} from './store.js';
import type { SpendResult, StoredApiToken, StoredHostPolicy, StoredJoinToken } from './credential-store.js';

/** `credentials.json`: API tokens, join tokens and host policies (hashes only, never a secret). */
interface Credentials {
  apiTokens: StoredApiToken[];
  joinTokens: StoredJoinToken[];
  hosts: StoredHostPolicy[];
}

interface Meta {
  version: number;
}

/**
 * The embedded store: a few JSON documents in `<dir>` (0700), each replaced atomically
 * (write a 0600 temp file, then rename), writes serialised so a later state never loses to
 * an earlier one. One process owns it: it is always the leader, the only replica, and its
 * caller expires agents' leases (expiresAgents is false).
 */
export class FileStore implements Store {
  readonly kind = 'file';
  readonly expiresAgents = false;
  private readonly agentMap = new Map<string, StoredAgent>();
  private readonly tokens = new Map<string, StoredGrant>();
  private readonly events = new StoreEvents();
  private self: ReplicaInfo | null = null;
  /** Counts changes: the file store's revision (one writer, so claims never go stale). */
  private changes = 0;
  private snapshots = new Map<string, StoredSnapshotVersion>();
  private readonly identities = new Map<string, string>();
  private meta: Meta = { version: 0 };
  private resourceMap = new Map<string, Resource>();
  private resVersion = 0;
  private readonly apiTokenMap = new Map<string, StoredApiToken>();
  private readonly joinTokenMap = new Map<string, StoredJoinToken>();
  private readonly hostMap = new Map<string, StoredHostPolicy>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(private readonly dir: string) {}

  static async open(dir: string): Promise<FileStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const s = new FileStore(dir);
    const meta = await s.read<Meta>('meta.json');
    if (meta !== null) {
      if (!Number.isSafeInteger(meta.version) || meta.version < 0) {
        throw new TrellisError('TRELLIS_E_CONFIG', `corrupt version counter in ${join(dir, 'meta.json')}`);
      }
      s.meta = meta;
    }
    for (const a of (await s.read<StoredAgent[]>('agents.json')) ?? []) s.agentMap.set(a.report.agentId, a);
    for (const [k, v] of Object.entries((await s.read<Record<string, StoredSnapshotVersion>>('snapshots.json')) ?? {})) {
      s.snapshots.set(k, v);
    }
    for (const [k, v] of Object.entries((await s.read<Record<string, string>>('nodes.json')) ?? {})) s.identities.set(k, v);
    for (const [k, v] of Object.entries((await s.read<Record<string, StoredGrant>>('tokens.json')) ?? {})) s.tokens.set(k, v);
    const res = await s.read<{ version: number; items: Resource[] }>('resources.json');
    if (res !== null) {
      if (!Number.isSafeInteger(res.version) || res.version < 0 || !Array.isArray(res.items)) {
        throw new TrellisError('TRELLIS_E_CONFIG', `corrupt resources in ${join(dir, 'resources.json')}`);
      }
      s.resVersion = res.version;
      for (const r of res.items) s.resourceMap.set(resourceKey(r.kind, r.metadata.namespace, r.metadata.name), r);
    }
    const creds = await s.read<Partial<Credentials>>('credentials.json');
    if (creds !== null) {
      if (typeof creds !== 'object' || ![creds.apiTokens, creds.joinTokens, creds.hosts].every((l) => l === undefined || Array.isArray(l))) {
        throw new TrellisError('TRELLIS_E_CONFIG', `corrupt credentials in ${join(dir, 'credentials.json')}`);
      }
      for (const t of creds.apiTokens ?? []) s.apiTokenMap.set(t.id, t);
      for (const t of creds.joinTokens ?? []) s.joinTokenMap.set(t.id, t);
      for (const h of creds.hosts ?? []) s.hostMap.set(h.host, h);
    }
    return s;
  }

  // ---- credentials (one document, written whole) ----

  apiTokens(): ReadonlyMap<string, StoredApiToken> {
    return this.apiTokenMap;
  }

  putApiToken(token: StoredApiToken): Promise<void> {
    this.apiTokenMap.set(token.id, { ...token });
    return this.writeCredentials();
  }

  async deleteApiToken(id: string): Promise<boolean> {
    if (!this.apiTokenMap.delete(id)) return false;
    await this.writeCredentials();
    return true;
  }

  joinTokens(): ReadonlyMap<string, StoredJoinToken> {
    return this.joinTokenMap;
  }

  putJoinToken(token: StoredJoinToken): Promise<void> {
    this.joinTokenMap.set(token.id, { ...token });
    return this.writeCredentials();
  }

  async deleteJoinToken(id: string): Promise<boolean> {
    if (!this.joinTokenMap.delete(id)) return false;
    await this.writeCredentials();
    return true;
  }

  async spendJoinToken(id: string, now: number): Promise<SpendResult> {
    // One process owns a file store and this check-and-set runs without an await in between,
    // so two calls cannot both see the token unused.
    const t = this.joinTokenMap.get(id);
    if (t === undefined) return { ok: false, reason: 'unknown' };
    if (t.usedAt !== null) return { ok: false, reason: 'used' };
    if (t.expiresAt <= now) return { ok: false, reason: 'expired' };
    const spent = { ...t, usedAt: now };
    this.joinTokenMap.set(id, spent);
    await this.writeCredentials();
    return { ok: true, token: spent };
  }

  hostPolicies(): ReadonlyMap<string, StoredHostPolicy> {
    return this.hostMap;
  }

  putHostPolicy(policy: StoredHostPolicy): Promise<void> {
    this.hostMap.set(policy.host, { ...policy, serviceAccounts: [...policy.serviceAccounts] });
    return this.writeCredentials();
  }

  async deleteHostPolicy(host: string): Promise<boolean> {
    if (!this.hostMap.delete(host)) return false;
    await this.writeCredentials();
    return true;
  }

  private writeCredentials(): Promise<void> {
    return this.write('credentials.json', (): Credentials => ({
      apiTokens: [...this.apiTokenMap.values()],
      joinTokens: [...this.joinTokenMap.values()],
      hosts: [...this.hostMap.values()],
    }));
  }

  resources(): ReadonlyMap<string, Resource> {
    return this.resourceMap;
  }

  resourceVersion(): number {
    return this.resVersion;
  }

  commitResources(batch: { version: number; put: Resource[]; remove: string[] }): Promise<void> {
    if (batch.version !== this.resVersion + 1) {
      return Promise.reject(new StoreConflictError(`resource version is ${this.resVersion}, the batch expected ${batch.version - 1}`));
    }
    // Build the next state first and swap it in whole: one file, one rename, all or nothing.
    const next = new Map(this.resourceMap);
    for (const k of batch.remove) next.delete(k);
    for (const r of batch.put) next.set(resourceKey(r.kind, r.metadata.namespace, r.metadata.name), r);
    const state = { version: batch.version, items: [...next.values()] };
    // Claimed now, so a second batch computed from the same state conflicts rather than both landing.
    this.resVersion = batch.version;
    const p = this.write('resources.json', () => state);
    return p.then(
      () => {
        this.resourceMap = next;
        this.emit({ kind: 'resources', version: state.version });
      },
      (err: unknown) => {
        if (this.resVersion === batch.version) this.resVersion = batch.version - 1;
        throw err;
      },
    );
  }

  agents(): StoredAgent[] {
    return [...this.agentMap.values()];
  }

  async putAgent(agent: StoredAgent): Promise<void> {
    this.agentMap.set(agent.report.agentId, agent);
    await this.write('agents.json', () => this.agents());
    this.emit({ kind: 'agent', agentId: agent.report.agentId, agent });
  }

  async deleteAgent(agentId: string): Promise<boolean> {
    if (!this.agentMap.delete(agentId)) return false;
    await this.write('agents.json', () => this.agents());
    this.emit({ kind: 'agent', agentId, agent: null });
    return true;
  }

  version(): number {
    return this.meta.version;
  }

  async nextVersion(): Promise<number> {
    const v = this.meta.version + 1;
    this.meta = { version: v };
    await this.write('meta.json', () => this.meta);
    return v;
  }

  snapshotVersions(): ReadonlyMap<string, StoredSnapshotVersion> {
    return this.snapshots;
  }

  putSnapshotVersions(entries: ReadonlyMap<string, StoredSnapshotVersion>): Promise<void> {
    this.snapshots = new Map(entries);
    return this.write('snapshots.json', () => Object.fromEntries(this.snapshots));
  }

  async claimSnapshotVersions(proposals: ReadonlyMap<string, string>): Promise<Map<string, StoredSnapshotVersion>> {
    const out = new Map<string, StoredSnapshotVersion>();
    const fresh: string[] = [];
    for (const [nodeId, hash] of proposals) {
      const known = this.snapshots.get(nodeId);
      if (known !== undefined && known.hash === hash) out.set(nodeId, known);
      else fresh.push(nodeId);
    }
    if (fresh.length === 0) return out;
    const version = await this.nextVersion();
    const next = new Map(this.snapshots);
    for (const nodeId of fresh) {
      const v = { version, hash: proposals.get(nodeId) as string };
      next.set(nodeId, v);
      out.set(nodeId, v);
    }
    await this.putSnapshotVersions(next);
    return out;
  }

  async forgetSnapshotVersions(nodeIds: readonly string[]): Promise<void> {
    const next = new Map(this.snapshots);
    for (const id of nodeIds) next.delete(id);
    if (next.size !== this.snapshots.size) await this.putSnapshotVersions(next);
  }

  revision(): number {
    return this.changes;
  }

  nodeIdentities(): ReadonlyMap<string, string> {
    return this.identities;
  }

  putNodeIdentity(nodeId: string, identity: string): Promise<void> {
    if (this.identities.get(nodeId) === identity) return Promise.resolve();
    this.identities.set(nodeId, identity);
    return this.write('nodes.json', () => Object.fromEntries(this.identities));
  }

  async putBootstrapToken(tokenHash: string, grant: StoredGrant): Promise<void> {
    this.tokens.set(tokenHash, grant);
    await this.write('tokens.json', () => Object.fromEntries(this.tokens));
  }

  async takeBootstrapToken(tokenHash: string): Promise<StoredGrant | undefined> {
    const grant = this.tokens.get(tokenHash);
    if (grant === undefined) return undefined;
    // Gone from memory before the write: a second taker in this process finds nothing.
    this.tokens.delete(tokenHash);
    await this.write('tokens.json', () => Object.fromEntries(this.tokens));
    return grant;
  }

  async sweepBootstrapTokens(now: number): Promise<number> {
    let n = 0;
    for (const [k, g] of this.tokens) {
      if (g.expiresAt <= now) {
        this.tokens.delete(k);
        n++;
      }
    }
    if (n > 0) await this.write('tokens.json', () => Object.fromEntries(this.tokens));
    return n;
  }

  announceReplica(self: ReplicaInfo): Promise<void> {
    this.self = self;
    return Promise.resolve();
  }

  replicas(): ReplicaInfo[] {
    return this.self === null ? [] : [this.self];
  }

  isLeader(): boolean {
    return true;
  }

  onChange(listener: (change: StoreChange) => void): () => void {
    return this.events.subscribe(listener);
  }

  sync(): Promise<void> {
    return this.queue;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
  }

  private emit(change: StoreChange): void {
    this.changes++;
    this.events.emit(change);
  }

  private async read<T>(name: string): Promise<T | null> {
    const path = join(this.dir, name);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new TrellisError('TRELLIS_E_CONFIG', `corrupt store file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Queues a write of the document's state at the time the write runs (coalesces naturally). */
  private write(name: string, state: () => unknown): Promise<void> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    const run = async (): Promise<void> => {
      const path = join(this.dir, name);
      const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(tmp, JSON.stringify(state()), { mode: 0o600, flag: 'wx' });
      await rename(tmp, path);
    };
    const p = this.queue.then(run);
    this.queue = p.catch(() => {});
    return p;
  }
}
