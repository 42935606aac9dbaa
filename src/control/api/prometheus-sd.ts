import type { PrometheusTargetGroup, ReplicaReport, WorkloadView } from '../../api/registry.js';

/** A running proxy with an admin listener: what service discovery lists and a tap opens. */
export interface AdminTarget {
  workload: WorkloadView;
  replica: ReplicaReport;
  /** `host:port` of its admin listener. */
  hostPort: string;
}

/**
 * Every proxy that reported an admin URL (each workload replica's proxy, each ingress proxy).
 * Replicas that have stopped are left out; a crashed app's proxy is still listed (its metrics
 * say what callers saw). Sorted by node id so the answer is stable between polls.
 */
export function adminTargets(workloads: readonly WorkloadView[]): AdminTarget[] {
  const out: AdminTarget[] = [];
  for (const w of workloads) {
    for (const r of w.replicas) {
      if (r.state === 'stopped') continue;
      const hostPort = hostPortOf(r.adminUrl);
      if (hostPort !== null) out.push({ workload: w, replica: r, hostPort });
    }
  }
  return out.sort((a, b) => (a.replica.nodeId < b.replica.nodeId ? -1 : a.replica.nodeId > b.replica.nodeId ? 1 : 0));
}

/** Prometheus HTTP service discovery: one target group per proxy of adminTargets(). */
export function prometheusTargets(workloads: readonly WorkloadView[]): PrometheusTargetGroup[] {
  return adminTargets(workloads).map(({ workload: w, replica: r, hostPort }) => ({
    targets: [hostPort],
    labels: {
      trellis_namespace: w.namespace,
      trellis_workload: w.name,
      trellis_service: w.service,
      trellis_service_account: w.serviceAccount,
      trellis_replica: String(r.replica),
      trellis_node_id: r.nodeId,
      trellis_ingress: String(w.ingress),
    },
  }));
}

/** `http://127.0.0.1:15001/` -> `127.0.0.1:15001`; null when empty or not a URL. */
function hostPortOf(url: string): string | null {
  if (url === '') return null;
  try {
    const u = new URL(url);
    return u.port === '' ? null : u.host;
  } catch {
    return null;
  }
}
