import type { ClusterConfig } from '../../api/snapshot.js';
import type { SnapshotProblem } from './snapshot-error.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Origin-form path of a health check request: printable, no spaces (it goes into a request line). */
const PROBE_PATH = /^\/[\x21-\x7e]*$/;

/**
 * Checks the DestinationPolicy fields of one cluster (`at` = `clusters[<i>]`), adding every
 * problem to `out`. The snapshot's shape (names, endpoints) is checked earlier by the
 * control client; this covers what the resilience code relies on.
 */
export function validateClusterPolicy(c: ClusterConfig, at: string, out: SnapshotProblem[]): void {
  const err = (path: string, message: string): void => {
    out.push({ path: `${at}.${path}`, message });
  };
  const int = (v: unknown, path: string, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      err(path, max === Number.MAX_SAFE_INTEGER ? `expected an integer >= ${min}` : `expected an integer ${min}..${max}`);
    }
  };

  if (c.hashOn !== undefined) {
    const h = c.hashOn as { header?: unknown; cookie?: { name?: unknown; ttlMs?: unknown } };
    if (typeof h !== 'object' || h === null) err('hashOn', 'expected an object');
    else if ('header' in h) {
      if (typeof h.header !== 'string' || !TOKEN.test(h.header)) err('hashOn.header', 'expected a header name');
    } else if (typeof h.cookie === 'object' && h.cookie !== null) {
      if (typeof h.cookie.name !== 'string' || !TOKEN.test(h.cookie.name)) err('hashOn.cookie.name', 'expected a cookie name');
      int(h.cookie.ttlMs, 'hashOn.cookie.ttlMs', 0);
    } else err('hashOn', 'expected header or cookie');
  }
  if (c.loadBalancer === 'consistent-hash' && c.hashOn === undefined) err('hashOn', 'required when loadBalancer is consistent-hash');

  const cp = c.connectionPool;
  if (cp !== undefined) {
    if (cp.maxConnections !== undefined) int(cp.maxConnections, 'connectionPool.maxConnections', 1);
    // 0 is allowed: never wait for a connection, answer 503 overloaded at once
    if (cp.maxPendingRequests !== undefined) int(cp.maxPendingRequests, 'connectionPool.maxPendingRequests', 0);
    if (cp.maxConcurrentRequests !== undefined) int(cp.maxConcurrentRequests, 'connectionPool.maxConcurrentRequests', 1);
  }

  const od = c.outlierDetection;
  if (od !== undefined) {
    int(od.consecutive5xx, 'outlierDetection.consecutive5xx', 0);
    int(od.consecutiveConnectFailures, 'outlierDetection.consecutiveConnectFailures', 0);
    int(od.intervalMs, 'outlierDetection.intervalMs', 1);
    int(od.baseEjectionMs, 'outlierDetection.baseEjectionMs', 1);
    int(od.maxEjectionPercent, 'outlierDetection.maxEjectionPercent', 0, 100);
  }

  const rb = c.retryBudget;
  if (rb !== undefined) {
    if (typeof rb.percent !== 'number' || !Number.isFinite(rb.percent) || rb.percent < 0) err('retryBudget.percent', 'expected a number >= 0');
    int(rb.minRetriesPerSecond, 'retryBudget.minRetriesPerSecond', 0);
  }

  const hc = c.healthCheck;
  if (hc !== undefined) {
    if ((hc.http === undefined) === (hc.grpc === undefined)) err('healthCheck', 'expected exactly one of http and grpc');
    if (hc.http !== undefined && (typeof hc.http.path !== 'string' || !PROBE_PATH.test(hc.http.path))) {
      err('healthCheck.http.path', 'expected a path starting with / (no spaces or control characters)');
    }
    if (hc.grpc !== undefined && typeof hc.grpc.service !== 'string') err('healthCheck.grpc.service', 'expected a string');
    int(hc.intervalMs, 'healthCheck.intervalMs', 1);
    int(hc.timeoutMs, 'healthCheck.timeoutMs', 1);
    int(hc.healthyThreshold, 'healthCheck.healthyThreshold', 1);
    int(hc.unhealthyThreshold, 'healthCheck.unhealthyThreshold', 1);
  }
}
