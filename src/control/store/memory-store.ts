import type { Resource } from '../../api/resources.js';
import { resourceKey, type Store, type StoredAgent, type StoredSnapshotVersion } from './store.js';

/**
 * A Store in memory, for compiler tests that run many passes (no files). `withUpdates: false`
 * leaves out the optional updateSnapshotVersions, to exercise the compiler's fallback. Not used
 * by the product.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory';
  private readonly agentMap = new Map<string, StoredAgent>();
  private snapshots = new Map<string, StoredSnapshotVersion>();
  private readonly identities = new Map<string, string>();
  private readonly resourceMap = new Map<string, Resource>();
  private counter = 0;
  private resVersion = 0;
  /** Entries written by the last putSnapshotVersions/updateSnapshotVersions call. */
  lastWrite: { put: string[]; remove: string[] } | null = null;
  updateSnapshotVersions?: Store['updateSnapshotVersions'];

  constructor(withUpdates = true) {
    if (withUpdates) {
      this.updateSnapshotVersions = (c) => {
        for (const k of c.remove) this.snapshots.delete(k);
        for (const [k, v] of c.put) this.snapshots.set(k, v);
        this.lastWrite = { put: [...c.put.keys()], remove: [...c.remove] };
        return Promise.resolve();
      };
    }
  }

  agents(): StoredAgent[] {
    return [...this.agentMap.values()];
  }
  putAgent(agent: StoredAgent): Promise<void> {
    this.agentMap.set(agent.report.agentId, agent);
    return Promise.resolve();
  }
  deleteAgent(agentId: string): Promise<boolean> {
    return Promise.resolve(this.agentMap.delete(agentId));
  }
  version(): number {
    return this.counter;
  }
  nextVersion(): Promise<number> {
    return Promise.resolve(++this.counter);
  }
  snapshotVersions(): ReadonlyMap<string, StoredSnapshotVersion> {
    return this.snapshots;
  }
  putSnapshotVersions(entries: ReadonlyMap<string, StoredSnapshotVersion>): Promise<void> {
    this.snapshots = new Map(entries);
    this.lastWrite = { put: [...entries.keys()], remove: [] };
    return Promise.resolve();
  }
  nodeIdentities(): ReadonlyMap<string, string> {
    return this.identities;
  }
  putNodeIdentity(nodeId: string, identity: string): Promise<void> {
    this.identities.set(nodeId, identity);
    return Promise.resolve();
  }
  resources(): ReadonlyMap<string, Resource> {
    return this.resourceMap;
  }
  resourceVersion(): number {
    return this.resVersion;
  }
  commitResources(batch: { version: number; put: Resource[]; remove: string[] }): Promise<void> {
    for (const k of batch.remove) this.resourceMap.delete(k);
    for (const r of batch.put) this.resourceMap.set(resourceKey(r.kind, r.metadata.namespace, r.metadata.name), r);
    this.resVersion = Math.max(this.resVersion, batch.version);
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}
