import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
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
import { spendOutcome, type SpendResult, type StoredApiToken, type StoredHostPolicy, type StoredJoinToken } from './credential-store.js';

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
 * The embedded store: a few JSON documents in `<dir>` (0700) and one per agent in
 * `<dir>/agents/`, each replaced atomically (write a 0600 temp file, then rename), writes
 * serialised so a later state never loses to an earlier one. One process owns it: it is
 * always the leader, the only replica, and its caller expires agents' leases (expiresAgents
 * is false). Layout and why: README.md.
 */
export class FileStore implements Store {
  readonly kind = 'file';
  readonly expiresAgents = false;
  private readonly agentMap = new Map<string, StoredAgent>();
  private readonly tokens = new Map<string, StoredGrant>();
  private readonly events = new StoreEvents();
  private self: ReplicaInfo | null = null;
  /**
   * revision(): counts announced changes, going on from the newest basis stored (one writer:
   * its claims go stale only if this restarted from 0).
   */
  private changes = 0;
  /** JSON of each agent's stored report, to tell a renewal from a change. */
  private readonly agentJson = new Map<string, string>();
  /** Writes queued and not started, by document: a later write of the same document joins it. */
  private readonly pending = new Map<string, { state: (() => unknown) | null; done: Promise<void> }>();
  private snapshots = new Map<string, StoredSnapshotVersion>();
  private readonly identities = new Map<string, string>();
  private meta: Meta = { version: 0 };
  private resourceMap = new Map<string, Resource>();
  private resVersion = 0;
  private readonly apiTokenMap = new Map<string, StoredApiToken>();
  private readonly joinTokenMap = new Map<string, StoredJoinToken>();
  private readonly hostMap = new Map<string, StoredHostPolicy>();
  /** Resources of the last batch accepted and not yet on disk (null: none pending). */
  private resStaged: Map<string, Resource> | null = null;
  /** Resource version on disk. */
  private resDurable = 0;
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
    await mkdir(join(dir, AGENTS_DIR), { recursive: true, mode: 0o700 });
    await chmod(join(dir, AGENTS_DIR), 0o700);
    for (const f of (await readdir(join(dir, AGENTS_DIR))).sort()) {
      if (!f.endsWith('.json')) continue;
      const a = await s.read<StoredAgent>(`${AGENTS_DIR}/${f}`);
      if (a === null) continue;
      s.agentMap.set(a.report.agentId, a);
      s.agentJson.set(a.report.agentId, JSON.stringify(a.report));
    }
    // Before one file per agent, every agent was in agents.json: move them over once.
    const legacy = await s.read<StoredAgent[]>('agents.json');
    if (legacy !== null) {
      for (const a of legacy) if (!s.agentMap.has(a.report.agentId)) await s.putAgent(a);
      await s.queue;
      await rm(join(dir, 'agents.json'), { force: true });
    }
    for (const [k, v] of Object.entries((await s.read<Record<string, StoredSnapshotVersion>>('snapshots.json')) ?? {})) {
      s.snapshots.set(k, v);
      // revision() goes on from the newest basis stored: a compile after a restart is never
      // older than one before it (else its claims would be left out as stale).
      if (typeof v.basis === 'number' && v.basis > s.changes) s.changes = v.basis;
    }
    for (const [k, v] of Object.entries((await s.read<Record<string, string>>('nodes.json')) ?? {})) s.identities.set(k, v);
    for (const [k, v] of Object.entries((await s.read<Record<string, StoredGrant>>('tokens.json')) ?? {})) s.tokens.set(k, v);
    const res = await s.read<{ version: number; items: Resource[] }>('resources.json');
    if (res !== null) {
      if (!Number.isSafeInteger(res.version) || res.version < 0 || !Array.isArray(res.items)) {
        throw new TrellisError('TRELLIS_E_CONFIG', `corrupt resources in ${join(dir, 'resources.json')}`);
      }
      s.resVersion = res.version;
      s.resDurable = res.version;
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
    const outcome = spendOutcome(this.joinTokenMap.get(id), now);
    if (!outcome.ok) return outcome;
    this.joinTokenMap.set(id, outcome.token);
    await this.writeCredentials();
    return outcome;
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
    // Build the next state first and swap it in whole: one file, one rename, all or nothing. It
    // starts from the last batch accepted (possibly still being written), not the last durable one.
    const next = new Map(this.resStaged ?? this.resourceMap);
    for (const k of batch.remove) next.delete(k);
    for (const r of batch.put) next.set(resourceKey(r.kind, r.metadata.namespace, r.metadata.name), r);
    const state = { version: batch.version, items: [...next.values()] };
    // Claimed now, so a second batch computed from the same state conflicts rather than both landing.
    this.resVersion = batch.version;
    this.resStaged = next;
    const p = this.write('resources.json', () => state);
    return p.then(
      () => {
        this.resourceMap = next;
        this.resDurable = state.version;
        if (this.resStaged === next) this.resStaged = null;
        this.emit({ kind: 'resources', version: state.version });
      },
      (err: unknown) => {
        // Back to what is on disk: batches accepted after this one failed with it (one queue).
        this.resStaged = null;
        this.resVersion = this.resDurable;
        throw err;
      },
    );
  }

  agents(): StoredAgent[] {
    return [...this.agentMap.values()];
  }

  async putAgent(agent: StoredAgent): Promise<void> {
    const id = agent.report.agentId;
    const json = JSON.stringify(agent.report);
    const same = this.agentJson.get(id) === json;
    this.agentMap.set(id, agent);
    this.agentJson.set(id, json);
    // A renewal with the same report changes only receivedAt, which is for display (leases
    // restart on load): agents renew every few seconds, and writing each renewal was most of a
    // big mesh's control-plane CPU. Each agent has its own file, so a change writes one report,
    // not the whole mesh's. The renewal is still announced: here the control plane ends leases
    // (Registry.expire), and the event is what restarts this one.
    if (same) {
      await this.queue;
    } else {
      try {
        await this.write(agentFile(id), () => agent);
      } catch (err) {
        // Not on disk: the next report must be written even if it is the same.
        if (this.agentJson.get(id) === json) this.agentJson.delete(id);
        throw err;
      }
    }
    this.emit({ kind: 'agent', agentId: id, agent });
  }

  async deleteAgent(agentId: string): Promise<boolean> {
    this.agentJson.delete(agentId);
    if (!this.agentMap.delete(agentId)) return false;
    await this.write(agentFile(agentId), null);
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

  async claimSnapshotVersions(proposals: ReadonlyMap<string, string>, basis: number): Promise<Map<string, StoredSnapshotVersion>> {
    const out = new Map<string, StoredSnapshotVersion>();
    const fresh: string[] = [];
    for (const [nodeId, hash] of proposals) {
      const known = this.snapshots.get(nodeId);
      if (known !== undefined && known.hash === hash) out.set(nodeId, known);
      // The same rule as over etcd; with one writer it only matters to a caller that passes an old basis.
      else if (known !== undefined && (known.basis ?? 0) > basis) continue;
      else fresh.push(nodeId);
    }
    if (fresh.length === 0) return out;
    // The counter (meta.json) and the entries (snapshots.json): two documents, queued together
    // and each joined with any write of it already waiting. A crash between them leaves the
    // counter ahead (a version is skipped, never reused): the restart finds the old hashes and
    // claims again, costing each changed proxy one snapshot it may already have.
    const version = this.meta.version + 1;
    this.meta = { version };
    const before = new Map<string, StoredSnapshotVersion | undefined>();
    for (const nodeId of fresh) {
      const v: StoredSnapshotVersion = { version, hash: proposals.get(nodeId) as string, basis };
      before.set(nodeId, this.snapshots.get(nodeId));
      this.snapshots.set(nodeId, v);
      out.set(nodeId, v);
    }
    try {
      await Promise.all([this.write('meta.json', () => this.meta), this.writeSnapshots()]);
    } catch (err) {
      // Not durable: forget the claim, so the next one is written (never answered from memory).
      for (const [nodeId, prev] of before) {
        if (this.snapshots.get(nodeId) !== out.get(nodeId)) continue;
        if (prev === undefined) this.snapshots.delete(nodeId);
        else this.snapshots.set(nodeId, prev);
      }
      throw err;
    }
    return out;
  }

  async forgetSnapshotVersions(nodeIds: readonly string[]): Promise<void> {
    let n = 0;
    for (const id of nodeIds) if (this.snapshots.delete(id)) n++;
    if (n > 0) await this.writeSnapshots();
  }

  revision(): number {
    return this.changes;
  }

  private writeSnapshots(): Promise<void> {
    return this.write('snapshots.json', () => Object.fromEntries(this.snapshots));
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

  /**
   * Queues a write of a document (`state` null: its removal). A write of a document that already
   * has one queued and not started joins it and gives it its (newer) state: each document's last
   * state wins, so a burst of changes costs one write, not one per change, and every caller's
   * state (or a newer one) is on disk when its promise resolves.
   */
  private write(name: string, state: (() => unknown) | null): Promise<void> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    const queued = this.pending.get(name);
    if (queued !== undefined) {
      queued.state = state;
      return queued.done;
    }
    const entry: { state: (() => unknown) | null; done: Promise<void> } = { state, done: Promise.resolve() };
    const run = async (): Promise<void> => {
      this.pending.delete(name);
      const path = join(this.dir, name);
      if (entry.state === null) {
        await rm(path, { force: true });
        return;
      }
      const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(tmp, JSON.stringify(entry.state()), { mode: 0o600, flag: 'wx' });
      await rename(tmp, path);
    };
    entry.done = this.queue.then(run);
    this.pending.set(name, entry);
    this.queue = entry.done.catch(() => {});
    return entry.done;
  }
}

const AGENTS_DIR = 'agents';

/** One file per agent; the id encoded so any id is one safe file name. */
function agentFile(agentId: string): string {
  return `${AGENTS_DIR}/${encodeURIComponent(agentId)}.json`;
}
