import { ProxyReason } from '../../../errors.js';
import type { Clock } from '../../clock/clock.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { GrpcStatus } from '../../grpc/grpc-status.js';
import { parseGrpcTimeout } from '../../grpc/grpc-timeout.js';
import { CancelReason, localReply } from '../../pipeline/service.js';
import type { ResponseHandler, Service } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';

export interface RequestTimeoutConfig {
  readonly clock: Clock;
}

/**
 * The whole exchange's deadline, retries and backoffs included: the route's `timeouts.request`
 * and, for gRPC, the caller's `grpc-timeout`, whichever is sooner. When it passes, whatever the
 * exchange waits on is abandoned (a slow endpoint counts it against itself) and the caller gets
 * 504 `request-timeout` (gRPC: DEADLINE_EXCEEDED), or the response is cut if it had started.
 * Attempts send what is left of it on as `grpc-timeout` (ex.deadline).
 */
export class RequestTimeoutStage implements Stage {
  constructor(
    private readonly config: RequestTimeoutConfig,
    private readonly next: Service,
  ) {}

  call(ex: Exchange, handler: ResponseHandler): void {
    let timeout = ex.rule !== null && ex.rule.timeouts.requestMs > 0 ? ex.rule.timeouts.requestMs : -1;
    if (ex.grpc) {
      const value = ex.header('grpc-timeout');
      if (value !== undefined) {
        const t = parseGrpcTimeout(value);
        if (t !== undefined && (timeout < 0 || t < timeout)) timeout = t;
      }
    }
    if (timeout >= 0) {
      const clock = this.config.clock;
      ex.deadline = ex.start + timeout;
      const left = ex.deadline - clock.now();
      ex.deadlineTimer = clock.setTimer(() => expire(ex, handler), left > 0 ? left : 0);
    }
    this.next.call(ex, handler);
  }

  finish(ex: Exchange): void {
    if (ex.deadlineTimer !== null) {
      this.config.clock.clearTimer(ex.deadlineTimer);
      ex.deadlineTimer = null;
    }
  }
}

function expire(ex: Exchange, handler: ResponseHandler): void {
  ex.deadlineTimer = null;
  if (ex.cancelled !== null) return;
  ex.cancel(CancelReason.Timeout);
  handler.onLocal(ex, localReply(504, ProxyReason.RequestTimeout, 'the request deadline passed', undefined, GrpcStatus.DeadlineExceeded));
}
