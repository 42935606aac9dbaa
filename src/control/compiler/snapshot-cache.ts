import type { Resource } from '../../api/resources.js';
import type { ClusterConfig, DefaultAction, ExternalServiceConfig, InboundPolicyConfig, ProxySnapshot, TracingConfig } from '../../api/snapshot.js';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';
import { compileUpstreams, jsonHash, upstreamsKey } from './compiler.js';
import { CompileContext, type DroppedRoute } from './context.js';
import { DependencyIndex } from './dependency-index.js';
import { InboundCompiler, type BuiltInbound } from './inbound.js';
import { CompileInputs, workloadKey, type GlobalInputs } from './inputs.js';
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
  /** Workloads whose inbound policy was compiled (their replicas share it). */
  workloadsCompiled: number;
  /** Input keys that changed, or 'all' when a global (trust bundle, tracing) did. */
  inputsChanged: number | 'all';
  nodes: number;
}

/** Nodes with the same upstreams get the same clusters: compiled once per group. */
interface Group {
  upstreams: readonly string[];
  members: Set<string>;
  /** null: an input it read changed since it was compiled. `json`: the clusters' JSON, comma-joined. */
  content: { json: string; clusters: ClusterConfig[] } | null;
}

/** A node's whole content: its group's clusters and its workload's inbound policy. */
interface Content {
  json: string;
  hash: string;
  clusters: ClusterConfig[];
  inbound: InboundPolicyConfig[] | null;
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
 * groups, new nodes and nodes whose upstreams changed are compiled. The inbound policy
 * (authorization, rate limits) is per workload, not per upstream set: InboundCompiler keeps
 * one per workload with the inputs it read, and a node is recompiled when its group or its
 * workload's policy was. A change of the trust domain, trust bundle, tracing or the mesh's
 * default authorization action recompiles everything. Egress (every ExternalService with the
 * policies that target it, compiler/egress.ts) is the same for every proxy: a change to it
 * recompiles every node, without rebuilding clusters or inbound policies. Besides those, a pass looks again at
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
  private inbound: InboundCompiler | undefined;
  /** nodeId -> workload key (inputs.ts workloadKey), and back. */
  private readonly nodeWorkload = new Map<string, string>();
  private readonly workloadNodes = new Map<string, Set<string>>();
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
    /** The mesh file's `spec.authorization.defaultAction` (for services no policy gives one). */
    private readonly meshDefaultAction: () => DefaultAction = () => 'allow',
    /** A workload's inbound policy was compiled with warnings (an ALLOW that changes nothing...). */
    private readonly onInboundWarnings?: (workloadKey: string, warnings: readonly string[]) => void,
  ) {}

  get(nodeId: string): CompiledSnapshot | undefined {
    return this.compiled.get(nodeId);
  }

  all(): CompiledSnapshot[] {
    return [...this.compiled.values()];
  }

  /** The inbound policy compiled for a node's workload (with its warnings), for `trellis why`. */
  inboundOf(nodeId: string): BuiltInbound | undefined {
    const key = this.nodeWorkload.get(nodeId);
    return key === undefined || this.inbound === undefined ? undefined : this.inbound.get(key);
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
    const global: GlobalInputs = { trustDomain: this.registry.trustDomain, trustBundlePem: this.trustBundlePem(), tracing: this.tracing(), meshDefaultAction: this.meshDefaultAction() };
    const prev = this.inputs;
    const next = CompileInputs.build(this.registry, this.resources(), global, prev);
    let inputsChanged: number | 'all';
    const affected = new Set<string>();
    if (prev === undefined || this.ctx === undefined || this.inbound === undefined || next.globalSig !== prev.globalSig) {
      this.ctx = new CompileContext(next, this.onDroppedRoute);
      this.inbound = new InboundCompiler(next, this.onInboundWarnings);
      this.groupIndex.clear();
      for (const g of this.groups.values()) g.content = null;
      for (const nodeId of this.nodeWorkload.keys()) affected.add(nodeId);
      inputsChanged = 'all';
    } else {
      const changed = next.changedSince(prev);
      this.ctx.update(next, changed);
      for (const key of this.groupIndex.dependents(changed)) {
        const g = this.groups.get(key);
        if (g !== undefined) g.content = null;
        this.groupIndex.remove(key);
      }
      for (const key of this.inbound.update(next, changed)) for (const nodeId of this.workloadNodes.get(key) ?? []) affected.add(nodeId);
      inputsChanged = changed.size;
      // ExternalServices (with the policies that target them) are the same in every snapshot.
      if (next.egressJson !== prev.egressJson) for (const nodeId of this.nodeWorkload.keys()) affected.add(nodeId);
    }
    this.inputs = next;
    const inbound = this.inbound;
    const egress = next.egress;

    // Nodes that appeared, went, changed upstreams or workload (only when the registry changed at all).
    if (this.nodesSeen !== this.registry.generation || this.compiled.size === 0) {
      this.nodesSeen = this.registry.generation;
      // As a full pass did: a nodeId reported twice takes the last report's upstreams.
      const present = new Map(this.registry.nodes().map((n) => [n.nodeId, n]));
      for (const node of present.values()) {
        const key = upstreamsKey(node.upstreams);
        const wkey = workloadKey(node.agentId, node.namespace, node.workload);
        const was = this.nodeGroup.get(node.nodeId);
        const wasWorkload = this.nodeWorkload.get(node.nodeId);
        if (was === key && wasWorkload === wkey) continue;
        if (was !== key) {
          if (was !== undefined) this.leave(node.nodeId, was);
          let g = this.groups.get(key);
          if (g === undefined) this.groups.set(key, (g = { upstreams: [...node.upstreams], members: new Set(), content: null }));
          g.members.add(node.nodeId);
          this.nodeGroup.set(node.nodeId, key);
        }
        if (wasWorkload !== wkey) {
          if (wasWorkload !== undefined) this.leaveWorkload(node.nodeId, wasWorkload);
          let nodes = this.workloadNodes.get(wkey);
          if (nodes === undefined) this.workloadNodes.set(wkey, (nodes = new Set()));
          nodes.add(node.nodeId);
          this.nodeWorkload.set(node.nodeId, wkey);
        }
        affected.add(node.nodeId);
      }
      for (const [nodeId, key] of this.nodeGroup) {
        if (present.has(nodeId)) continue;
        this.leave(nodeId, key);
        this.nodeGroup.delete(nodeId);
        const wkey = this.nodeWorkload.get(nodeId);
        if (wkey !== undefined) this.leaveWorkload(nodeId, wkey);
        this.compiled.delete(nodeId);
        affected.delete(nodeId);
      }
    }

    // Compile the groups whose inputs changed (each once), then compare each affected node's hash.
    let groupsCompiled = 0;
    for (const [key, g] of this.groups) {
      if (g.content !== null) continue;
      const u = compileUpstreams(g.upstreams, this.ctx);
      g.content = { json: u.json.join(','), clusters: u.clusters };
      this.groupIndex.set(key, u.inputs);
      for (const m of g.members) affected.add(m);
      groupsCompiled++;
    }
    let workloadsCompiled = 0;
    for (const wkey of this.workloadNodes.keys()) {
      if (!inbound.stale(wkey)) continue;
      inbound.get(wkey);
      workloadsCompiled++;
    }

    // Byte for byte JSON.stringify(content): the hash is contentHash's, so stored versions stay valid.
    const prefix = `{"trustDomain":${JSON.stringify(global.trustDomain)},"trustBundlePem":${JSON.stringify(global.trustBundlePem)},"clusters":[`;
    // egress is left out when there are no ExternalServices, so such snapshots hash as before.
    const middle = `]${global.tracing !== undefined ? `,"tracing":${JSON.stringify(global.tracing)}` : ''}${next.egressJson !== null ? `,"egress":${next.egressJson}` : ''}`;
    /** Content per (group, workload policy) this pass: nodes without a policy share their group's. */
    const contents = new Map<string, Content>();
    const contentOf = (nodeId: string): [string, Content] => {
      const key = this.nodeGroup.get(nodeId) as string;
      const wkey = this.nodeWorkload.get(nodeId) as string;
      const ib = inbound.get(wkey);
      const ckey = ib.json === null ? key : `${key}\0${wkey}`;
      let c = contents.get(ckey);
      if (c === undefined) {
        const g = (this.groups.get(key) as Group).content as NonNullable<Group['content']>;
        const json = `${prefix}${g.json}${middle}${ib.json !== null ? `,"inbound":${ib.json}` : ''}}`;
        contents.set(ckey, (c = { json, hash: jsonHash(json), clusters: g.clusters, inbound: ib.config }));
      }
      return [ckey, c];
    };

    // Nodes left out of the last claim or disagreeing with the store: looked at again.
    const recheck = this.recheck;
    this.recheck = new Set();
    for (const nodeId of recheck) if (this.nodeGroup.has(nodeId)) affected.add(nodeId);

    const looked: NodeContent[] = [];
    for (const nodeId of affected) {
      const [, content] = contentOf(nodeId);
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
      const [key, content] = contentOf(nodeId);
      this.compiled.set(nodeId, this.entry(nodeId, version, content, global, egress, shared, key));
      if (was === undefined || was.version !== version) updated.push(nodeId);
    }
    for (const nodeId of agreed.leftOut) this.recheck.add(nodeId);
    this.lastBasis = basis;
    this.lastPass = { nodesCompiled: affected.size, groupsCompiled, workloadsCompiled, inputsChanged, nodes: this.compiled.size };
    // Pushed once the versions are in the store: a proxy never runs a version the store could
    // give to other content after a crash. Nodes new here are pushed too even when the store
    // kept their version (a restart, a node back): a proxy that said hello before its node was
    // compiled is waiting for it, and one that has that version is not sent it again.
    this.onCompiled?.(updated);
    return agreed.changed;
  }

  private entry(
    nodeId: string,
    version: number,
    content: Content,
    global: GlobalInputs,
    egress: ExternalServiceConfig[],
    shared: Map<string, ProxySnapshot>,
    key: string,
  ): CompiledSnapshot {
    const k = `${version}\n${key}`;
    let snapshot = shared.get(k);
    if (snapshot === undefined) {
      snapshot = { version, trustDomain: global.trustDomain, trustBundlePem: global.trustBundlePem, clusters: content.clusters };
      if (global.tracing !== undefined) snapshot.tracing = global.tracing;
      // In the order of the content's JSON: tracing, egress, inbound.
      if (egress.length > 0) snapshot.egress = egress;
      // Last: the content's JSON (and hash) has it last.
      if (content.inbound !== null) snapshot.inbound = content.inbound;
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

  private leaveWorkload(nodeId: string, wkey: string): void {
    const nodes = this.workloadNodes.get(wkey);
    this.nodeWorkload.delete(nodeId);
    if (nodes === undefined) return;
    nodes.delete(nodeId);
    if (nodes.size > 0) return;
    this.workloadNodes.delete(wkey);
    this.inbound?.forget(wkey);
  }
}
