import type { ClusterConfig } from '../../api/snapshot.js';
import { durationMs, type DestinationPolicySpec } from '../../config/resources/schema.js';

/** The ClusterConfig fields a DestinationPolicy sets (durations in ms; absent fields stay absent). */
export type PolicyFields = Pick<ClusterConfig, 'hashOn' | 'connectionPool' | 'outlierDetection' | 'retryBudget' | 'healthCheck'> & {
  loadBalancer?: ClusterConfig['loadBalancer'];
};

/** Converts a stored (defaulted) DestinationPolicy spec into cluster fields. */
export function policyFields(spec: DestinationPolicySpec): PolicyFields {
  const out: PolicyFields = {};
  const lb = spec.loadBalancer;
  if (lb !== undefined) {
    out.loadBalancer = lb.type;
    if (lb.hashOn !== undefined) {
      out.hashOn = 'header' in lb.hashOn ? { header: lb.hashOn.header } : { cookie: { name: lb.hashOn.cookie.name, ttlMs: lb.hashOn.cookie.ttl !== undefined ? durationMs(lb.hashOn.cookie.ttl) : 0 } };
    }
  }
  const pool = spec.connectionPool;
  if (pool !== undefined) {
    out.connectionPool = {
      ...(pool.maxConnections !== undefined ? { maxConnections: pool.maxConnections } : {}),
      ...(pool.maxPendingRequests !== undefined ? { maxPendingRequests: pool.maxPendingRequests } : {}),
      ...(pool.maxConcurrentRequests !== undefined ? { maxConcurrentRequests: pool.maxConcurrentRequests } : {}),
    };
  }
  const od = spec.outlierDetection;
  if (od !== undefined) {
    out.outlierDetection = {
      consecutive5xx: od.consecutive5xx,
      consecutiveConnectFailures: od.consecutiveConnectFailures,
      intervalMs: durationMs(od.interval),
      baseEjectionMs: durationMs(od.baseEjectionTime),
      maxEjectionPercent: od.maxEjectionPercent,
    };
  }
  if (spec.retryBudget !== undefined) out.retryBudget = { percent: spec.retryBudget.percent, minRetriesPerSecond: spec.retryBudget.minRetriesPerSecond };
  const hc = spec.healthCheck;
  if (hc !== undefined) {
    out.healthCheck = {
      ...(hc.http !== undefined ? { http: { path: hc.http.path } } : {}),
      ...(hc.grpc !== undefined ? { grpc: { service: hc.grpc.service } } : {}),
      intervalMs: durationMs(hc.interval),
      timeoutMs: durationMs(hc.timeout),
      healthyThreshold: hc.healthyThreshold,
      unhealthyThreshold: hc.unhealthyThreshold,
    };
  }
  return out;
}
