import { createHash } from 'node:crypto';
import type { ClusterConfig, EndpointConfig, ProxySnapshot } from '../../api/snapshot.js';
import type { ProxyNode, Registry } from '../registry/registry.js';

export const CONNECT_TIMEOUT_MS = 1000;

/** Splits `<namespace>/<service>:<port>`; null when malformed. */
export function parseClusterName(name: string): { namespace: string; service: string; port: string } | null {
  const slash = name.indexOf('/');
  const colon = name.lastIndexOf(':');
  if (slash <= 0 || colon <= slash + 1 || colon === name.length - 1) return null;
  return { namespace: name.slice(0, slash), service: name.slice(slash + 1, colon), port: name.slice(colon + 1) };
}

/**
 * One proxy's snapshot content (everything but the version): a cluster for every upstream
 * its workload declares and some workload serves, with the ready endpoints only, in a
 * stable order so equal content hashes equally. Upstreams nobody serves are left out (the
 * proxy answers `unknown-cluster`).
 */
export function compileClusters(node: ProxyNode, registry: Registry): ClusterConfig[] {
  const endpoints = registry.endpoints();
  const clusters: ClusterConfig[] = [];
  for (const name of [...new Set(node.upstreams)].sort()) {
    const c = parseClusterName(name);
    if (c === null) continue;
    const protocol = registry.portProtocol(c.namespace, c.service, c.port);
    if (protocol === null) continue;
    const eps: EndpointConfig[] = endpoints
      .filter((e) => e.ready && e.namespace === c.namespace && e.service === c.service && e.port === c.port)
      .map((e) => ({ host: e.host, port: e.portNumber, identity: e.identity, workload: e.workload, replica: e.replica }))
      .sort((a, b) => a.workload.localeCompare(b.workload) || a.replica - b.replica || a.host.localeCompare(b.host) || a.port - b.port);
    clusters.push({
      name,
      namespace: c.namespace,
      service: c.service,
      port: c.port,
      protocol,
      loadBalancer: registry.loadBalancer(c.namespace, c.service),
      connectTimeoutMs: CONNECT_TIMEOUT_MS,
      endpoints: eps,
    });
  }
  return clusters;
}

export function contentHash(content: Omit<ProxySnapshot, 'version'>): string {
  return createHash('sha256').update(JSON.stringify(content)).digest('base64url');
}
