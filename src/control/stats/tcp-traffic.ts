/**
 * Opaque TCP relays have no requests to count, only connections and bytes per listener
 * (`trellis_tcp_connections_opened_total`, `trellis_tcp_bytes_total`). An outbound listener
 * stands for one upstream cluster of its workload, so its counters are an edge from the
 * workload to that cluster's service; inbound counters are what the workload's service accepted.
 */
import type { WorkloadView } from '../../api/registry.js';
import { TCP_BYTES_METRIC, TCP_CONNECTIONS_METRIC } from '../../telemetry/golden/parse.js';
import type { TargetScrape } from '../../telemetry/golden/scrape.js';
import { destinationOfCluster } from '../../telemetry/request-metrics.js';

export interface TcpTotals {
  connections: number;
  /** Both ways. */
  bytes: number;
}

export interface TcpEdgeTotals extends TcpTotals {
  caller: WorkloadView;
  dstNamespace: string;
  dstService: string;
}

export interface TcpTrafficTotals {
  /** Per caller workload and destination service, in scrape order. */
  edges: TcpEdgeTotals[];
  /** Accepted (inbound) per `<ns>/<service>`. */
  served: Map<string, TcpTotals>;
}

/**
 * Outbound listener name -> cluster, for one workload. The agent names a workload's outbound
 * listeners `<service>-<port>` after the upstream's cluster `<ns>/<service>:<port>`, and an
 * ingress' listeners after the ingress (`<name>`, and `<name>-tls`; src/agent/bootstrap.ts).
 */
function listenerClusters(w: WorkloadView): Map<string, string> {
  const byListener = new Map<string, string>();
  for (const cluster of w.upstreams) {
    if (w.ingress) {
      // Its plain listener, and its TLS one (`<name>-tls`) if it terminates TLS.
      byListener.set(w.name, cluster);
      byListener.set(`${w.name}-tls`, cluster);
      continue;
    }
    const colon = cluster.lastIndexOf(':');
    byListener.set(`${destinationOfCluster(cluster).service}-${cluster.slice(colon + 1)}`, cluster);
  }
  return byListener;
}

const add = (into: TcpTotals, name: string, value: number): void => {
  if (name === TCP_CONNECTIONS_METRIC) into.connections += value;
  else into.bytes += value;
};

/** TCP totals of a window's increase (windowDelta); listeners of unknown workloads or clusters are left out. */
export function tcpTraffic(delta: readonly TargetScrape[], workloads: readonly WorkloadView[]): TcpTrafficTotals {
  const byName = new Map<string, WorkloadView>();
  for (const w of workloads) byName.set(`${w.namespace}/${w.name}`, w);
  const edges = new Map<string, TcpEdgeTotals>();
  const served = new Map<string, TcpTotals>();
  const clustersOf = new Map<WorkloadView, Map<string, string>>();
  for (const t of delta) {
    const w = byName.get(`${t.targetLabels.trellis_namespace ?? ''}/${t.targetLabels.trellis_workload ?? ''}`);
    if (w === undefined) continue;
    for (const s of t.samples) {
      if (s.name !== TCP_CONNECTIONS_METRIC && s.name !== TCP_BYTES_METRIC) continue;
      if (s.labels.direction === 'inbound') {
        if (w.ingress) continue;
        const key = `${w.namespace}/${w.service}`;
        let row = served.get(key);
        if (row === undefined) served.set(key, (row = { connections: 0, bytes: 0 }));
        add(row, s.name, s.value);
      } else if (s.labels.direction === 'outbound') {
        let clusters = clustersOf.get(w);
        if (clusters === undefined) clustersOf.set(w, (clusters = listenerClusters(w)));
        const cluster = clusters.get(s.labels.listener ?? '');
        if (cluster === undefined) continue;
        const key = `${w.namespace}/${w.name}\u0000${cluster}`;
        let edge = edges.get(key);
        if (edge === undefined) {
          const dst = destinationOfCluster(cluster);
          edges.set(key, (edge = { caller: w, dstNamespace: dst.namespace, dstService: dst.service, connections: 0, bytes: 0 }));
        }
        add(edge, s.name, s.value);
      }
    }
  }
  return { edges: [...edges.values()], served };
}
