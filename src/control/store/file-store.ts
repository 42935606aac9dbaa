import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TrellisError } from '../../errors.js';
import type { Resource } from '../../api/resources.js';
import { resourceKey, type Store, type StoredAgent, type StoredSnapshotVersion } from './store.js';

interface Meta {
  version: number;
}

/**
 * The embedded store: a few JSON documents in `<dir>` (0700) and one per agent in
 * `<dir>/agents/`, each replaced atomically (write a 0600 temp file, then rename), writes
 * serialised so a later state never loses to an earlier one.
 */
export class FileStore implements Store {
  readonly kind = 'file';
  private readonly agentMap = new Map<string, StoredAgent>();
  /** JSON of each agent's stored report, to tell a renewal from a change. */
  private readonly agentJson = new Map<string, string>();
  /** Writes queued and not started, by document: a later write of the same document joins it. */
  private readonly pending = new Map<string, { state: (() => unknown) | null; done: Promise<void> }>();
  private snapshots = new Map<string, StoredSnapshotVersion>();
  private readonly identities = new Map<string, string>();
  private meta: Meta = { version: 0 };
  private resourceMap = new Map<string, Resource>();
  private resVersion = 0;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(private readonly dir: string) {}

  static async open(dir: string): Promise<FileStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const s = new FileStore(dir);
    const meta = await s.read<Meta>('meta.json');
    if (meta !== null) {
      if (!Number.isSafeInteger(meta.version) || meta.version < 0) {
        throw new TrellisError('TRELLIS_E_CONFIG', `corrupt version counter in ${join(dir, 'meta.json')}`);
      }
      s.meta = meta;
    }
    await mkdir(join(dir, AGENTS_DIR), { recursive: true, mode: 0o700 });
    await chmod(join(dir, AGENTS_DIR), 0o700);
    for (const f of (await readdir(join(dir, AGENTS_DIR))).sort()) {
      if (!f.endsWith('.json')) continue;
      const a = await s.read<StoredAgent>(`${AGENTS_DIR}/${f}`);
      if (a === null) continue;
      s.agentMap.set(a.report.agentId, a);
      s.agentJson.set(a.report.agentId, JSON.stringify(a.report));
    }
    // Before one file per agent, every agent was in agents.json: move them over once.
    const legacy = await s.read<StoredAgent[]>('agents.json');
    if (legacy !== null) {
      for (const a of legacy) if (!s.agentMap.has(a.report.agentId)) await s.putAgent(a);
      await s.queue;
      await rm(join(dir, 'agents.json'), { force: true });
    }
    for (const [k, v] of Object.entries((await s.read<Record<string, StoredSnapshotVersion>>('snapshots.json')) ?? {})) {
      s.snapshots.set(k, v);
    }
    for (const [k, v] of Object.entries((await s.read<Record<string, string>>('nodes.json')) ?? {})) s.identities.set(k, v);
    const res = await s.read<{ version: number; items: Resource[] }>('resources.json');
    if (res !== null) {
      if (!Number.isSafeInteger(res.version) || res.version < 0 || !Array.isArray(res.items)) {
        throw new TrellisError('TRELLIS_E_CONFIG', `corrupt resources in ${join(dir, 'resources.json')}`);
      }
      s.resVersion = res.version;
      for (const r of res.items) s.resourceMap.set(resourceKey(r.kind, r.metadata.namespace, r.metadata.name), r);
    }
    return s;
  }

  resources(): ReadonlyMap<string, Resource> {
    return this.resourceMap;
  }

  resourceVersion(): number {
    return this.resVersion;
  }

  commitResources(batch: { version: number; put: Resource[]; remove: string[] }): Promise<void> {
    // Build the next state first and swap it in whole: one file, one rename, all or nothing.
    const next = new Map(this.resourceMap);
    for (const k of batch.remove) next.delete(k);
    for (const r of batch.put) next.set(resourceKey(r.kind, r.metadata.namespace, r.metadata.name), r);
    const state = { version: Math.max(this.resVersion, batch.version), items: [...next.values()] };
    const p = this.write('resources.json', () => state);
    return p.then(() => {
      this.resourceMap = next;
      this.resVersion = state.version;
    });
  }

  agents(): StoredAgent[] {
    return [...this.agentMap.values()];
  }

  putAgent(agent: StoredAgent): Promise<void> {
    const json = JSON.stringify(agent.report);
    const same = this.agentJson.get(agent.report.agentId) === json;
    this.agentMap.set(agent.report.agentId, agent);
    this.agentJson.set(agent.report.agentId, json);
    // A renewal with the same report changes only receivedAt, which is for display (leases
    // restart on load): agents renew every few seconds, and writing each renewal was most of a
    // big mesh's control-plane CPU. Each agent has its own file, so a change writes one report,
    // not the whole mesh's.
    if (same) return this.queue;
    return this.write(agentFile(agent.report.agentId), () => agent);
  }

  async deleteAgent(agentId: string): Promise<boolean> {
    this.agentJson.delete(agentId);
    if (!this.agentMap.delete(agentId)) return false;
    await this.write(agentFile(agentId), null);
    return true;
  }

  version(): number {
    return this.meta.version;
  }

  async nextVersion(): Promise<number> {
    const v = this.meta.version + 1;
    this.meta = { version: v };
    await this.write('meta.json', () => this.meta);
    return v;
  }

  snapshotVersions(): ReadonlyMap<string, StoredSnapshotVersion> {
    return this.snapshots;
  }

  putSnapshotVersions(entries: ReadonlyMap<string, StoredSnapshotVersion>): Promise<void> {
    this.snapshots = new Map(entries);
    return this.write('snapshots.json', () => Object.fromEntries(this.snapshots));
  }

  updateSnapshotVersions(changes: { put: ReadonlyMap<string, StoredSnapshotVersion>; remove: readonly string[] }): Promise<void> {
    // One document holds them all here: change the map, write the document.
    for (const k of changes.remove) this.snapshots.delete(k);
    for (const [k, v] of changes.put) this.snapshots.set(k, v);
    return this.write('snapshots.json', () => Object.fromEntries(this.snapshots));
  }

  nodeIdentities(): ReadonlyMap<string, string> {
    return this.identities;
  }

  putNodeIdentity(nodeId: string, identity: string): Promise<void> {
    if (this.identities.get(nodeId) === identity) return Promise.resolve();
    this.identities.set(nodeId, identity);
    return this.write('nodes.json', () => Object.fromEntries(this.identities));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue;
  }

  private async read<T>(name: string): Promise<T | null> {
    const path = join(this.dir, name);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      return JSON.parse(text) as T;
    } catch (err) {
      throw new TrellisError('TRELLIS_E_CONFIG', `corrupt store file ${path}: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Queues a write of a document (`state` null: its removal). A write of a document that already
   * has one queued and not started joins it and gives it its (newer) state: each document's last
   * state wins, so a burst of changes costs one write, not one per change, and every caller's
   * state (or a newer one) is on disk when its promise resolves.
   */
  private write(name: string, state: (() => unknown) | null): Promise<void> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    const queued = this.pending.get(name);
    if (queued !== undefined) {
      queued.state = state;
      return queued.done;
    }
    const entry: { state: (() => unknown) | null; done: Promise<void> } = { state, done: Promise.resolve() };
    const run = async (): Promise<void> => {
      this.pending.delete(name);
      const path = join(this.dir, name);
      if (entry.state === null) {
        await rm(path, { force: true });
        return;
      }
      const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(tmp, JSON.stringify(entry.state()), { mode: 0o600, flag: 'wx' });
      await rename(tmp, path);
    };
    entry.done = this.queue.then(run);
    this.pending.set(name, entry);
    this.queue = entry.done.catch(() => {});
    return entry.done;
  }
}

const AGENTS_DIR = 'agents';

/** One file per agent; the id encoded so any id is one safe file name. */
function agentFile(agentId: string): string {
  return `${AGENTS_DIR}/${encodeURIComponent(agentId)}.json`;
}
