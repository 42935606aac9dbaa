import { ProxyReason } from '../../errors.js';
import type { Cluster } from '../cluster/cluster.js';
import type { Endpoint } from '../cluster/endpoint.js';
import type { LocalReply as UpstreamFailure } from '../pipeline/service.js';
import type { ConnectFailure } from './connect.js';

export const MAX_CONNECT_ATTEMPTS = 3;

export type Attempt<T> = (endpoint: Endpoint, cb: (failure: ConnectFailure | null, result: T | null) => void) => void;

/**
 * Picks an endpoint with the cluster's balancer and runs `attempt` (a connect or pool
 * acquire). On a connect failure it tries another endpoint, never the same one twice, up to
 * MAX_CONNECT_ATTEMPTS: nothing has been sent yet, so this is always safe. The endpoint's
 * pending count is raised while the attempt runs and stays raised on success: the caller
 * owns it then and lowers it when the exchange ends. Each outcome feeds the cluster's outlier
 * detection (consecutive connect failures). `hash`: the request's consistent-hash key, if any.
 */
export function connectWithFailover<T>(
  cluster: Cluster,
  attempt: Attempt<T>,
  cb: (failure: UpstreamFailure | null, result: T | null, endpoint: Endpoint | null) => void,
  exclude?: ReadonlySet<object>,
  first?: Endpoint,
  hash?: number,
): void {
  if (cluster.endpoints.length === 0) {
    cb(failure(503, ProxyReason.NoEndpoints, `cluster ${cluster.name} has no endpoints`), null, null);
    return;
  }
  // Endpoints that answered a mesh-made 503 for this request (failover) are not tried again.
  const tried = exclude !== undefined && exclude.size > 0 ? new Set<Endpoint>(exclude as ReadonlySet<Endpoint>) : new Set<Endpoint>();
  const excluded = tried.size;
  let last: ConnectFailure | null = null;
  let sawTls = false;
  const next = (): void => {
    let ep: Endpoint | undefined;
    if (first !== undefined && tried.size === excluded && !tried.has(first)) ep = first; // already picked by the caller
    else ep = tried.size - excluded < MAX_CONNECT_ATTEMPTS ? cluster.pick(tried, hash) : undefined;
    if (ep === undefined) {
      if (tried.size === excluded && excluded > 0) {
        // Failover found no other endpoint: the apps behind the ones tried were unavailable.
        cb(failure(503, ProxyReason.AppUnavailable, `cluster ${cluster.name}: the app behind each of ${excluded} endpoint(s) was unavailable`), null, null);
        return;
      }
      const lastSaid = last === null ? 'none' : last.where !== undefined ? `${last.where}: ${last.message}` : last.message;
      const msg = `cluster ${cluster.name}: ${tried.size - excluded} endpoint(s) tried, last: ${lastSaid}`;
      cb(sawTls ? failure(503, ProxyReason.PeerRefused, msg) : failure(503, ProxyReason.ConnectFailed, msg), null, null);
      return;
    }
    tried.add(ep);
    ep.load.pending++;
    attempt(ep, (f, result) => {
      if (f !== null || result === null) {
        ep.load.pending--;
        if (!ep.isRemoved) cluster.reportConnect(ep, false);
        last = f ?? { kind: 'refused', message: 'no connection' };
        if (last.kind === 'tls') sawTls = true;
        next();
        return;
      }
      cluster.reportConnect(ep, true);
      cb(null, result, ep);
    });
  };
  next();
}

export function failure(status: number, reason: ProxyReason, message: string): UpstreamFailure {
  return { status, reason, message };
}
