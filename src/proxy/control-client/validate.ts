import { X509Certificate } from 'node:crypto';
import { PROTOCOLS } from '../../api/common.js';
import type { ProxySnapshot } from '../../api/snapshot.js';
import { isValidTrustDomain, parseSpiffeId } from '../../identity/spiffe.js';
import { hasBalancer } from '../balancer/registry.js';

/**
 * Checks a snapshot before anything of it is applied (whole or nothing). Returns the first
 * problem as a message naming the field path (it goes back in the NACK), or null.
 */
export function validateSnapshot(s: unknown): string | null {
  if (typeof s !== 'object' || s === null) return 'snapshot: not an object';
  const snap = s as Partial<ProxySnapshot>;
  if (typeof snap.version !== 'number' || !Number.isSafeInteger(snap.version) || snap.version < 0) {
    return 'version: expected a non-negative integer';
  }
  if (typeof snap.trustDomain !== 'string' || !isValidTrustDomain(snap.trustDomain)) return 'trustDomain: invalid';
  if (!Array.isArray(snap.trustBundlePem) || snap.trustBundlePem.length === 0) {
    return 'trustBundlePem: expected at least one certificate';
  }
  for (const [i, pem] of snap.trustBundlePem.entries()) {
    try {
      if (typeof pem !== 'string') throw new Error('not a string');
      new X509Certificate(pem);
    } catch (err) {
      return `trustBundlePem[${i}]: ${(err as Error).message}`;
    }
  }
  if (!Array.isArray(snap.clusters)) return 'clusters: expected an array';
  const names = new Set<string>();
  for (const [i, c] of snap.clusters.entries()) {
    const at = `clusters[${i}]`;
    if (typeof c !== 'object' || c === null) return `${at}: not an object`;
    if (typeof c.name !== 'string' || c.name.length === 0) return `${at}.name: expected a string`;
    if (names.has(c.name)) return `${at}.name: duplicate cluster ${c.name}`;
    names.add(c.name);
    if (!PROTOCOLS.includes(c.protocol)) return `${at}.protocol: expected one of ${PROTOCOLS.join(', ')}`;
    if (typeof c.loadBalancer !== 'string' || !hasBalancer(c.loadBalancer)) return `${at}.loadBalancer: unknown "${String(c.loadBalancer)}"`;
    if (typeof c.connectTimeoutMs !== 'number' || !(c.connectTimeoutMs > 0)) return `${at}.connectTimeoutMs: expected > 0`;
    if (!Array.isArray(c.endpoints)) return `${at}.endpoints: expected an array`;
    for (const [j, e] of c.endpoints.entries()) {
      const eat = `${at}.endpoints[${j}]`;
      if (typeof e !== 'object' || e === null) return `${eat}: not an object`;
      if (typeof e.host !== 'string' || e.host.length === 0) return `${eat}.host: expected a string`;
      if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) return `${eat}.port: expected 1..65535`;
      if (typeof e.identity !== 'string' || parseSpiffeId(e.identity) === null) return `${eat}.identity: not a SPIFFE ID`;
    }
  }
  return null;
}
