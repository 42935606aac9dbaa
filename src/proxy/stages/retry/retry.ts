import type { Clock, TimerHandle } from '../../clock/clock.js';
import type { ClusterTable } from '../../cluster/cluster-table.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { ForwardingHandler } from '../../pipeline/service.js';
import type { Cancellable, LocalReply, ResponseHandler, Service, UpstreamAttempt } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';
import type { RetryBudget } from '../../traffic/plan.js';
import { MAX_THROTTLE_WAIT_MS, retryableFailure, retryableHead, throttleWaitMs } from './gate.js';
import { RetryPolicies } from './policy.js';
import type { RetryPolicy } from './policy.js';

export interface RetryConfig {
  readonly clusters: ClusterTable;
  readonly clock: Clock;
  /** Uniform in [0, 1): backoff jitter. */
  readonly random: () => number;
}

/**
 * Route retries (HTTPRoute `retry`, GRPCRoute retry annotations): a try whose outcome the gate
 * allows (gate.ts) is dropped and the exchange goes down the stack again after a backoff with
 * jitter, while attempts are left, the body is kept whole, the deadline has not passed and the
 * backend cluster's retry budget allows it. Exchanges of rules without retries pass straight on.
 */
export class RetryStage implements Stage {
  private readonly policies = new RetryPolicies();

  constructor(
    private readonly config: RetryConfig,
    private readonly next: Service,
  ) {}

  call(ex: Exchange, handler: ResponseHandler): void {
    const policy = ex.rule !== null ? this.policies.of(ex.rule) : undefined;
    const budget = policy === undefined ? undefined : this.config.clusters.get(ex.backend ?? ex.site.cluster)?.retryBudget;
    if (policy === undefined || budget === undefined || ex.upgrade) {
      this.next.call(ex, handler);
      return;
    }
    budget.recordRequest();
    new RetryCall(ex, handler, this.next, policy, budget, this.config).start();
  }
}

class RetryCall extends ForwardingHandler implements Cancellable {
  private timer: TimerHandle | null = null;

  constructor(
    private readonly ex: Exchange,
    next: ResponseHandler,
    private readonly inner: Service,
    private readonly policy: RetryPolicy,
    private readonly budget: RetryBudget,
    private readonly config: RetryConfig,
  ) {
    super(next);
  }

  start(): void {
    this.inner.call(this.ex, this);
  }

  override onHead(ex: Exchange, attempt: UpstreamAttempt): void {
    if (retryableHead(ex, attempt, this.policy)) {
      // A 429 / RESOURCE_EXHAUSTED is never retried blindly: only after the wait it asks for,
      // and only when that wait fits before the deadline (or within MAX_THROTTLE_WAIT_MS).
      const asked = throttleWaitMs(ex, attempt, this.config.clock.epochMs());
      if (asked !== null && this.mayRetry(asked ?? 0)) {
        // The answer is dropped unread and tried again. Whether it counts against the endpoint
        // is its status's to say (a 503 does, a retried 429 does not), not the retry's.
        attempt.abort(false);
        this.retryLater(asked ?? 0);
        return;
      }
    }
    this.next.onHead(ex, attempt);
  }

  override onLocal(ex: Exchange, reply: LocalReply): void {
    if (!ex.headSent && ex.cancelled === null && retryableFailure(ex, reply, this.policy) && this.mayRetry()) {
      this.retryLater();
      return;
    }
    this.next.onLocal(ex, reply);
  }

  /**
   * Attempts left, the whole body kept, time left before the deadline, and the budget allows
   * one more. `waitMs`: a wait the server asked for, which must end before the deadline (or
   * within MAX_THROTTLE_WAIT_MS without one): a retry that could only run out of time is not made.
   */
  private mayRetry(waitMs = 0): boolean {
    const ex = this.ex;
    if (ex.retries >= this.policy.attempts || this.timer !== null || !ex.body.intact) return false;
    const now = this.config.clock.now();
    if (ex.deadline > 0 && now + waitMs >= ex.deadline) return false;
    if (waitMs > MAX_THROTTLE_WAIT_MS) return false;
    return this.budget.tryRetry();
  }

  /** Tries again after the backoff (with jitter), or after `atLeastMs` when the server asked for longer. */
  private retryLater(atLeastMs = 0): void {
    const ex = this.ex;
    const b = this.policy.backoffMs;
    const backoff = b <= 0 ? 0 : b + this.config.random() * b;
    const wait = backoff > atLeastMs ? backoff : atLeastMs;
    if (wait <= 0) {
      ex.retries++;
      this.inner.call(ex, this);
      return;
    }
    ex.pending = this;
    this.timer = this.config.clock.setTimer(this.fire, wait);
  }

  private readonly fire = (): void => {
    this.timer = null;
    const ex = this.ex;
    if (ex.pending === this) ex.pending = null;
    if (ex.cancelled !== null) return;
    // Counted when it is sent: a retry abandoned during its backoff was never made.
    ex.retries++;
    this.inner.call(ex, this);
  };

  cancel(): void {
    if (this.timer !== null) {
      this.config.clock.clearTimer(this.timer);
      this.timer = null;
    }
  }
}
