import type { PolicyRequest } from '../policy/types.js';

/**
 * What an egress AuthorizationPolicy sees: the caller is this proxy's own workload (egress is
 * decided on the caller's side, so `from.source` names which workloads may use the
 * ExternalService), the operation is the request's (HTTP) or nothing but the host (TLS, where
 * the proxy sees only the SNI: a rule with `paths` or `methods` never matches a TLS connection).
 */
export function egressRequest(identity: string, host: string, http?: Omit<PolicyRequest, 'peer' | 'host'>): PolicyRequest {
  if (http !== undefined) return { peer: identity, host, method: http.method, path: http.path, query: http.query, headers: http.headers, grpc: http.grpc };
  return { peer: identity, host, method: '', path: '', query: '', headers: [], grpc: false };
}
