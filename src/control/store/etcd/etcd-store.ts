import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Etcd3, type IOptions, type IRequestOp, type ICompare } from 'etcd3';
import type { Resource } from '../../../api/resources.js';
import { TrellisError } from '../../../errors.js';
import { StoreEvents } from '../store-events.js';
import {
  resourceKey,
  StoreConflictError,
  type ReplicaInfo,
  type Store,
  type StoreChange,
  type StoredAgent,
  type StoredGrant,
  type StoredSnapshotVersion,
} from '../store.js';
import type { SpendResult, StoredApiToken, StoredHostPolicy, StoredJoinToken } from '../credential-store.js';
import { EtcdCache, type CachedKv, type KeyChange } from './etcd-cache.js';
import { EtcdCredentials } from './etcd-credentials.js';
import { KeyLayout } from './keys.js';
import { Leadership } from './leadership.js';
import { LeaseRenewer } from './lease-renewer.js';
import { ReplicaPresence } from './replica-presence.js';
import { grantLease, revokeLease } from './leases.js';
import { bucketOf, bucketValue, changedNodes, MAX_TXN_VALUE_BYTES, readBucket } from './snapshot-buckets.js';
import type { EtcdTarget } from './store-url.js';

export interface EtcdStoreOptions extends EtcdTarget {
  /** Deadline of each unary etcd call. Default 5 s. */
  callTimeoutMs?: number;
  /** Lease of the leader election key: a dead leader is replaced within it. Default 5 s. */
  electionTtlSeconds?: number;
  /** Lease of this replica's presence key. Default 10 s. */
  replicaTtlSeconds?: number;
  /** Where the store says what happened to its connection (warnings). */
  log?: (msg: string, err?: Error) => void;
}

/** etcd's default limit of operations in one transaction is 128; batches stay under it. */
const MAX_TXN_OPS = 120;

type WatchBackoff = NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;

/** Watch reconnects: 100 ms doubling to 2 s (the etcd3 default waits up to 30 s, too long for a control plane). */
function watchBackoff(ms = 100): WatchBackoff {
  return { duration: ms, next: () => watchBackoff(Math.min(2000, ms * 2)) } as WatchBackoff;
}

/** Options of every etcd3 client the store makes: the shared one, and one per member for lease renewals. */
function clientOptions(hosts: string[], timeout: number): IOptions {
  return {
    hosts,
    dialTimeout: timeout,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
    // Large meshes: whole-prefix pages and watch batches can pass gRPC's 4 MiB default.
    grpcOptions: {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      // A member cut off the network (no FIN, no RST) leaves its streams silent, and the
      // watch on it would wait forever while the others move on: a replica would miss every
      // change, lease expiries included (found by the host-cut drill). HTTP/2 pings find the
      // dead connection, and the client moves the watch to another member from its last
      // revision. 10 s is above etcd's --grpc-keepalive-min-time (5 s), which refuses faster pings.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
    },
    faultHandling: { watchBackoff: watchBackoff() },
  };
}

/**
 * The Store over etcd v3, for any number of control-plane replicas. Layout: keys.ts and
 * src/control/store/README.md. Reads come from an EtcdCache (the prefix in memory, fed by a
 * watch); every write goes to etcd and resolves once the watch has brought it back, so a
 * write is visible to this process's reads when its promise resolves, and every replica
 * hears about it through onChange() from the same watch.
 *
 * - Agents live on etcd leases of their report's leaseMs: a report that changes nothing only
 *   renews the lease; an agent that stops reporting is deleted by etcd on every replica at once.
 * - Versions are etcd revisions: nextVersion() is the revision of a write, and a node's
 *   snapshot version is the revision of the transaction that claimed it (the nodes' entries
 *   are spread over 64 bucket keys: snapshot-buckets.ts), so versions are global and increasing
 *   whichever replica hands them out.
 * - revision() is the revision of the last agent or resource change (or reload) this view
 *   announced: the basis of a compile, which snapshot-version and other writes do not move.
 * - Resource batches are one transaction guarded by the resource version's mod revision.
 */
export class EtcdStore implements Store {
  readonly kind = 'etcd';
  readonly expiresAgents = true;
  readonly keys: KeyLayout;
  readonly cache: EtcdCache;
  private readonly events = new StoreEvents();
  private readonly log: (msg: string, err?: Error) => void;
  private readonly agentView = new Map<string, StoredAgent>();
  private readonly resourceView = new Map<string, Resource>();
  /** Each node's stored version, hash and basis (the revision its content was compiled at). */
  private readonly snapshotView = new Map<string, StoredSnapshotVersion>();
  /** The same entries by bucket (snapshot-buckets.ts), as the bucket keys hold them. */
  private readonly bucketView = new Map<string, Map<string, StoredSnapshotVersion>>();
  private readonly identityView = new Map<string, string>();
  private readonly tokenView = new Map<string, StoredGrant>();
  private readonly replicaView = new Map<string, ReplicaInfo>();
  private readonly credentials: EtcdCredentials;
  private resVersion = 0;
  private counterRevision = 0;
  /** revision(): the last announced change of a compile input (or reload). */
  private inputRevision = 0;
  private leadership: Leadership | null = null;
  private presence: ReplicaPresence | null = null;
  private readonly probeId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private closed = false;
  /** Renews agents' leases from a member that answers (lease-renewer.ts). */
  private readonly renewer: LeaseRenewer;

  private constructor(
    readonly client: Etcd3,
    private readonly o: EtcdStoreOptions,
  ) {
    this.keys = new KeyLayout(o.prefix);
    this.log = o.log ?? (() => {});
    this.renewer = new LeaseRenewer(o.hosts, { clientFor: (url) => new Etcd3(clientOptions([url], o.callTimeoutMs ?? 5_000)), log: this.log });
    this.cache = new EtcdCache(client, o.prefix, {
      onChanges: (changes) => this.applyChanges(changes),
      onResync: () => {
        this.rebuildViews();
        this.inputRevision = this.cache.revision();
        this.events.emit({ kind: 'resync' });
      },
      onError: (err, what) => this.log(what, err),
    });
    this.credentials = new EtcdCredentials({ client, keys: this.keys, cache: this.cache, call: (what, fn) => this.call(what, fn), now: Date.now });
  }

  /** Connects, loads the prefix and starts watching. Rejects with TRELLIS_E_STORE when etcd does not answer. */
  static async open(o: EtcdStoreOptions): Promise<EtcdStore> {
    const client = new Etcd3(clientOptions(o.hosts, o.callTimeoutMs ?? 5_000));
    const s = new EtcdStore(client, o);
    try {
      await s.cache.start();
    } catch (err) {
      client.close();
      s.renewer.close();
      throw new TrellisError('TRELLIS_E_STORE', `etcd at ${o.hosts.join(', ')}: ${(err as Error).message}`, { cause: err });
    }
    s.rebuildViews();
    s.inputRevision = s.cache.revision();
    return s;
  }

  // ---- agents ----

  agents(): StoredAgent[] {
    return [...this.agentView.values()];
  }

  async putAgent(agent: StoredAgent): Promise<void> {
    const key = this.keys.agent(agent.report.agentId);
    const cached = this.cache.get(key);
    const prev = this.agentView.get(agent.report.agentId);
    // The usual report repeats the last one: renewing its lease is all there is to do.
    if (cached !== undefined && cached.lease !== '0' && prev !== undefined && JSON.stringify(prev.report) === JSON.stringify(agent.report)) {
      if (await this.call('renewing an agent lease', () => this.renewer.renew(cached.lease))) return;
    }
    // A changed report with the same lease time stays on its lease (renewed alongside): one
    // write on the way to the compile instead of a grant, a put and a revoke.
    if (cached !== undefined && cached.lease !== '0' && prev !== undefined && prev.report.leaseMs === agent.report.leaseMs) {
      const renewed = this.renewer.renew(cached.lease);
      renewed.catch(() => undefined);
      try {
        const res = await this.client.put(key).value(JSON.stringify(agent)).lease(cached.lease).exec();
        if (await renewed.catch(() => true)) {
          await this.cache.reached(Number(res.header.revision));
          return;
        }
      } catch (err) {
        // The lease ran out meanwhile (etcd: "requested lease not found"): take a new one below.
        if (!/lease not found/i.test((err as Error).message)) throw new TrellisError('TRELLIS_E_STORE', `etcd: storing an agent report failed: ${(err as Error).message}`, { cause: err });
      }
    }
    const ttl = Math.max(1, Math.ceil(agent.report.leaseMs / 1000));
    const lease = await this.call('granting an agent lease', () => grantLease(this.client, ttl));
    const res = await this.call('storing an agent report', () => this.client.put(key).value(JSON.stringify(agent)).lease(lease).exec());
    await this.cache.reached(Number(res.header.revision));
    // The key moved to the new lease; the old one would expire with nothing on it. Best effort.
    if (cached !== undefined && cached.lease !== '0' && cached.lease !== lease) void revokeLease(this.client, cached.lease).catch(() => undefined);
  }

  async deleteAgent(agentId: string): Promise<boolean> {
    const res = await this.call('deleting an agent', () => this.client.kv.deleteRange({ key: Buffer.from(this.keys.agent(agentId)), prev_kv: true }));
    if (Number(res.deleted) === 0) return false;
    await this.cache.reached(Number(res.header.revision));
    const lease = res.prev_kvs[0]?.lease;
    if (lease !== undefined && String(lease) !== '0') void revokeLease(this.client, String(lease)).catch(() => undefined);
    return true;
  }

  // ---- versions ----

  version(): number {
    let max = this.counterRevision;
    for (const v of this.snapshotView.values()) if (v.version > max) max = v.version;
    return max;
  }

  async nextVersion(): Promise<number> {
    const res = await this.call('taking a version', () => this.client.put(this.keys.versionCounter).value('').exec());
    const r = Number(res.header.revision);
    await this.cache.reached(r);
    return r;
  }

  revision(): number {
    return this.inputRevision;
  }

  snapshotVersions(): ReadonlyMap<string, StoredSnapshotVersion> {
    return this.snapshotView;
  }

  async claimSnapshotVersions(proposals: ReadonlyMap<string, string>, basis: number): Promise<Map<string, StoredSnapshotVersion>> {
    const out = new Map<string, StoredSnapshotVersion>();
    let pending = [...proposals.keys()];
    for (let attempt = 0; pending.length > 0; attempt++) {
      const write = new Map<string, string>();
      for (const nodeId of pending) {
        const hash = proposals.get(nodeId) as string;
        const known = this.snapshotView.get(nodeId);
        if (known !== undefined && known.hash === hash) out.set(nodeId, known);
        // Compiled from older state than the stored entry: leave it out (see Store).
        else if (known !== undefined && (known.basis ?? 0) > basis) continue;
        else write.set(nodeId, hash);
      }
      if (write.size === 0) break;
      const retry = await this.rewriteBuckets(write, basis, new Set(), out);
      if (retry.length > 0 && attempt >= 5) throw new StoreConflictError(`snapshot versions of ${retry.length} nodes kept changing under this replica`);
      // Another replica wrote some of these buckets first: look again with its writes in view.
      if (retry.length > 0) await this.sync();
      pending = retry;
    }
    return out;
  }

  /**
   * Rewrites the buckets of the nodes in `claim` and `remove` (snapshot-buckets.ts): one
   * transaction, guarded by each bucket's mod revision, unless the values pass etcd's request
   * size (then several at once, each its own revision). Claimed nodes get the revision of the
   * transaction that stored them (set in `out`). Resolves to the nodes whose bucket another
   * replica wrote first (nothing of theirs was written).
   */
  private async rewriteBuckets(claim: ReadonlyMap<string, string>, basis: number, remove: ReadonlySet<string>, out: Map<string, StoredSnapshotVersion>): Promise<string[]> {
    const byBucket = new Map<string, { claim: Map<string, string>; nodes: string[] }>();
    const add = (nodeId: string): { claim: Map<string, string>; nodes: string[] } => {
      const b = bucketOf(nodeId);
      let e = byBucket.get(b);
      if (e === undefined) byBucket.set(b, (e = { claim: new Map(), nodes: [] }));
      e.nodes.push(nodeId);
      return e;
    };
    for (const [nodeId, hash] of claim) add(nodeId).claim.set(nodeId, hash);
    for (const nodeId of remove) add(nodeId);
    const txns: { compare: ICompare[]; success: IRequestOp[]; buckets: string[]; bytes: number }[] = [];
    for (const [bucket, e] of byBucket) {
      const key = this.keys.snapshotBucket(bucket);
      const value = bucketValue(this.bucketView.get(bucket), e.claim, basis, remove);
      let t = txns.at(-1);
      if (t === undefined || t.buckets.length >= MAX_TXN_OPS || t.bytes + value.length > MAX_TXN_VALUE_BYTES) txns.push((t = { compare: [], success: [], buckets: [], bytes: 0 }));
      t.compare.push({ key: Buffer.from(key), target: 'Mod', result: 'Equal', mod_revision: this.cache.get(key)?.modRevision ?? 0 });
      t.success.push(this.putOp(key, value));
      t.buckets.push(bucket);
      t.bytes += value.length;
    }
    const results = await Promise.all(txns.map((t) => this.call('claiming snapshot versions', () => this.client.kv.txn({ compare: t.compare, success: t.success }))));
    const retry: string[] = [];
    let reached = 0;
    results.forEach((res, i) => {
      const t = txns[i] as (typeof txns)[number];
      const nodes = t.buckets.flatMap((b) => (byBucket.get(b) as { nodes: string[] }).nodes);
      if (!res.succeeded) {
        retry.push(...nodes);
        return;
      }
      const version = Number(res.header.revision);
      reached = Math.max(reached, version);
      for (const nodeId of nodes) {
        const hash = claim.get(nodeId);
        if (hash !== undefined) out.set(nodeId, { version, hash, basis });
      }
    });
    if (reached > 0) await this.cache.reached(reached);
    return retry;
  }

  async forgetSnapshotVersions(nodeIds: readonly string[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const gone = new Set(nodeIds.filter((id) => this.snapshotView.has(id)));
      if (gone.size === 0) return;
      const retry = await this.rewriteBuckets(new Map(), 0, gone, new Map());
      if (retry.length === 0) return;
      if (attempt >= 5) throw new StoreConflictError(`snapshot versions of ${retry.length} nodes kept changing under this replica`);
      await this.sync();
    }
  }

  // ---- node identities ----

  nodeIdentities(): ReadonlyMap<string, string> {
    return this.identityView;
  }

  async putNodeIdentity(nodeId: string, identity: string): Promise<void> {
    if (this.identityView.get(nodeId) === identity) return;
    const res = await this.call('storing a node identity', () => this.client.put(this.keys.node(nodeId)).value(identity).exec());
    await this.cache.reached(Number(res.header.revision));
  }

  // ---- resources ----

  resources(): ReadonlyMap<string, Resource> {
    return this.resourceView;
  }

  resourceVersion(): number {
    return this.resVersion;
  }

  async commitResources(batch: { version: number; put: Resource[]; remove: string[] }): Promise<void> {
    if (batch.version !== this.resVersion + 1) throw new StoreConflictError(`resource version is ${this.resVersion}, the batch expected ${batch.version - 1}`);
    const ops: IRequestOp[] = [this.putOp(this.keys.resourceVersion, String(batch.version))];
    for (const k of batch.remove) ops.push(this.deleteOp(this.keys.resource(k)));
    for (const r of batch.put) ops.push(this.putOp(this.keys.resource(resourceKey(r.kind, r.metadata.namespace, r.metadata.name)), JSON.stringify(r)));
    if (ops.length > MAX_TXN_OPS) {
      throw new TrellisError('TRELLIS_E_CONFIG', `one apply may change at most ${MAX_TXN_OPS - 1} resources with the etcd store (one transaction); this one changes ${ops.length - 1}`);
    }
    const rv = this.keys.resourceVersion;
    const compare: ICompare[] = [{ key: Buffer.from(rv), target: 'Mod', result: 'Equal', mod_revision: this.cache.get(rv)?.modRevision ?? 0 }];
    const res = await this.call('committing resources', () => this.client.kv.txn({ compare, success: ops }));
    // A failed transaction wrote nothing (no revision of ours to wait for): the caller syncs and retries.
    if (!res.succeeded) throw new StoreConflictError(`another replica committed resources first (resource version ${batch.version - 1} is no longer current)`);
    await this.cache.reached(Number(res.header.revision));
  }

  // ---- bootstrap tokens ----

  async putBootstrapToken(tokenHash: string, grant: StoredGrant): Promise<void> {
    const res = await this.call('storing a bootstrap token', () => this.client.put(this.keys.token(tokenHash)).value(JSON.stringify(grant)).exec());
    await this.cache.reached(Number(res.header.revision));
  }

  async takeBootstrapToken(tokenHash: string): Promise<StoredGrant | undefined> {
    // One delete with prev_kv: etcd serialises it, so of two concurrent takers one sees the value.
    const res = await this.call('spending a bootstrap token', () => this.client.kv.deleteRange({ key: Buffer.from(this.keys.token(tokenHash)), prev_kv: true }));
    const prev = res.prev_kvs[0];
    if (prev === undefined) return undefined;
    await this.cache.reached(Number(res.header.revision));
    return parseJson<StoredGrant>(prev.value) ?? undefined;
  }

  async sweepBootstrapTokens(now: number): Promise<number> {
    const expired = [...this.tokenView].filter(([, g]) => g.expiresAt <= now).map(([h]) => h);
    await this.commitChunks(expired.map((h) => this.deleteOp(this.keys.token(h))), 'sweeping expired tokens');
    return expired.length;
  }

  // ---- credentials (etcd-credentials.ts) ----

  apiTokens(): ReadonlyMap<string, StoredApiToken> {
    return this.credentials.apiTokens();
  }
  putApiToken(token: StoredApiToken): Promise<void> {
    return this.credentials.putApiToken(token);
  }
  deleteApiToken(id: string): Promise<boolean> {
    return this.credentials.deleteApiToken(id);
  }
  joinTokens(): ReadonlyMap<string, StoredJoinToken> {
    return this.credentials.joinTokens();
  }
  putJoinToken(token: StoredJoinToken): Promise<void> {
    return this.credentials.putJoinToken(token);
  }
  deleteJoinToken(id: string): Promise<boolean> {
    return this.credentials.deleteJoinToken(id);
  }
  spendJoinToken(id: string, now: number): Promise<SpendResult> {
    return this.credentials.spendJoinToken(id, now);
  }
  hostPolicies(): ReadonlyMap<string, StoredHostPolicy> {
    return this.credentials.hostPolicies();
  }
  putHostPolicy(policy: StoredHostPolicy): Promise<void> {
    return this.credentials.putHostPolicy(policy);
  }
  deleteHostPolicy(host: string): Promise<boolean> {
    return this.credentials.deleteHostPolicy(host);
  }

  // ---- replicas and leadership ----

  async announceReplica(self: ReplicaInfo): Promise<void> {
    await this.presence?.stop();
    const presence = new ReplicaPresence({
      client: this.client,
      renewer: this.renewer,
      key: this.keys.replica(self.id),
      value: JSON.stringify(self),
      ttlSeconds: this.o.replicaTtlSeconds ?? 10,
      reached: (r) => this.cache.reached(r),
      log: this.log,
    });
    this.presence = presence;
    await this.call('announcing this replica', () => presence.start());
    if (this.leadership === null) {
      this.leadership = new Leadership(this.client.namespace(this.o.prefix).election('leader', this.o.electionTtlSeconds ?? 5), self.id, this.log);
      this.leadership.start();
    }
  }

  replicas(): ReplicaInfo[] {
    return [...this.replicaView.values()].sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id));
  }

  isLeader(): boolean {
    return this.leadership?.isLeader() ?? false;
  }

  // ---- changes ----

  onChange(listener: (change: StoreChange) => void): () => void {
    return this.events.subscribe(listener);
  }

  async sync(): Promise<void> {
    const res = await this.call('syncing', () => this.client.put(this.keys.syncProbe(this.probeId)).value('').exec());
    await this.cache.reached(Number(res.header.revision));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.leadership?.stop();
    // Leave at once rather than when the lease runs out: the others stop listing this replica.
    await this.presence?.stop();
    await this.client.delete().key(this.keys.syncProbe(this.probeId)).exec().catch(() => undefined);
    await this.cache.close();
    this.client.close();
    this.renewer.close();
  }

  // ---- internals ----

  private putOp(key: string, value: string): IRequestOp {
    return { request_put: { key: Buffer.from(key), value: Buffer.from(value) } };
  }

  private deleteOp(key: string): IRequestOp {
    return { request_delete_range: { key: Buffer.from(key) } };
  }

  /**
   * Unconditional writes in transactions of at most MAX_TXN_OPS (each chunk atomic on its own).
   * Each also touches this replica's sync probe: a chunk whose deletes all found nothing (another
   * replica was first) would not make a revision of its own for the watch to bring back.
   */
  private async commitChunks(ops: IRequestOp[], what: string): Promise<void> {
    for (let i = 0; i < ops.length; i += MAX_TXN_OPS - 1) {
      const success = [...ops.slice(i, i + MAX_TXN_OPS - 1), this.putOp(this.keys.syncProbe(this.probeId), '')];
      const res = await this.call(what, () => this.client.kv.txn({ compare: [], success }));
      await this.cache.reached(Number(res.header.revision));
    }
  }

  /** Runs an etcd call; a transport failure becomes TRELLIS_E_STORE (the API answers 503, agents fail over). */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new TrellisError('TRELLIS_E_STORE', `etcd store is closed (${what})`);
    try {
      return await fn();
    } catch (err) {
      if (err instanceof TrellisError) throw err;
      throw new TrellisError('TRELLIS_E_STORE', `etcd: ${what} failed: ${(err as Error).message}`, { cause: err });
    }
  }

  private rebuildViews(): void {
    for (const m of [this.agentView, this.resourceView, this.snapshotView, this.bucketView, this.identityView, this.tokenView, this.replicaView]) m.clear();
    this.credentials.clear();
    this.resVersion = 0;
    this.counterRevision = 0;
    for (const [key, kv] of this.cache.entries(this.o.prefix)) this.applyKey(key, kv);
  }

  private applyChanges(changes: KeyChange[]): void {
    const out: StoreChange[] = [];
    let resources = false;
    const snapshots: string[] = [];
    let input = this.inputRevision;
    for (const c of changes) {
      const what = this.applyKey(c.key, c.kv);
      if (what === null) continue;
      if (what.category === 'agents') {
        out.push({ kind: 'agent', agentId: what.id, agent: this.agentView.get(what.id) ?? null });
        input = Math.max(input, c.revision);
      } else if (what.category === 'resources' || (what.category === 'meta' && what.id === 'resource-version')) {
        resources = true;
        input = Math.max(input, c.revision);
      } else if (what.category === 'snapshot-buckets') {
        snapshots.push(...(what.nodes ?? []));
      }
    }
    // A resource batch is one transaction: one change, after all its keys are in.
    if (resources) out.push({ kind: 'resources', version: this.resVersion });
    if (snapshots.length > 0) out.push({ kind: 'snapshots', nodeIds: snapshots });
    // Moved before the listeners run: a compile they start reads it as its basis.
    this.inputRevision = input;
    for (const c of out) this.events.emit(c);
  }

  /** Updates the parsed view of one key (kv null: deleted). Malformed values are logged and left out. */
  private applyKey(key: string, kv: CachedKv | null): { category: string; id: string; nodes?: string[] } | null {
    const at = this.keys.parse(key);
    if (at === null) return null;
    const { category, id } = at;
    const set = <T>(m: Map<string, T>, v: T | null): void => {
      if (v === null) m.delete(id);
      else m.set(id, v);
    };
    const json = <T>(): T | null => {
      if (kv === null) return null;
      const v = parseJson<T>(kv.value);
      if (v === null) this.log(`etcd: ignoring malformed value at ${key}`);
      return v;
    };
    switch (category) {
      case 'agents':
        set(this.agentView, json<StoredAgent>());
        break;
      case 'resources':
        set(this.resourceView, json<Resource>());
        break;
      case 'snapshot-buckets': {
        const before = this.bucketView.get(id);
        const after = kv === null ? undefined : (readBucket(kv.value, kv.modRevision) ?? undefined);
        if (kv !== null && after === undefined) this.log(`etcd: ignoring malformed value at ${key}`);
        if (after === undefined) this.bucketView.delete(id);
        else this.bucketView.set(id, after);
        for (const nodeId of before?.keys() ?? []) if (after?.has(nodeId) !== true) this.snapshotView.delete(nodeId);
        for (const [nodeId, v] of after ?? []) this.snapshotView.set(nodeId, v);
        return { ...at, nodes: changedNodes(before, after) };
      }
      case 'nodes':
        set(this.identityView, kv === null ? null : kv.value.toString('utf8'));
        break;
      case 'tokens':
        set(this.tokenView, json<StoredGrant>());
        break;
      case 'replicas':
        set(this.replicaView, json<ReplicaInfo>());
        break;
      case 'meta':
        if (id === 'resource-version') this.resVersion = kv === null ? 0 : Number(kv.value.toString('utf8')) || 0;
        else if (id === 'version-counter' && kv !== null) this.counterRevision = Math.max(this.counterRevision, kv.modRevision);
        break;
      default:
        if (!this.credentials.apply(category, id, kv, json)) return null;
    }
    return at;
  }
}

function parseJson<T>(value: Buffer): T | null {
  try {
    return JSON.parse(value.toString('utf8')) as T;
  } catch {
    return null;
  }
}
