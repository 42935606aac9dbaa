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

/** Longest server-asked wait (retry-after, grpc-retry-pushback-ms) a retry honours when the exchange has no deadline. */
export const MAX_THROTTLE_WAIT_MS = 10_000;

/**
 * A "slow down" answer: HTTP 429, or a trailers-only gRPC RESOURCE_EXHAUSTED. Such an answer
 * is retried (when its route lists it) only after the wait the server asks for:
 * - `undefined`: not a throttling answer (the usual backoff applies);
 * - `null`: it is one, and must not be retried (gRPC `grpc-retry-pushback-ms` negative or
 *   malformed means "do not retry", gRFC A6);
 * - a number: the ms the server asked to wait (0 when it named no wait: the usual backoff).
 * Read from `grpc-retry-pushback-ms` (gRPC), else `retry-after` (delay-seconds, or an HTTP-date
 * against `epochMs`, RFC 9110 §10.2.3; a malformed one counts as none).
 */
export function throttleWaitMs(ex: Exchange, attempt: UpstreamAttempt, epochMs: number): number | null | undefined {
  if (ex.grpc) {
    if (!attempt.endStream || attempt.grpcStatus !== GrpcStatus.ResourceExhausted) return undefined;
    const pushback = attempt.header('grpc-retry-pushback-ms');
    if (pushback !== undefined) return /^[0-9]{1,9}$/.test(pushback) ? Number(pushback) : null;
  } else if (attempt.status !== 429) return undefined;
  const ra = attempt.header('retry-after');
  if (ra === undefined) return 0;
  if (/^[0-9]{1,9}$/.test(ra)) return Number(ra) * 1000;
  const at = Date.parse(ra);
  return Number.isFinite(at) ? Math.max(0, at - epochMs) : 0;
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
