import type { AgentReport } from '../../api/registry.js';
import type { Resource } from '../../api/resources.js';
import { TrellisError } from '../../errors.js';
import type { CredentialStore } from './credential-store.js';

export type { ApiRole, CredentialStore, SpendResult, StoredApiToken, StoredHostPolicy, StoredJoinToken } from './credential-store.js';

/** An agent's last full report as the store keeps it. */
export interface StoredAgent {
  report: AgentReport;
  /** Epoch ms the report arrived (display only: leases restart from "now" on load). */
  receivedAt: number;
}

/**
 * The version agreed for one proxy's compiled content: kept so a restart reuses unchanged
 * versions and so every replica gives the same content the same version.
 */
export interface StoredSnapshotVersion {
  version: number;
  /** SHA-256 of the snapshot's content without its version (compiler.ts, contentHash). */
  hash: string;
  /**
   * revision() the content was compiled at (the claim's `basis`): how new the state behind it
   * is. Absent in entries stored before claims had one (treated as 0).
   */
  basis?: number;
}

/** A one-time bootstrap token's grant (the token itself is never stored, only its SHA-256). */
export interface StoredGrant {
  nodeId: string;
  identity: string;
  /** Epoch ms after which the token is refused. */
  expiresAt: number;
}

/** A control-plane process serving over this store (one for the file store). */
export interface ReplicaInfo {
  id: string;
  apiUrl: string;
  pushUrl: string;
  startedAt: number;
}

/**
 * What changed in the store, whoever wrote it (this process or another replica over the same
 * etcd). Listeners run after the in-memory view has the change.
 * - `agent`: an agent's report was stored (`agent`) or removed (`null`: deleted, or its lease expired).
 * - `resources`: a resource batch was committed (the resource version is now `version`).
 * - `resync`: the view was reloaded whole (a watch fell behind etcd's compaction): re-read everything.
 * - `snapshots`: the stored snapshot versions of these nodes changed (claimed or forgotten),
 *   also by this process. Only a store with other writers (etcd) announces it: a replica
 *   checks that what it has compiled still agrees with what another replica stored.
 */
export type StoreChange =
  | { kind: 'agent'; agentId: string; agent: StoredAgent | null }
  | { kind: 'resources'; version: number }
  | { kind: 'resync' }
  | { kind: 'snapshots'; nodeIds: string[] };

/**
 * A write that lost a race with another replica (the state it was computed from is no longer
 * current). Nothing was written: wait for sync(), recompute from the new state, try again.
 */
export class StoreConflictError extends TrellisError {
  constructor(message: string) {
    super('TRELLIS_E_STORE', message);
    this.name = 'StoreConflictError';
  }
}

/**
 * The control plane's persistent state behind one interface: FileStore (one process, JSON
 * files) and EtcdStore (any number of replicas over one etcd). Reads come from memory after
 * open(); every write is durable, and visible to this process's reads, when its promise
 * resolves. Changes made by other replicas arrive through onChange(). Credentials (API
 * tokens, join tokens, host policies) are in CredentialStore (./credential-store.ts).
 */
export interface Store extends CredentialStore {
  readonly kind: string;
  /**
   * True when the store ends agents' leases itself (etcd leases: the report is deleted on every
   * replica at once, announced as an `agent` change with null); the control plane then runs no
   * lease timer of its own. False: the caller expires agents (Registry.expire) and deletes them.
   */
  readonly expiresAgents: boolean;

  agents(): StoredAgent[];
  /** Stores the report; with expiresAgents, (re)starts its lease of `report.leaseMs`. */
  putAgent(agent: StoredAgent): Promise<void>;
  /** True when the agent was there. */
  deleteAgent(agentId: string): Promise<boolean>;

  /** Highest version handed out so far (0 on a new store). */
  version(): number;
  /** Next version, strictly greater than every earlier one (across replicas), durable before it is returned. */
  nextVersion(): Promise<number>;

  snapshotVersions(): ReadonlyMap<string, StoredSnapshotVersion>;
  /**
   * Agrees with every other replica on the version of each node's compiled content, and stores
   * it: the only way versions are written (the compiler never picks one itself). For each
   * proposed `nodeId -> content hash`: when the stored hash is the same, its stored version
   * (nothing written); otherwise a new version, one for every node this call writes (nodes
   * retried after a race with another replica may get a later one), stored with the hash and `basis`. `basis` is revision() as it was when the content was
   * compiled: a node whose stored entry has another hash and a larger basis (compiled from
   * newer state) is left out of the result, as this caller compiled from stale state and will
   * compile again when its view catches up. Only the proposed nodes' entries are written (one
   * key each over etcd), so a pass that recompiled 3 proxies of 1,000 writes 3 entries.
   */
  claimSnapshotVersions(proposals: ReadonlyMap<string, string>, basis: number): Promise<Map<string, StoredSnapshotVersion>>;
  /** Forgets the stored versions of these nodes (the leader's garbage collection of nodes that are gone). */
  forgetSnapshotVersions(nodeIds: readonly string[]): Promise<void>;
  /**
   * How new the state this process's view reflects is: a number that grows with every change
   * announced through onChange (agents, resources, resync), comparable across replicas (etcd:
   * the revision of the last such change, or of the last reload). Writes that change no
   * compile input (snapshot versions, tokens, replicas) leave it alone: a replica answering
   * another's snapshot-version write does not look newer for it (see SnapshotCache).
   */
  revision(): number;

  /** SPIFFE ID each proxy node was issued a certificate for (the key /stream and /rotate check). */
  nodeIdentities(): ReadonlyMap<string, string>;
  putNodeIdentity(nodeId: string, identity: string): Promise<void>;

  /** Mesh resources (routes, policies) by `kind/namespace/name`, with metadata.resourceVersion/generation set. */
  resources(): ReadonlyMap<string, Resource>;
  /** Highest resource version handed out (0 on a new store); separate from the snapshot counter. */
  resourceVersion(): number;
  /**
   * Stores a batch atomically (all or nothing): `put` replaces by key, `remove` deletes keys,
   * and the resource version becomes `version`. Rejects with StoreConflictError (nothing
   * written) when the stored resource version is no longer `version - 1`: another replica
   * committed first.
   */
  commitResources(batch: { version: number; put: Resource[]; remove: string[] }): Promise<void>;

  /** Stores a one-time bootstrap token's grant under the token's SHA-256 (hex). */
  putBootstrapToken(tokenHash: string, grant: StoredGrant): Promise<void>;
  /** Removes and returns the grant: of two replicas taking the same token at once, one gets it. */
  takeBootstrapToken(tokenHash: string): Promise<StoredGrant | undefined>;
  /** Deletes grants whose expiresAt is at or before `now`; resolves to how many. */
  sweepBootstrapTokens(now: number): Promise<number>;

  /** Announces this replica (etcd: under a lease that ends with the process) until close(). */
  announceReplica(self: ReplicaInfo): Promise<void>;
  /** Replicas serving now, in start order (the file store: only this one). */
  replicas(): ReplicaInfo[];
  /** True while this process should do the work that must happen once (etcd: it won the election). */
  isLeader(): boolean;

  /** Subscribes to changes (including this process's own writes); returns the unsubscribe function. */
  onChange(listener: (change: StoreChange) => void): () => void;
  /** Resolves once reads reflect every write any replica completed before the call. */
  sync(): Promise<void>;

  close(): Promise<void>;
}

/** Store key of a resource. */
export function resourceKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}
