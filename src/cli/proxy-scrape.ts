import type { PrometheusTargetGroup } from '../api/registry.js';
import { API_PREFIX } from '../api/registry.js';
import { scrapeTargets, type TargetScrape } from '../telemetry/golden/scrape.js';
import { apiGet, type ControlPlaneConnection } from './api.js';

/** Every proxy `trellis stat` and `edges` read, on every host. */
export function proxyTargets(conn: ControlPlaneConnection): Promise<PrometheusTargetGroup[]> {
  return apiGet<PrometheusTargetGroup[]>(conn, '/prometheus/targets?remote=1');
}

/**
 * Scrapes the targets: a proxy on this host's loopback directly, a proxy on another host (its
 * remote admin listener answers only the control plane's certificate) through the control
 * plane's relay, GET /api/v1/proxies/<node id>/metrics, with this CLI's credentials.
 */
export function scrapeProxies(conn: ControlPlaneConnection, groups: readonly PrometheusTargetGroup[], onError: (target: string, err: Error) => void): Promise<TargetScrape[]> {
  return scrapeTargets(groups, onError, undefined, undefined, (_target, labels) =>
    labels.__scheme__ === 'https' && labels.trellis_node_id !== undefined
      ? { url: `${conn.url}${API_PREFIX}/proxies/${encodeURIComponent(labels.trellis_node_id)}/metrics`, headers: conn.headers, ...(conn.dispatcher !== undefined ? { dispatcher: conn.dispatcher } : {}) }
      : undefined,
  );
}
