import { ProxyReason } from '../../../errors.js';
import type { Clock } from '../../clock/clock.js';
import { GrpcStatus } from '../../grpc/grpc-status.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { localReply } from '../../pipeline/service.js';
import type { LocalReply, ResponseHandler, Service } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';
import type { PolicySlot } from '../../policy/policy-table.js';
import type { RateLimiter } from '../../policy/rate-limiter.js';

export interface RateLimitStageConfig {
  readonly slot: PolicySlot;
  readonly clock: Clock;
}

/**
 * Rate limits on inbound listeners, after authz (a refused caller takes nothing from a bucket).
 * Enforced RateLimitPolicies over their limit answer 429 `rate-limited` (gRPC:
 * RESOURCE_EXHAUSTED, trailers-only) with `retry-after` and the `RateLimit-Policy` /
 * `RateLimit` fields of draft-ietf-httpapi-ratelimit-headers; gRPC callers also get
 * `grpc-retry-pushback-ms` (gRFC A6). Shadow policies admit and count. The mesh's own health
 * checks are never limited. Ports without limits pass exchanges straight on.
 */
export class RateLimitStage implements Stage {
  constructor(
    private readonly config: RateLimitStageConfig,
    private readonly next: Service,
  ) {}

  call(ex: Exchange, handler: ResponseHandler): void {
    const policy = this.config.slot.current;
    if (policy === null || !policy.hasRateLimits || policy.authorizer.isHealthCheck(ex)) {
      this.next.call(ex, handler);
      return;
    }
    const now = this.config.clock.now();
    if (policy.enforce.length > 0) {
      const over = policy.admit(ex, now);
      if (over !== null) {
        ex.rateLimit = over.label;
        handler.onLocal(ex, tooManyRequests(over, policy.waitMs, now, ex.grpc));
        return;
      }
    }
    if (policy.shadow.length > 0) {
      const over = policy.shadowCheck(ex, now);
      if (over !== null) ex.rateLimit = over.label;
    }
    this.next.call(ex, handler);
  }
}

/** The 429 for a request `limiter` refused, which would be admitted in `waitMs`. */
export function tooManyRequests(limiter: RateLimiter, waitMs: number, now: number, grpc: boolean): LocalReply {
  const { policy, limit } = limiter.exceeded(now);
  // Whole seconds, rounded up: never earlier than the RateLimit field's `t` (draft §6).
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  const headers = ['retry-after', String(seconds), 'ratelimit-policy', policy.join(', '), 'ratelimit', limit.join(', ')];
  if (grpc) headers.push('grpc-retry-pushback-ms', String(Math.ceil(waitMs)));
  return localReply(429, ProxyReason.RateLimited, `rate limit of ${limiter.label} exceeded; retry in ${seconds} s`, headers, GrpcStatus.ResourceExhausted);
}
