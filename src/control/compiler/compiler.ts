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
  return compileNodeClusters(node, new CompileContext(registry, resources));
}

/** As compileClusters, with a context built once for a whole pass. */
export function compileNodeClusters(node: ProxyNode, ctx: CompileContext): ClusterConfig[] {
  const out = new Map<string, ClusterConfig>();
  const extra = new Set<string>();
  for (const name of new Set(node.upstreams)) {
    const c = ctx.upstream(name);
    if (c === null) continue;
    out.set(name, c.cluster);
    for (const r of c.referenced) extra.add(r);
  }
  for (const name of extra) {
    if (out.has(name)) continue;
    const c = ctx.backend(name);
    if (c !== null) out.set(name, c);
  }
  return [...out.keys()].sort().map((k) => out.get(k) as ClusterConfig);
}

export function contentHash(content: Omit<ProxySnapshot, 'version'>): string {
  return createHash('sha256').update(JSON.stringify(content)).digest('base64url');
}
