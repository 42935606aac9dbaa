import type { PrometheusTargetGroup, ReplicaReport, WorkloadView } from '../../api/registry.js';

/** A running proxy with an admin listener: what service discovery lists and a tap opens. */
export interface AdminTarget {
  workload: WorkloadView;
  replica: ReplicaReport;
  /** `host:port` of its admin listener. */
  hostPort: string;
  /** `http` for a loopback admin listener; `https` for a proxy's remote admin listener on another host (mTLS, control plane only). */
  scheme: 'http' | 'https';
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
      if (hostPort !== null) out.push({ workload: w, replica: r, hostPort, scheme: r.adminUrl.startsWith('https:') ? 'https' : 'http' });
    }
  }
  return out.sort((a, b) => (a.replica.nodeId < b.replica.nodeId ? -1 : a.replica.nodeId > b.replica.nodeId ? 1 : 0));
}

/**
 * Prometheus HTTP service discovery: one target group per proxy of adminTargets(). A proxy on
 * another host is reached only through its remote admin listener, which answers the control
 * plane's certificate alone: it is listed (with Prometheus' `__scheme__: https`) only when
 * `remote` is set, for the control plane's own scraper; GET /api/v1/prometheus/targets leaves it
 * out, since a Prometheus server could not scrape it.
 */
export function prometheusTargets(workloads: readonly WorkloadView[], opts: { remote?: boolean } = {}): PrometheusTargetGroup[] {
  return adminTargets(workloads).filter((t) => t.scheme === 'http' || opts.remote === true).map(({ workload: w, replica: r, hostPort, scheme }) => ({
    targets: [hostPort],
    labels: {
      ...(scheme === 'https' ? { __scheme__: 'https' } : {}),
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
