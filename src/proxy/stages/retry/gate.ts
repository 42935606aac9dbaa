import { ProxyReason } from '../../../errors.js';
import { GrpcStatus } from '../../grpc/grpc-status.js';
import { isIdempotent } from '../../pipeline/idempotent.js';
import type { Exchange } from '../../pipeline/exchange.js';
import type { LocalReply, UpstreamAttempt } from '../../pipeline/service.js';
import type { RetryPolicy } from './policy.js';

/**
 * The one retry gate: which outcomes of a try may be tried again, for HTTP/1 and HTTP/2 alike.
 * (Whether one actually is also needs attempts left, a body kept whole, time before the
 * deadline and the budget: RetryCall.mayRetry.)
 */

/** A response head the route asked to retry: its status (HTTP), or a trailers-only grpc-status (gRPC). */
export function retryableHead(ex: Exchange, attempt: UpstreamAttempt, policy: RetryPolicy): boolean {
  if (ex.grpc) return attempt.endStream && attempt.grpcStatus !== undefined && policy.grpcCodes.has(attempt.grpcStatus);
  return policy.httpCodes.has(attempt.status);
}

/**
 * A failure before any response head:
 * - nothing reached an upstream (connect failed, TLS refused): any method;
 * - the upstream reset or did not answer in time: it may have acted, so only idempotent
 *   methods (RFC 9110 §9.2.2); a gRPC call, whose methods are never idempotent by HTTP's rule,
 *   when its policy retries the status gRPC gives that failure (UNAVAILABLE for a reset,
 *   DEADLINE_EXCEEDED for a timeout), as a gRPC client's own retry policy would.
 */
export function retryableFailure(ex: Exchange, reply: LocalReply, policy: RetryPolicy): boolean {
  switch (reply.reason) {
    case ProxyReason.ConnectFailed:
    case ProxyReason.PeerRefused:
    case ProxyReason.NoEndpoints:
      return true;
    case ProxyReason.UpstreamReset:
      return ex.grpc ? policy.grpcCodes.has(GrpcStatus.Unavailable) : isIdempotent(ex.method);
    case ProxyReason.UpstreamTimeout:
      return ex.grpc ? policy.grpcCodes.has(GrpcStatus.DeadlineExceeded) : isIdempotent(ex.method);
    default:
      return false;
  }
}
