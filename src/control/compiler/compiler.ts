import { createHash } from 'node:crypto';
import type { Resource } from '../../api/resources.js';
import type { ClusterConfig, ProxySnapshot } from '../../api/snapshot.js';
import type { ProxyNode, Registry } from '../registry/registry.js';
import { CompileContext } from './context.js';

export { CONNECT_TIMEOUT_MS, parseClusterName } from './context.js';

/**
 * One proxy's clusters (everything but the version and trust): one for every upstream its
 * workload declares and some workload serves, with ready endpoints only, the routes attached
 * to it and its service's DestinationPolicy; plus one for every backend and mirror those routes
 * send to. Sorted by name so equal content hashes equally. Upstreams nobody serves are left
 * out (the proxy answers `unknown-cluster`).
 */
export function compileClusters(node: ProxyNode, registry: Registry, resources: readonly Resource[] = []): ClusterConfig[] {
  return compileNodeClusters(node, CompileContext.of(registry, resources));
}

/** As compileClusters, with a context shared by many nodes. */
export function compileNodeClusters(node: ProxyNode, ctx: CompileContext): ClusterConfig[] {
  return compileUpstreams(node.upstreams, ctx).clusters;
}

/** The clusters for a set of upstreams, each one's JSON, and every input they read. */
export interface UpstreamClusters {
  clusters: ClusterConfig[];
  /** JSON.stringify of each cluster, same order. */
  json: string[];
  inputs: Set<string>;
}

/** The key of an upstream set: nodes with equal keys get equal clusters. */
export function upstreamsKey(upstreams: readonly string[]): string {
  return [...new Set(upstreams)].sort().join('\n');
}

export function compileUpstreams(upstreams: readonly string[], ctx: CompileContext): UpstreamClusters {
  const out = new Map<string, { cluster: ClusterConfig; json: () => string }>();
  const extra = new Set<string>();
  const inputs = new Set<string>();
  for (const name of new Set(upstreams)) {
    const b = ctx.upstream(name);
    for (const k of b.inputs) inputs.add(k);
    const v = b.value;
    if (v === null) continue;
    out.set(name, { cluster: v.cluster, json: () => (b.json ??= JSON.stringify(v.cluster)) });
    for (const r of v.referenced) extra.add(r);
  }
  for (const name of extra) {
    if (out.has(name)) continue;
    const b = ctx.backend(name);
    for (const k of b.inputs) inputs.add(k);
    const v = b.value;
    if (v !== null) out.set(name, { cluster: v, json: () => (b.json ??= JSON.stringify(v)) });
  }
  const clusters: ClusterConfig[] = [];
  const json: string[] = [];
  for (const n of [...out.keys()].sort()) {
    const c = out.get(n) as { cluster: ClusterConfig; json: () => string };
    clusters.push(c.cluster);
    json.push(c.json());
  }
  return { clusters, json, inputs };
}

export function contentHash(content: Omit<ProxySnapshot, 'version'>): string {
  return createHash('sha256').update(JSON.stringify(content)).digest('base64url');
}

/** sha256 of a content's JSON text, as contentHash computes it from the object. */
export function jsonHash(json: string): string {
  return createHash('sha256').update(json).digest('base64url');
}
