import type { Store, StoredSnapshotVersion } from '../store/store.js';

/**
 * How a pass gets versions for what it compiled: only from the store, never from the pass.
 *
 * Every replica compiles for itself (from the store's change events), so a version picked by
 * one replica would mean nothing to a proxy that moves to another. Instead a pass proposes each
 * looked-at node's content hash to `Store.claimSnapshotVersions(proposals, basis)`: content
 * the store already has keeps its stored version (nothing written), new content gets one new
 * version for the whole claim, and a proposal compiled from older state (a smaller `basis`)
 * than a stored one of other content is left out. So identical content has one version on
 * every replica, and a restart (file store) or a replica kill (etcd) loses nothing: the store
 * has every version the proxies were sent, claimed before they were sent.
 *
 * Only nodes the pass looked at are proposed (SnapshotCache: those a change can affect, new
 * ones, those left out before, and those another replica's write made disagree), and only
 * those whose content or stored entry differs from what this replica has, so a change that
 * reaches 3 proxies of 1,000 claims (and, over etcd, writes) 3 entries.
 */

/** One node as a pass sees it: the hash just compiled and what this replica had before. */
export interface NodeContent {
  nodeId: string;
  hash: string;
  /** This replica's compiled version and hash; undefined for a node it has not compiled (new, or after a restart). */
  current: { version: number; hash: string } | undefined;
}

export interface Agreement {
  /** The version of every node whose compiled entry must be (re)set with the new hash. */
  versions: Map<string, number>;
  /** Nodes whose version moved. (A node new here at its stored version is not among them; SnapshotCache still pushes it.) */
  changed: string[];
  /** Proposals the store left out (another replica compiled newer state): look at them again next pass. */
  leftOut: string[];
}

/**
 * Should a node whose stored entry changed under this replica be looked at again? Yes when the
 * store has the same content at another version (adopt it, so both replicas push one version),
 * or other content compiled from older state than this replica's last pass (a stale claim that
 * landed after this replica compiled newer state without writing: claim it back). Not when the
 * other content is from state at least as new: if newer, this replica hears of it and
 * recompiles; if as new, the replicas differ in settings (trust bundle, tracing) and claiming
 * back would make them overwrite each other forever.
 */
export function disagrees(current: { version: number; hash: string } | undefined, stored: StoredSnapshotVersion | undefined, lastBasis: number): boolean {
  if (current === undefined || stored === undefined) return false;
  if (stored.hash === current.hash) return stored.version !== current.version;
  return (stored.basis ?? 0) < lastBasis;
}

export async function agreeVersions(store: Store, basis: number, nodes: Iterable<NodeContent>): Promise<Agreement> {
  const known = store.snapshotVersions();
  const versions = new Map<string, number>();
  const changed: string[] = [];
  const proposals = new Map<string, string>();
  const before = new Map<string, number | undefined>();
  for (const n of nodes) {
    const stored = known.get(n.nodeId);
    if (n.current !== undefined && n.current.hash === n.hash) {
      // Content unchanged here. Nothing to do unless the store disagrees (see disagrees()); a
      // stored entry that is gone was forgotten by the garbage collection: not brought back.
      if (!disagrees(n.current, stored, basis)) continue;
      if (stored !== undefined && stored.hash === n.hash) {
        versions.set(n.nodeId, stored.version);
        changed.push(n.nodeId);
        continue;
      }
    }
    proposals.set(n.nodeId, n.hash);
    before.set(n.nodeId, n.current?.version ?? stored?.version);
  }
  if (proposals.size === 0) return { versions, changed, leftOut: [] };
  const claimed = await store.claimSnapshotVersions(proposals, basis);
  const leftOut: string[] = [];
  for (const nodeId of proposals.keys()) {
    const v = claimed.get(nodeId);
    if (v === undefined) {
      leftOut.push(nodeId);
      continue;
    }
    versions.set(nodeId, v.version);
    if (before.get(nodeId) !== v.version) changed.push(nodeId);
  }
  return { versions, changed, leftOut };
}
