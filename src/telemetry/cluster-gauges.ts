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
 * What the gauges read of the data plane's clusters. Telemetry owns this shape and imports
 * nothing from src/proxy/ (enforced in eslint.config.js); the proxy's ClusterTable, Cluster and
 * Endpoint satisfy it as they are, so runtime.ts hands its table straight to clusterGaugeReader.
 */
export interface ClusterGaugeSource {
  names(): string[];
  get(name: string): ClusterGaugeView | undefined;
}

export interface ClusterGaugeView {
  readonly limits: { readonly activeRequests: number; readonly openConnections: number; readonly pendingRequests: number };
  readonly endpoints: readonly EndpointGaugeView[];
  /** The endpoints outlier detection ejects now (the same objects as in `endpoints`). */
  ejected(): Iterable<EndpointGaugeView>;
}

export interface EndpointGaugeView {
  readonly config: { readonly workload: string; readonly replica: number };
  readonly health: { readonly healthy: boolean };
}

/**
 * Reads the live clusters (nothing is copied on the data path: the breaker counters and
 * endpoint states are the ones the upstreams use).
 */
export function clusterGaugeReader(source: ClusterGaugeSource): ClusterGaugeReader {
  return () => {
    const out: ClusterGauge[] = [];
    for (const name of source.names()) {
      const c = source.get(name);
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
