import type { Etcd3, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import { TrellisError } from '../../../errors.js';
import { prefixEnd } from './keys.js';

/** One key as the cache holds it. */
export interface CachedKv {
  value: Buffer;
  modRevision: number;
  createRevision: number;
  /** Lease ID ('0' without one). */
  lease: string;
}

/** A key's change in one watch response: `kv` null when it was deleted. */
export interface KeyChange {
  key: string;
  kv: CachedKv | null;
  prev: CachedKv | undefined;
  /** The etcd revision of the change (of the put, or of the delete). */
  revision: number;
}

export interface CacheHandlers {
  /** Every change of one etcd revision range, in order, after the cache has applied them. */
  onChanges(changes: KeyChange[]): void;
  /** The cache was reloaded whole (the watch fell behind compaction, or failed): re-read everything. */
  onResync(): void;
  onError(err: Error, what: string): void;
}

/** Page size of the initial (and resync) range reads: large meshes stay under gRPC's message limit. */
const PAGE = 500;
/** How long a writer waits for the watch to bring its own write back before giving up. */
const REACH_TIMEOUT_MS = 10_000;
/** How long a disconnected watch may take to come back before the cache reloads and watches anew. */
const WATCH_RECONNECT_MS = 8_000;

/**
 * Everything under one etcd prefix, in memory, fed by a watch. load() reads the prefix at one
 * revision (in pages); the watch starts right after it, so no change is missed or seen twice.
 * revision() is the revision the cache has reached: the load's, then each applied event's.
 *
 * A watch that falls behind etcd's compaction (it was cut off while etcd compacted the
 * revisions it still needed) is cancelled by etcd; the cache then reloads the prefix at the
 * current revision, replaces its content whole, announces onResync, and watches from there.
 * Any other watch failure is handled the same way. Disconnections are the etcd3 client's job:
 * it re-creates the watch from the last revision it delivered.
 */
export class EtcdCache {
  private kvs = new Map<string, CachedKv>();
  private rev = 0;
  private watcher: Watcher | null = null;
  private waiters: { revision: number; resolve: () => void; reject: (err: Error) => void }[] = [];
  private closed = false;
  private resyncing: Promise<void> | null = null;
  /** Times the cache was reloaded after start (tests and metrics read it). */
  resyncs = 0;

  constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly handlers: CacheHandlers,
  ) {}

  async start(): Promise<void> {
    const loaded = await this.load();
    this.kvs = loaded.kvs;
    this.rev = loaded.revision;
    this.watchFrom(loaded.revision + 1);
  }

  get(key: string): CachedKv | undefined {
    return this.kvs.get(key);
  }

  /** Every cached key under `sub` (a full-key prefix), in no particular order. */
  *entries(sub: string): Iterable<[string, CachedKv]> {
    for (const e of this.kvs) if (e[0].startsWith(sub)) yield e;
  }

  revision(): number {
    return this.rev;
  }

  /** Resolves once the cache has applied revision `r` (a write's), or rejects after 10 s or at close(). */
  reached(r: number): Promise<void> {
    if (this.rev >= r) return Promise.resolve();
    if (this.closed) return Promise.reject(new TrellisError('TRELLIS_E_STORE', `etcd: the store closed before this replica's watch delivered revision ${r}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new TrellisError('TRELLIS_E_STORE', `etcd: the write (revision ${r}) is stored, but this replica's watch has not delivered it in ${REACH_TIMEOUT_MS / 1000} s`));
      }, REACH_TIMEOUT_MS);
      const w = {
        revision: r,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiters.push(w);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    // Nobody is left to wait for: a waiter's timer would otherwise hold the process up to 10 s.
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(new TrellisError('TRELLIS_E_STORE', `etcd: the store closed before this replica's watch delivered revision ${w.revision}`));
    const w = this.watcher;
    this.watcher = null;
    if (w !== null) await w.cancel().catch(() => undefined);
  }

  /** Reads the whole prefix at one revision, page by page. */
  private async load(): Promise<{ kvs: Map<string, CachedKv>; revision: number }> {
    const kvs = new Map<string, CachedKv>();
    const end = prefixEnd(this.prefix);
    let start = Buffer.from(this.prefix);
    let revision: number | null = null;
    for (;;) {
      let b = this.client.getAll().inRange({ start, end }).limit(PAGE);
      if (revision !== null) b = b.revision(revision);
      const res = await b.exec();
      revision ??= Number(res.header.revision);
      for (const kv of res.kvs) kvs.set(kv.key.toString(), toCached(kv));
      const last = res.kvs[res.kvs.length - 1];
      if (!res.more || last === undefined) break;
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
    return { kvs, revision };
  }

  private watchFrom(revision: number): void {
    if (this.closed) return;
    const w = this.client.watch().prefix(this.prefix).startRevision(String(revision)).watcher();
    this.watcher = w;
    w.on('data', (res: IWatchResponse) => {
      if (this.watcher === w) this.apply(res);
    });
    // etcd cancels a watch whose start revision was compacted away (and the client says
    // 'error'); so does any other refusal. Either way: reload and watch again.
    w.on('error', (err: Error) => {
      if (this.watcher !== w || this.closed) return;
      this.watcher = null;
      void w.cancel().catch(() => undefined);
      this.handlers.onError(err, 'etcd watch cancelled; reloading the whole prefix');
      void this.resync();
    });
    // The client re-creates a dropped watch from its last revision, but one whose member was cut
    // off the network (found by the host-cut drill) may not come back: this replica would then
    // miss every change, lease expiries included. Not back within WATCH_RECONNECT_MS: reload and
    // watch again from the current revision (unary calls, with deadlines, reach a live member).
    let stalled: NodeJS.Timeout | null = null;
    w.on('disconnected', (err: Error) => {
      if (this.watcher !== w || this.closed) return;
      this.handlers.onError(err, 'etcd watch disconnected; the client reconnects from the last revision');
      stalled ??= setTimeout(() => {
        stalled = null;
        if (this.watcher !== w || this.closed) return;
        this.watcher = null;
        void w.cancel().catch(() => undefined);
        this.handlers.onError(new Error(`not reconnected within ${WATCH_RECONNECT_MS / 1000} s`), 'etcd watch did not come back; reloading the whole prefix');
        void this.resync();
      }, WATCH_RECONNECT_MS);
      stalled.unref();
    });
    w.on('connected', () => {
      if (stalled !== null) clearTimeout(stalled);
      stalled = null;
    });
  }

  private apply(res: IWatchResponse): void {
    const changes: KeyChange[] = [];
    for (const ev of res.events) {
      const key = ev.kv.key.toString();
      const r = Number(ev.kv.mod_revision);
      const prev = this.kvs.get(key);
      if (r > this.rev) this.rev = r;
      // A change the cache already has (after a reload) is not applied twice.
      if (prev !== undefined && prev.modRevision >= r) continue;
      if (ev.type === 'Put') {
        const kv = toCached(ev.kv);
        this.kvs.set(key, kv);
        changes.push({ key, kv, prev, revision: r });
      } else {
        if (prev === undefined) continue;
        this.kvs.delete(key);
        changes.push({ key, kv: null, prev, revision: r });
      }
    }
    if (changes.length > 0) this.handlers.onChanges(changes);
    this.wake();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const due = this.waiters.filter((w) => w.revision <= this.rev);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.revision > this.rev);
    for (const w of due) w.resolve();
  }

  /** Reloads the prefix (retrying until etcd answers) and watches from the new revision. */
  resync(): Promise<void> {
    this.resyncing ??= (async () => {
      let delay = 100;
      while (!this.closed) {
        try {
          const loaded = await this.load();
          if (this.closed) return;
          this.kvs = loaded.kvs;
          this.rev = Math.max(this.rev, loaded.revision);
          this.resyncs++;
          this.watchFrom(loaded.revision + 1);
          this.handlers.onResync();
          this.wake();
          return;
        } catch (err) {
          this.handlers.onError(err as Error, `etcd reload failed; retrying in ${delay} ms`);
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(2000, delay * 2);
        }
      }
    })().finally(() => {
      this.resyncing = null;
    });
    return this.resyncing;
  }
}

function toCached(kv: IKeyValue): CachedKv {
  return { value: kv.value, modRevision: Number(kv.mod_revision), createRevision: Number(kv.create_revision), lease: String(kv.lease ?? '0') };
}
