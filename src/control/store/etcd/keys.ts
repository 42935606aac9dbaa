/**
 * Where everything lives in etcd, under one prefix (default `/trellis/`, from the store URL's
 * path, so several meshes or tests can share an etcd). src/control/store/README.md has the
 * table. Keys are `<prefix><category>/<id>`; ids are used as they are (etcd keys are bytes,
 * and each category has its own sub-prefix, so a `/` inside an id cannot collide).
 */
export type Category =
  | 'agents'
  | 'resources'
  | 'snapshot-buckets'
  | 'nodes'
  | 'tokens'
  | 'replicas'
  | 'meta'
  | 'ca'
  | 'secrets'
  | 'election'
  | 'api-tokens'
  | 'join-tokens'
  | 'hosts';

export class KeyLayout {
  constructor(readonly prefix: string) {}

  agent(agentId: string): string {
    return `${this.prefix}agents/${agentId}`;
  }
  resource(key: string): string {
    return `${this.prefix}resources/${key}`;
  }
  /** Snapshot versions of the nodes in one bucket (snapshot-buckets.ts). */
  snapshotBucket(bucket: string): string {
    return `${this.prefix}snapshot-buckets/${bucket}`;
  }
  node(nodeId: string): string {
    return `${this.prefix}nodes/${nodeId}`;
  }
  token(tokenHash: string): string {
    return `${this.prefix}tokens/${tokenHash}`;
  }
  /** API tokens, join tokens and host policies (etcd-credentials.ts): hashes, never a secret. */
  apiToken(id: string): string {
    return `${this.prefix}api-tokens/${id}`;
  }
  joinToken(id: string): string {
    return `${this.prefix}join-tokens/${id}`;
  }
  hostPolicy(host: string): string {
    return `${this.prefix}hosts/${host}`;
  }
  replica(id: string): string {
    return `${this.prefix}replicas/${id}`;
  }
  /** The resource version (a decimal number), written in the same transaction as every resource batch. */
  get resourceVersion(): string {
    return `${this.prefix}meta/resource-version`;
  }
  /** Touched by nextVersion(): the version handed out is the revision of that write. */
  get versionCounter(): string {
    return `${this.prefix}meta/version-counter`;
  }
  /** Touched by sync() (one key per replica): when the watch delivers it, the view has caught up. */
  syncProbe(replicaId: string): string {
    return `${this.prefix}meta/sync/${replicaId}`;
  }
  /** The mesh CA: root certificate and sealed key (src/control/store/etcd/ca-vault.ts). */
  get ca(): string {
    return `${this.prefix}ca/root`;
  }
  secret(name: string): string {
    return `${this.prefix}secrets/${name}`;
  }

  /** Category and id of a full key, or null for a key outside the prefix or without an id. */
  parse(key: string): { category: Category; id: string } | null {
    if (!key.startsWith(this.prefix)) return null;
    const rest = key.slice(this.prefix.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) return null;
    const category = rest.slice(0, slash) as Category;
    return { category, id: rest.slice(slash + 1) };
  }
}

/** The key that sorts after every key with this prefix (etcd's range_end for a prefix). */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if ((b[i] as number) < 0xff) {
      const end = b.subarray(0, i + 1);
      end[i] = (end[i] as number) + 1;
      return end;
    }
  }
  return Buffer.from([0]);
}
