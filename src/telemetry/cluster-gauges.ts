import type { ClusterTable } from '../proxy/cluster/cluster-table.js';

/** Circuit-breaker and endpoint state of one cluster, read at scrape time. */
export interface ClusterGauge {
  /** `<namespace>/<service>:<port>` */
  cluster: string;
  activeRequests: number;
  openConnections: number;
  pendingRequests: number;
  endpoints: EndpointGauge[];
}

export interface EndpointGauge {
  /** `<workload>/<replica>` */
  endpoint: string;
  /** Ejected by outlier detection right now. */
  ejected: boolean;
  /** Passing active health checks (always true when the cluster has none). */
  healthy: boolean;
}

export type ClusterGaugeReader = () => ClusterGauge[];

/**
 * Reads the live ClusterTable (nothing is copied on the data path: the breaker counters and
 * endpoint states are the ones the upstreams use).
 */
export function clusterGaugeReader(table: ClusterTable): ClusterGaugeReader {
  return () => {
    const out: ClusterGauge[] = [];
    for (const name of table.names()) {
      const c = table.get(name);
      if (c === undefined) continue;
      const ejected = new Set(c.ejected());
      out.push({
        cluster: name,
        activeRequests: c.limits.activeRequests,
        openConnections: c.limits.openConnections,
        pendingRequests: c.limits.pendingRequests,
        endpoints: c.endpoints.map((e) => ({ endpoint: `${e.config.workload}/${e.config.replica}`, ejected: ejected.has(e), healthy: e.health.healthy })),
      });
    }
    return out;
  };
}
