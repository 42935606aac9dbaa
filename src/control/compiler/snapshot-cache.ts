import type { Resource } from '../../api/resources.js';
import type { ProxySnapshot, TracingConfig } from '../../api/snapshot.js';
import type { Registry } from '../registry/registry.js';
import type { Store, StoredSnapshotVersion } from '../store/store.js';
import { compileNodeClusters, contentHash } from './compiler.js';
import { CompileContext, type DroppedRoute } from './context.js';
import { compileEgress } from './egress.js';

export interface CompiledSnapshot {
  nodeId: string;
  version: number;
  hash: string;
  snapshot: ProxySnapshot;
}

/**
 * The last snapshot compiled for every proxy node. recompile() rebuilds all of them and
 * gives a new version (one per pass, from the store's durable counter) only to the nodes
 * whose content changed; versions of unchanged content survive restarts through the store.
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
    const known: ReadonlyMap<string, StoredSnapshotVersion> = this.store.snapshotVersions();
    const fresh = new Map<string, { hash: string; content: Omit<ProxySnapshot, 'version'> }>();
    const ctx = new CompileContext(this.registry, this.resources(), this.onDroppedRoute);
    const tracing = this.tracing();
    // The same for every proxy: each caller's proxy decides with its own identity.
    const egress = compileEgress(ctx.resources);
    for (const node of this.registry.nodes()) {
      const content: Omit<ProxySnapshot, 'version'> = {
        trustDomain: this.registry.trustDomain,
        trustBundlePem: this.trustBundlePem(),
        clusters: compileNodeClusters(node, ctx),
      };
      if (tracing !== undefined) content.tracing = tracing;
      // Left out when empty, so snapshots of meshes without ExternalServices hash as before.
      if (egress.length > 0) content.egress = egress;
      fresh.set(node.nodeId, { hash: contentHash(content), content });
    }
    const changed: string[] = [];
    let version: number | null = null;
    const versions = new Map<string, StoredSnapshotVersion>();
    for (const [nodeId, f] of fresh) {
      const prev = this.compiled.get(nodeId) ?? known.get(nodeId);
      if (prev !== undefined && prev.hash === f.hash) {
        versions.set(nodeId, { version: prev.version, hash: f.hash });
        if (!this.compiled.has(nodeId)) {
          this.compiled.set(nodeId, { nodeId, version: prev.version, hash: f.hash, snapshot: { version: prev.version, ...f.content } });
        }
        continue;
      }
      version ??= await this.store.nextVersion();
      versions.set(nodeId, { version, hash: f.hash });
      this.compiled.set(nodeId, { nodeId, version, hash: f.hash, snapshot: { version, ...f.content } });
      changed.push(nodeId);
    }
    for (const nodeId of [...this.compiled.keys()]) if (!fresh.has(nodeId)) this.compiled.delete(nodeId);
    if (changed.length > 0 || versions.size !== known.size) await this.store.putSnapshotVersions(versions);
    return changed;
  }
}
