import type { AgentReport } from '../../api/registry.js';
import type { Resource } from '../../api/resources.js';
import type { CredentialStore } from './credential-store.js';

export type { ApiRole, CredentialStore, SpendResult, StoredApiToken, StoredHostPolicy, StoredJoinToken } from './credential-store.js';

/** An agent's last full report as the store keeps it. */
export interface StoredAgent {
  report: AgentReport;
  /** Epoch ms the report arrived (display only: leases restart from "now" on load). */
  receivedAt: number;
}

/** What the compiler last produced for one proxy: kept so a restart reuses unchanged versions. */
export interface StoredSnapshotVersion {
  version: number;
  hash: string;
}

/**
 * The control plane's persistent state behind one interface, so an etcd-backed store can
 * replace the embedded one. Reads come from memory after open(); every write is durable
 * when its promise resolves. Credentials (API tokens, join tokens, host policies) are in
 * CredentialStore (./credential-store.ts).
 */
export interface Store extends CredentialStore {
  readonly kind: string;
  agents(): StoredAgent[];
  putAgent(agent: StoredAgent): Promise<void>;
  /** True when the agent was there. */
  deleteAgent(agentId: string): Promise<boolean>;

  /** Highest version handed out so far (0 on a new store). */
  version(): number;
  /** Next version, strictly greater than every earlier one, durable before it is returned. */
  nextVersion(): Promise<number>;

  snapshotVersions(): ReadonlyMap<string, StoredSnapshotVersion>;
  putSnapshotVersions(entries: ReadonlyMap<string, StoredSnapshotVersion>): Promise<void>;

  /** SPIFFE ID each proxy node was issued a certificate for (the key /stream and /rotate check). */
  nodeIdentities(): ReadonlyMap<string, string>;
  putNodeIdentity(nodeId: string, identity: string): Promise<void>;

  /** Mesh resources (routes, policies) by `kind/namespace/name`, with metadata.resourceVersion/generation set. */
  resources(): ReadonlyMap<string, Resource>;
  /** Highest resource version handed out (0 on a new store); separate from the snapshot counter. */
  resourceVersion(): number;
  /**
   * Stores a batch atomically (all or nothing): `put` replaces by key, `remove` deletes keys,
   * and the resource version becomes `version`.
   */
  commitResources(batch: { version: number; put: Resource[]; remove: string[] }): Promise<void>;

  close(): Promise<void>;
}

/** Store key of a resource. */
export function resourceKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}
