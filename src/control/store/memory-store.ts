import type { Resource } from '../../api/resources.js';
import { spendOutcome, type SpendResult, type StoredApiToken, type StoredHostPolicy, type StoredJoinToken } from './credential-store.js';
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

/** What survives a MemoryStore's reopen (the "disk"). */
interface MemoryState {
  agents: Map<string, StoredAgent>;
  snapshots: Map<string, StoredSnapshotVersion>;
  identities: Map<string, string>;
  resources: Map<string, Resource>;
  tokens: Map<string, StoredGrant>;
  resVersion: number;
  /** Bumped by every write, as etcd's revision is. */
  revision: number;
  /** Revision of the last agent or resource change (Store.revision()). */
  inputRevision: number;
  apiTokens: Map<string, StoredApiToken>;
  joinTokens: Map<string, StoredJoinToken>;
  hosts: Map<string, StoredHostPolicy>;
}

/**
 * A Store in memory, for compiler tests that run many passes and the push-scale compile
 * benchmark (no files, no etcd); not used by the product. Its snapshot versions work as
 * EtcdStore's do: every write takes the next revision, a claim's version is the revision of
 * its write (one per claim), entries keep their basis, and a proposal of other content from a
 * smaller basis than the stored one is left out. So a test over it sees what a replica over
 * etcd would, without the watch's delay. `claims` records what each claim wrote.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  readonly expiresAgents = false;
  private readonly events = new StoreEvents();
  private self: ReplicaInfo | null = null;
  /** Node ids each claim wrote (claims answered from stored entries write nothing), oldest first. */
  readonly claims: string[][] = [];

  constructor(private readonly state: MemoryState = newState()) {}

  /** A second store over the same state, as after a restart (this one is left as it is). */
  reopen(): MemoryStore {
    return new MemoryStore(this.state);
  }

  agents(): StoredAgent[] {
    return [...this.state.agents.values()];
  }
  putAgent(agent: StoredAgent): Promise<void> {
    this.state.agents.set(agent.report.agentId, agent);
    this.input();
    this.events.emit({ kind: 'agent', agentId: agent.report.agentId, agent });
    return Promise.resolve();
  }
  deleteAgent(agentId: string): Promise<boolean> {
    if (!this.state.agents.delete(agentId)) return Promise.resolve(false);
    this.input();
    this.events.emit({ kind: 'agent', agentId, agent: null });
    return Promise.resolve(true);
  }

  version(): number {
    let max = 0;
    for (const v of this.state.snapshots.values()) max = Math.max(max, v.version);
    return Math.max(max, this.state.revision);
  }
  nextVersion(): Promise<number> {
    return Promise.resolve(++this.state.revision);
  }
  revision(): number {
    return this.state.inputRevision;
  }

  snapshotVersions(): ReadonlyMap<string, StoredSnapshotVersion> {
    return this.state.snapshots;
  }
  claimSnapshotVersions(proposals: ReadonlyMap<string, string>, basis: number): Promise<Map<string, StoredSnapshotVersion>> {
    const out = new Map<string, StoredSnapshotVersion>();
    const write: string[] = [];
    for (const [nodeId, hash] of proposals) {
      const known = this.state.snapshots.get(nodeId);
      if (known !== undefined && known.hash === hash) out.set(nodeId, known);
      else if (known !== undefined && (known.basis ?? 0) > basis) continue;
      else write.push(nodeId);
    }
    if (write.length > 0) {
      const version = ++this.state.revision;
      for (const nodeId of write) {
        const v = { version, hash: proposals.get(nodeId) as string, basis };
        this.state.snapshots.set(nodeId, v);
        out.set(nodeId, v);
      }
      this.claims.push(write);
    }
    return Promise.resolve(out);
  }
  forgetSnapshotVersions(nodeIds: readonly string[]): Promise<void> {
    for (const id of nodeIds) this.state.snapshots.delete(id);
    this.state.revision++;
    return Promise.resolve();
  }

  nodeIdentities(): ReadonlyMap<string, string> {
    return this.state.identities;
  }
  putNodeIdentity(nodeId: string, identity: string): Promise<void> {
    this.state.identities.set(nodeId, identity);
    this.state.revision++;
    return Promise.resolve();
  }

  resources(): ReadonlyMap<string, Resource> {
    return this.state.resources;
  }
  resourceVersion(): number {
    return this.state.resVersion;
  }
  commitResources(batch: { version: number; put: Resource[]; remove: string[] }): Promise<void> {
    if (batch.version !== this.state.resVersion + 1) {
      return Promise.reject(new StoreConflictError(`resource version is ${this.state.resVersion}, the batch expected ${batch.version - 1}`));
    }
    for (const k of batch.remove) this.state.resources.delete(k);
    for (const r of batch.put) this.state.resources.set(resourceKey(r.kind, r.metadata.namespace, r.metadata.name), r);
    this.state.resVersion = batch.version;
    this.input();
    this.events.emit({ kind: 'resources', version: batch.version });
    return Promise.resolve();
  }

  putBootstrapToken(tokenHash: string, grant: StoredGrant): Promise<void> {
    this.state.tokens.set(tokenHash, grant);
    this.state.revision++;
    return Promise.resolve();
  }
  takeBootstrapToken(tokenHash: string): Promise<StoredGrant | undefined> {
    const grant = this.state.tokens.get(tokenHash);
    this.state.tokens.delete(tokenHash);
    return Promise.resolve(grant);
  }
  sweepBootstrapTokens(now: number): Promise<number> {
    let n = 0;
    for (const [k, g] of this.state.tokens) {
      if (g.expiresAt > now) continue;
      this.state.tokens.delete(k);
      n++;
    }
    return Promise.resolve(n);
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
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }

  private input(): void {
    this.state.inputRevision = ++this.state.revision;
  }

  // ---- credentials (kept as FileStore keeps them; the spend is a check-and-set with no await) ----

  apiTokens(): ReadonlyMap<string, StoredApiToken> {
    return this.state.apiTokens;
  }
  putApiToken(token: StoredApiToken): Promise<void> {
    this.state.apiTokens.set(token.id, { ...token });
    return Promise.resolve();
  }
  deleteApiToken(id: string): Promise<boolean> {
    return Promise.resolve(this.state.apiTokens.delete(id));
  }
  joinTokens(): ReadonlyMap<string, StoredJoinToken> {
    return this.state.joinTokens;
  }
  putJoinToken(token: StoredJoinToken): Promise<void> {
    this.state.joinTokens.set(token.id, { ...token });
    return Promise.resolve();
  }
  deleteJoinToken(id: string): Promise<boolean> {
    return Promise.resolve(this.state.joinTokens.delete(id));
  }
  spendJoinToken(id: string, now: number): Promise<SpendResult> {
    const outcome = spendOutcome(this.state.joinTokens.get(id), now);
    if (outcome.ok) this.state.joinTokens.set(id, outcome.token);
    return Promise.resolve(outcome);
  }
  hostPolicies(): ReadonlyMap<string, StoredHostPolicy> {
    return this.state.hosts;
  }
  putHostPolicy(policy: StoredHostPolicy): Promise<void> {
    this.state.hosts.set(policy.host, { ...policy, serviceAccounts: [...policy.serviceAccounts] });
    return Promise.resolve();
  }
  deleteHostPolicy(host: string): Promise<boolean> {
    return Promise.resolve(this.state.hosts.delete(host));
  }
}

function newState(): MemoryState {
  return { agents: new Map(), snapshots: new Map(), identities: new Map(), resources: new Map(), tokens: new Map(), resVersion: 0, revision: 0, inputRevision: 0, apiTokens: new Map(), joinTokens: new Map(), hosts: new Map() };
}
