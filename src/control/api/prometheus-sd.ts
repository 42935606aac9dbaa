import type { PrometheusTargetGroup, WorkloadView } from '../../api/registry.js';

/**
 * Prometheus HTTP service discovery: one target group per proxy that reported an admin URL
 * (each workload replica's proxy, each ingress proxy). Replicas that have stopped are left
 * out; a crashed app's proxy is still scraped (its metrics say what callers saw).
 * Sorted by node id so the answer is stable between polls.
 */
export function prometheusTargets(workloads: readonly WorkloadView[]): PrometheusTargetGroup[] {
  const groups: PrometheusTargetGroup[] = [];
  for (const w of workloads) {
    for (const r of w.replicas) {
      if (r.state === 'stopped') continue;
      const target = hostPortOf(r.adminUrl);
      if (target === null) continue;
      groups.push({
        targets: [target],
        labels: {
          trellis_namespace: w.namespace,
          trellis_workload: w.name,
          trellis_service: w.service,
          trellis_service_account: w.serviceAccount,
          trellis_replica: String(r.replica),
          trellis_node_id: r.nodeId,
          trellis_ingress: String(w.ingress),
        },
      });
    }
  }
  return groups.sort((a, b) => (a.labels.trellis_node_id! < b.labels.trellis_node_id! ? -1 : a.labels.trellis_node_id! > b.labels.trellis_node_id! ? 1 : 0));
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
