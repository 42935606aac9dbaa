import { ProxyReason, REASON_HEADER } from '../../../errors.js';
import { isIdempotent } from '../../pipeline/idempotent.js';
import type { Exchange } from '../../pipeline/exchange.js';
import type { UpstreamAttempt } from '../../pipeline/service.js';

/** Failovers after a mesh-made answer from a peer proxy, beyond the first try. */
export const MAX_MESH_FAILOVERS = 2;

/**
 * Whether a peer proxy's own answer lets the request go to another endpoint: its
 * `app-unavailable` or `draining` (it reached no app: any method), or its `upstream-reset` to
 * an idempotent request (its app closed the connection without a response byte, as a killed
 * app does). HTTP callers see these as 503/502; gRPC callers as a trailers-only UNAVAILABLE,
 * both with `trellis-reason`. Only statuses a peer proxy uses for them are looked at, so this
 * costs nothing on other responses.
 */
export function meshFailoverAllowed(ex: Exchange, attempt: UpstreamAttempt): boolean {
  const status = attempt.status;
  if (status !== 503 && status !== 502 && !(ex.grpc && attempt.endStream && status === 200)) return false;
  const reason = attempt.header(REASON_HEADER);
  if (reason === undefined) return false;
  if (reason === ProxyReason.AppUnavailable || reason === ProxyReason.Draining) return true;
  return reason === ProxyReason.UpstreamReset && !ex.grpc && isIdempotent(ex.method);
}
