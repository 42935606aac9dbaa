import type { StoredSnapshotVersion } from '../store.js';

/**
 * Snapshot versions in etcd, many nodes per key.
 *
 * One key per node made a change that reaches every proxy (an endpoint of a service all of
 * them call) write a key per proxy: on the push-scale bench, 990 keys in 9 transactions took
 * 150 ms of etcd time (p50, loopback, 2 loaded cores) against 17 ms for the same bytes in 64
 * keys. So nodes are spread over SNAPSHOT_BUCKETS keys by a hash of their ID, each holding a
 * JSON object `{nodeId: {hash, basis, version?}}`, and a claim rewrites the buckets of the
 * nodes it claims in one transaction guarded by their mod revisions (a replica that wrote one
 * of them first makes it fail whole: the claimer syncs and tries again, as before).
 *
 * Versions stay etcd revisions: an entry without `version` has the revision of the write that
 * stored it (the bucket's mod revision), so a claim's new entries get its transaction's
 * revision; whoever rewrites the bucket later writes the version of every entry it keeps
 * explicitly (the mod revision it read, which the transaction's guard makes exact).
 */
export const SNAPSHOT_BUCKETS = 64;

/** etcd refuses requests over 1.5 MiB by default: a transaction carries at most this much value. */
export const MAX_TXN_VALUE_BYTES = 1024 * 1024;

/** Bucket of a node: FNV-1a of its ID, so every replica puts it in the same one. */
export function bucketOf(nodeId: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < nodeId.length; i++) {
    h ^= nodeId.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return String(h % SNAPSHOT_BUCKETS);
}

interface BucketEntry {
  hash: string;
  basis: number;
  version?: number;
}

/** A bucket's entries with their versions resolved (`modRevision` where none is written); null when malformed. */
export function readBucket(value: Buffer, modRevision: number): Map<string, StoredSnapshotVersion> | null {
  let raw: unknown;
  try {
    raw = JSON.parse(value.toString('utf8'));
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const out = new Map<string, StoredSnapshotVersion>();
  for (const [nodeId, e] of Object.entries(raw as Record<string, unknown>)) {
    const x = e as Partial<BucketEntry> | null;
    if (typeof x !== 'object' || x === null || typeof x.hash !== 'string' || typeof x.basis !== 'number') continue;
    out.set(nodeId, { version: typeof x.version === 'number' ? x.version : modRevision, hash: x.hash, basis: x.basis });
  }
  return out;
}

/**
 * The value of a bucket rewritten: what it holds now (versions written out), without `remove`,
 * with `claim`'s entries (no version: they get the revision of the write).
 */
export function bucketValue(current: ReadonlyMap<string, StoredSnapshotVersion> | undefined, claim: ReadonlyMap<string, string>, basis: number, remove?: ReadonlySet<string>): string {
  const out: Record<string, BucketEntry> = {};
  for (const [nodeId, v] of current ?? []) {
    if (claim.has(nodeId) || remove?.has(nodeId) === true) continue;
    out[nodeId] = { hash: v.hash, basis: v.basis ?? 0, version: v.version };
  }
  for (const [nodeId, hash] of claim) out[nodeId] = { hash, basis };
  return JSON.stringify(out);
}

/** Nodes whose entry differs between two states of a bucket (added, removed or changed). */
export function changedNodes(before: ReadonlyMap<string, StoredSnapshotVersion> | undefined, after: ReadonlyMap<string, StoredSnapshotVersion> | undefined): string[] {
  const out: string[] = [];
  for (const [id, v] of after ?? []) {
    const b = before?.get(id);
    if (b === undefined || b.version !== v.version || b.hash !== v.hash || b.basis !== v.basis) out.push(id);
  }
  for (const id of before?.keys() ?? []) if (after?.has(id) !== true) out.push(id);
  return out;
}
