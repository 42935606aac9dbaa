import type { WorkloadView } from '../../api/registry.js';
import { HttpError } from '../api/http-error.js';
import { adminTargets } from '../api/prometheus-sd.js';

/** One proxy to tap: its node id and admin listener. */
export interface TapTarget {
  nodeId: string;
  adminUrl: string;
}

/**
 * The proxies a tap opens: every replica's proxy of `workload` (`name` or `namespace/name`),
 * or every proxy when absent; the same set Prometheus discovery scrapes (adminTargets). Sorted
 * by node id. Unknown workload: 404.
 */
export function tapTargets(workloads: readonly WorkloadView[], workload: string | null): TapTarget[] {
  let chosen = workloads;
  if (workload !== null) {
    const slash = workload.indexOf('/');
    const ns = slash >= 0 ? workload.slice(0, slash) : undefined;
    const name = slash >= 0 ? workload.slice(slash + 1) : workload;
    chosen = workloads.filter((w) => w.name === name && (ns === undefined || w.namespace === ns));
    if (chosen.length === 0) throw new HttpError(404, 'TRELLIS_E_NOT_FOUND', `workload: no workload "${workload}"`);
  }
  return adminTargets(chosen).map((t) => ({ nodeId: t.replica.nodeId, adminUrl: `${t.scheme}://${t.hostPort}` }));
}
