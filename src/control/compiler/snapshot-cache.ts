import type { Resource } from '../../api/resources.js';
import type { ClusterConfig, ProxySnapshot, TracingConfig } from '../../api/snapshot.js';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';
import { compileUpstreams, jsonHash, upstreamsKey } from './compiler.js';
import { CompileContext, type DroppedRoute } from './context.js';
import { DependencyIndex } from './dependency-index.js';
import { CompileInputs, type GlobalInputs } from './inputs.js';
import { agreeVersions, disagrees, type NodeContent } from './version-agreement.js';

export interface CompiledSnapshot {
  nodeId: string;
  version: number;
  hash: string;
  snapshot: ProxySnapshot;
  /**
   * JSON.stringify of the snapshot without its version (what `hash` is the sha256 of), shared
   * by every node with this content: the push server builds each message from it once per
   * content instead of serialising the snapshot once per proxy.
   */
  contentJson?: string;
}

/** What a pass did, for metrics and the push-scale benchmark. */
export interface PassStats {
  /** Nodes whose content was compiled (hashed and compared) this pass. */
  nodesCompiled: number;
  /** Distinct upstream sets compiled (nodes with equal upstreams share one compile). */
  groupsCompiled: number;
  /** Input keys that changed, or 'all' when a global (trust bundle, tracing) did. */
  inputsChanged: number | 'all';
  nodes: number;
}

/** Nodes with the same upstreams get the same clusters: compiled once per group. */
interface Group {
  upstreams: readonly string[];
  members: Set<string>;
  /** null: an input it read changed since it was compiled. */
  content: { json: string; hash: string; clusters: ClusterConfig[] } | null;
}

/**
 * The last snapshot compiled for every proxy node, kept up to date incrementally: a pass
 * compiles only the nodes whose snapshot a change can affect, and asks the store for the
 * versions of those whose content changed (version-agreement.ts): the store, not the pass,
 * hands out versions, so every replica gives the same content the same version and a restart
 * keeps them. README.md has the whole design.
 *
 * How a pass finds the affected nodes: CompileInputs diffs the new state of the registry and
 * resources against the last one as input keys (a service, a cluster's endpoints, the routes
 * or policy of a service, a fault). CompileContext keeps every cluster it built with the input
 * keys it read and drops those that read a changed key. Nodes are grouped by upstream set, and
 * a DependencyIndex maps each input key to the groups whose clusters read it; only those
 * groups, new nodes and nodes whose upstreams changed are compiled. A change of the trust
 * domain, trust bundle or tracing recompiles everything. Besides those, a pass looks again at
 * the nodes the store left out of its last claim and those another replica's write made
 * disagree with this one (reconcile()).
 *
 * Stored versions of nodes that are gone are not removed here: the leader's garbage collection
 * forgets them once they stay gone (ControlPlane), so a node briefly away keeps its version.
 */
export class SnapshotCache {
  private readonly compiled = new Map<string, CompiledSnapshot>();
  private running: Promise<string[]> = Promise.resolve([]);
  /** A pass that was asked for and has not started: later requests join it. */
  private queued: Promise<string[]> | null = null;
  private inputs: CompileInputs | undefined;
  private ctx: CompileContext | undefined;
  private readonly groups = new Map<string, Group>();
  private readonly groupIndex = new DependencyIndex();
  private readonly nodeGroup = new Map<string, string>();
  /** Registry generation whose nodes were last sorted into groups (-1: never). */
  private nodesSeen = -1;
  /** Nodes to look at in the next pass even if no input of theirs changed (left out of a claim, or disagreeing with the store). */
  private recheck = new Set<string>();
  /** Nodes whose stored entry changed, waiting for reconcile() to compare them. */
  private readonly suspects = new Set<string>();
  private reconciling: Promise<void> | null = null;
  /** Basis (Store.revision()) of the last pass. */
  private lastBasis = 0;
  /**
   * Called at the end of every pass with the nodes whose snapshot here is new or got another
   * version (the control plane pushes them; a stream skips a version its proxy already runs).
   * recompile() resolves to the narrower list of nodes whose version moved.
   */
  onCompiled: ((changed: string[]) => void) | null = null;
  lastPass: PassStats | null = null;

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

  /**
   * Recompiles (serialised with any pass already running); resolves to the nodeIds that changed.
   * Requests made while a pass waits to start share it: it reads the state when it starts, so
   * it covers them all (a burst of changes costs one pass and one push per proxy).
   */
  recompile(): Promise<string[]> {
    if (this.queued !== null) return this.queued.then(() => []);
    const next = this.running
      .catch(() => [])
      .then(() => {
        this.queued = null;
        return this.pass();
      });
    this.queued = next;
    this.running = next;
    return next;
  }

  /**
   * The stored versions of these nodes changed (Store change `snapshots`: another replica
   * claimed, or this one did). Once no pass is running, the nodes whose stored entry now
   * disagrees with what this replica compiled (version-agreement.ts, disagrees()), and those
   * the store left out of this replica's last claim, are looked at again in a pass; when none
   * is (the usual echo of this replica's own claim), nothing runs.
   */
  reconcile(nodeIds: Iterable<string>): Promise<void> {
    for (const id of nodeIds) this.suspects.add(id);
    this.reconciling ??= this.idle().then(async () => {
      this.reconciling = null;
      const known = this.store.snapshotVersions();
      let any = false;
      for (const id of this.suspects) {
        // A node left out of this replica's last claim waits for a pass, and nothing else need
        // bring one: when the entry that beat it came from a replica whose basis is ahead of
        // this one's for the same state (a reload takes etcd's current revision as its basis),
        // no input change follows, and disagrees() trusts that one will. Its entry changed, so
        // look now: the content may agree at last (adopted, nothing written), or it is left
        // out again (nothing written either, so this cannot ping-pong).
        const leftOut = this.recheck.has(id);
        if (!leftOut && !disagrees(this.compiled.get(id), known.get(id), this.lastBasis)) continue;
        this.recheck.add(id);
        any = true;
      }
      this.suspects.clear();
      if (any) await this.recompile();
    });
    return this.reconciling;
  }

  /** Resolves when no pass runs and no reconcile() waits to look (tests and benchmarks). */
  async settled(): Promise<void> {
    for (;;) {
      await this.idle();
      const r = this.reconciling;
      if (r === null) return;
      await r.catch(() => undefined);
    }
  }

  /** Resolves when no pass is running. */
  async idle(): Promise<void> {
    for (;;) {
      const r = this.running;
      await r.catch(() => []);
      if (r === this.running) return;
    }
  }

  private async pass(): Promise<string[]> {
    // The store position this pass compiles from (read before the state): a claim from older
    // state than a stored one is left out (Store.claimSnapshotVersions).
    const basis = this.store.revision();
    const global: GlobalInputs = { trustDomain: this.registry.trustDomain, trustBundlePem: this.trustBundlePem(), tracing: this.tracing() };
    const prev = this.inputs;
    const next = CompileInputs.build(this.registry, this.resources(), global, prev);
    let inputsChanged: number | 'all';
    if (prev === undefined || this.ctx === undefined || next.globalSig !== prev.globalSig) {
      this.ctx = new CompileContext(next, this.onDroppedRoute);
      this.groupIndex.clear();
      for (const g of this.groups.values()) g.content = null;
      inputsChanged = 'all';
    } else {
      const changed = next.changedSince(prev);
      this.ctx.update(next, changed);
      for (const key of this.groupIndex.dependents(changed)) {
        const g = this.groups.get(key);
        if (g !== undefined) g.content = null;
        this.groupIndex.remove(key);
      }
      inputsChanged = changed.size;
    }
    this.inputs = next;

    // Nodes that appeared, went or changed upstreams (only when the registry changed at all).
    const affected = new Set<string>();
    if (this.nodesSeen !== this.registry.generation || this.compiled.size === 0) {
      this.nodesSeen = this.registry.generation;
      // As a full pass did: a nodeId reported twice takes the last report's upstreams.
      const present = new Map(this.registry.nodes().map((n) => [n.nodeId, n]));
      for (const node of present.values()) {
        const key = upstreamsKey(node.upstreams);
        const was = this.nodeGroup.get(node.nodeId);
        if (was === key) continue;
        if (was !== undefined) this.leave(node.nodeId, was);
        let g = this.groups.get(key);
        if (g === undefined) this.groups.set(key, (g = { upstreams: [...node.upstreams], members: new Set(), content: null }));
        g.members.add(node.nodeId);
        this.nodeGroup.set(node.nodeId, key);
        affected.add(node.nodeId);
      }
      for (const [nodeId, key] of this.nodeGroup) {
        if (present.has(nodeId)) continue;
        this.leave(nodeId, key);
        this.nodeGroup.delete(nodeId);
        this.compiled.delete(nodeId);
      }
    }

    // Compile the groups whose inputs changed (each once), then compare each affected node's hash.
    let groupsCompiled = 0;
    const prefix = `{"trustDomain":${JSON.stringify(global.trustDomain)},"trustBundlePem":${JSON.stringify(global.trustBundlePem)},"clusters":[`;
    const suffix = `]${global.tracing !== undefined ? `,"tracing":${JSON.stringify(global.tracing)}` : ''}}`;
    for (const [key, g] of this.groups) {
      if (g.content !== null) continue;
      const u = compileUpstreams(g.upstreams, this.ctx);
      // Byte for byte JSON.stringify(content): the hash is contentHash's, so stored versions stay valid.
      const json = prefix + u.json.join(',') + suffix;
      g.content = { json, hash: jsonHash(json), clusters: u.clusters };
      this.groupIndex.set(key, u.inputs);
      for (const m of g.members) affected.add(m);
      groupsCompiled++;
    }

    // Nodes left out of the last claim or disagreeing with the store: looked at again.
    const recheck = this.recheck;
    this.recheck = new Set();
    for (const nodeId of recheck) if (this.nodeGroup.has(nodeId)) affected.add(nodeId);

    const looked: NodeContent[] = [];
    for (const nodeId of affected) {
      const content = this.contentOf(nodeId);
      const cur = this.compiled.get(nodeId);
      looked.push({ nodeId, hash: content.hash, current: cur === undefined ? undefined : { version: cur.version, hash: cur.hash } });
    }
    let agreed;
    try {
      agreed = await agreeVersions(this.store, basis, looked);
    } catch (err) {
      // Nothing was set: look at these nodes again next time (their groups' content is kept).
      for (const n of looked) this.recheck.add(n.nodeId);
      throw err;
    }
    /** One snapshot object per group and version: shared by its nodes, so it is serialised once. */
    const shared = new Map<string, ProxySnapshot>();
    /** Nodes whose snapshot here is new or moved: pushed (a stream skips a version its proxy already has). */
    const updated: string[] = [];
    for (const [nodeId, version] of agreed.versions) {
      // Passes are serialised: groups and their content are as they were before the claim.
      const was = this.compiled.get(nodeId);
      this.compiled.set(nodeId, this.entry(nodeId, version, this.contentOf(nodeId), global, shared, this.nodeGroup.get(nodeId) as string));
      if (was === undefined || was.version !== version) updated.push(nodeId);
    }
    for (const nodeId of agreed.leftOut) this.recheck.add(nodeId);
    this.lastBasis = basis;
    this.lastPass = { nodesCompiled: affected.size, groupsCompiled, inputsChanged, nodes: this.compiled.size };
    // Pushed once the versions are in the store: a proxy never runs a version the store could
    // give to other content after a crash. Nodes new here are pushed too even when the store
    // kept their version (a restart, a node back): a proxy that said hello before its node was
    // compiled is waiting for it, and one that has that version is not sent it again.
    this.onCompiled?.(updated);
    return agreed.changed;
  }

  private contentOf(nodeId: string): NonNullable<Group['content']> {
    const key = this.nodeGroup.get(nodeId) as string;
    return (this.groups.get(key) as Group).content as NonNullable<Group['content']>;
  }

  private entry(nodeId: string, version: number, content: NonNullable<Group['content']>, global: GlobalInputs, shared: Map<string, ProxySnapshot>, key: string): CompiledSnapshot {
    const k = `${version}\n${key}`;
    let snapshot = shared.get(k);
    if (snapshot === undefined) {
      snapshot = { version, trustDomain: global.trustDomain, trustBundlePem: global.trustBundlePem, clusters: content.clusters };
      if (global.tracing !== undefined) snapshot.tracing = global.tracing;
      shared.set(k, snapshot);
    }
    return { nodeId, version, hash: content.hash, snapshot, contentJson: content.json };
  }

  private leave(nodeId: string, key: string): void {
    const g = this.groups.get(key);
    if (g === undefined) return;
    g.members.delete(nodeId);
    if (g.members.size > 0) return;
    this.groups.delete(key);
    this.groupIndex.remove(key);
  }
}
