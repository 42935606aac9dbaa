import type { Resource } from '../../api/resources.js';
import type { ProxySnapshot, TracingConfig } from '../../api/snapshot.js';
import type { Registry } from '../registry/registry.js';
import type { Store, StoredSnapshotVersion } from '../store/store.js';
import { compileNodeClusters, contentHash } from './compiler.js';
import { CompileContext, type DroppedRoute } from './context.js';

export interface CompiledSnapshot {
  nodeId: string;
  version: number;
  hash: string;
  snapshot: ProxySnapshot;
}

/**
 * The last snapshot compiled for every proxy node. recompile() rebuilds all of them and
 * gives a new version (one per pass, from the store's durable counter) only to the nodes
 * whose content changed; versions of unchanged content survive restarts through the store,
 * and replicas over one etcd store agree on them (Store.claimSnapshotVersions). Stored
 * versions of nodes that are gone are forgotten by the control plane's garbage collection.
 */
export class SnapshotCache {
  private readonly compiled = new Map<string, CompiledSnapshot>();
  private running: Promise<string[]> = Promise.resolve([]);

  constructor(
    private readonly registry: Registry,
    private readonly store: Store,
    private readonly trustBundlePem: () => string[],
    /** Mesh resources (routes, policies, faults) compiled into the snapshots. */
    private readonly resources: () => readonly Resource[] = () => [],
    private readonly onDroppedRoute?: (d: DroppedRoute) => void,
    /** The `tracing` block for every snapshot; undefined = tracing off (the key is left out, so hashes stay as before). */
    private readonly tracing: () => TracingConfig | undefined = () => undefined,
  ) {}

  get(nodeId: string): CompiledSnapshot | undefined {
    return this.compiled.get(nodeId);
  }

  all(): CompiledSnapshot[] {
    return [...this.compiled.values()];
  }

  /** Recompiles (serialised with any pass already running); resolves to the nodeIds that changed. */
  recompile(): Promise<string[]> {
    const next = this.running.catch(() => []).then(() => this.pass());
    this.running = next;
    return next;
  }

  /** Resolves when no pass is running. */
  async idle(): Promise<void> {
    await this.running.catch(() => []);
  }

  private async pass(): Promise<string[]> {
    // The store position this pass compiles from: a claim from older state than a stored one loses.
    const basis = this.store.revision();
    const known: ReadonlyMap<string, StoredSnapshotVersion> = this.store.snapshotVersions();
    const fresh = new Map<string, { hash: string; content: Omit<ProxySnapshot, 'version'> }>();
    const ctx = new CompileContext(this.registry, this.resources(), this.onDroppedRoute);
    const tracing = this.tracing();
    for (const node of this.registry.nodes()) {
      const content: Omit<ProxySnapshot, 'version'> = {
        trustDomain: this.registry.trustDomain,
        trustBundlePem: this.trustBundlePem(),
        clusters: compileNodeClusters(node, ctx),
      };
      if (tracing !== undefined) content.tracing = tracing;
      fresh.set(node.nodeId, { hash: contentHash(content), content });
    }
    // Versions are agreed through the store, so every replica gives the same content the same
    // version (a proxy that moves to another replica resumes without a duplicate snapshot).
    const proposals = new Map<string, string>();
    for (const [nodeId, f] of fresh) if (this.compiled.get(nodeId)?.hash !== f.hash) proposals.set(nodeId, f.hash);
    const claimed = proposals.size > 0 ? await this.store.claimSnapshotVersions(proposals, basis) : new Map<string, StoredSnapshotVersion>();
    const changed: string[] = [];
    for (const nodeId of proposals.keys()) {
      const v = claimed.get(nodeId);
      // Left out: another replica compiled newer state; this one recompiles when its view catches up.
      if (v === undefined) continue;
      const f = fresh.get(nodeId) as { hash: string; content: Omit<ProxySnapshot, 'version'> };
      const before = this.compiled.get(nodeId)?.version ?? known.get(nodeId)?.version;
      this.compiled.set(nodeId, { nodeId, version: v.version, hash: f.hash, snapshot: { version: v.version, ...f.content } });
      if (before !== v.version) changed.push(nodeId);
    }
    for (const nodeId of [...this.compiled.keys()]) if (!fresh.has(nodeId)) this.compiled.delete(nodeId);
    return changed;
  }
}
