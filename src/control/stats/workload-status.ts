import type { ProxyView, WorkloadView } from '../../api/registry.js';
import type { WorkloadStatusView } from '../../api/stats.js';
import { isClosed } from '../check/bypass.js';

/**
 * One row per replica: the agent's report joined with what the push server knows of its
 * proxy (by node id): identity, certificate, config versions, connection, each port's mTLS
 * mode with its plaintext callers, and the plaintext bypass the agent found. A replica whose
 * proxy never connected shows its workload's identity and nulls.
 */
export function workloadStatusRows(workloads: readonly WorkloadView[], proxies: readonly ProxyView[], now: number): WorkloadStatusView[] {
  const proxyOf = new Map<string, ProxyView>();
  for (const p of proxies) proxyOf.set(p.nodeId, p);
  const rows: WorkloadStatusView[] = [];
  for (const w of workloads) {
    for (const r of w.replicas) {
      const p = proxyOf.get(r.nodeId);
      const notAfter = p?.certNotAfter ?? null;
      const expiresAt = notAfter === null ? NaN : Date.parse(notAfter);
      rows.push({
        namespace: w.namespace,
        workload: w.name,
        service: w.service,
        ingress: w.ingress,
        replica: r.replica,
        nodeId: r.nodeId,
        state: r.state,
        identity: p?.identity ?? w.identity,
        certNotAfter: notAfter,
        certExpiresInSeconds: Number.isNaN(expiresAt) ? null : Math.floor((expiresAt - now) / 1000),
        configVersion: p?.version ?? null,
        ackedVersion: p?.ackedVersion ?? null,
        nack: p?.nack ?? null,
        connected: p?.connected ?? false,
        ports: w.ports.map((port) => {
          const mtls = port.mtls ?? 'STRICT';
          return { name: port.name, mtls, plaintextConnections: mtls === 'PERMISSIVE' ? (p?.plaintextConnections?.[port.name] ?? null) : null };
        }),
        exposed: (r.exposed ?? []).map((address) => ({ address, closed: isClosed(address, w.appPortLock) })),
      });
    }
  }
  return rows.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
}
