import { ProxyReason } from '../../../errors.js';
import type { Clock, TimerHandle } from '../../clock/clock.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { CancelReason, ForwardingHandler, localReply } from '../../pipeline/service.js';
import type { LocalReply, ResponseHandler, Service, UpstreamAttempt } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';

export interface TryTimeoutConfig {
  readonly clock: Clock;
}

/**
 * One attempt's deadline (the route's `timeouts.backendRequest`), until the response head:
 * when it passes, the attempt is abandoned as a failure of its endpoint and the stage above
 * (retry) gets 504 `upstream-timeout`, which it may retry. Sits below the retry stage, so each
 * try gets the full time.
 */
export class TryTimeoutStage implements Stage {
  constructor(
    private readonly config: TryTimeoutConfig,
    private readonly next: Service,
  ) {}

  call(ex: Exchange, handler: ResponseHandler): void {
    const ms = ex.rule !== null ? ex.rule.timeouts.backendRequestMs : 0;
    if (ms <= 0) {
      this.next.call(ex, handler);
      return;
    }
    const t = new TryDeadline(ex, handler, this.config.clock, ms);
    this.next.call(ex, t);
  }
}

class TryDeadline extends ForwardingHandler {
  private timer: TimerHandle | null;

  constructor(
    private readonly ex: Exchange,
    next: ResponseHandler,
    private readonly clock: Clock,
    private readonly ms: number,
  ) {
    super(next);
    this.timer = clock.setTimer(this.fire, ms);
  }

  private readonly fire = (): void => {
    this.timer = null;
    const ex = this.ex;
    if (ex.cancelled !== null || ex.headSent) return;
    // Abandon this try only (not the exchange): the retry stage may send another.
    const pending = ex.pending;
    ex.pending = null;
    pending?.cancel(CancelReason.Timeout);
    this.next.onLocal(ex, localReply(504, ProxyReason.UpstreamTimeout, `upstream sent no response head in ${this.ms} ms`));
  };

  private stop(): void {
    if (this.timer !== null) {
      this.clock.clearTimer(this.timer);
      this.timer = null;
    }
  }

  override onHead(ex: Exchange, attempt: UpstreamAttempt): void {
    this.stop();
    this.next.onHead(ex, attempt);
  }

  override onLocal(ex: Exchange, reply: LocalReply): void {
    if (this.timer === null && !ex.headSent) return; // already answered by the timeout
    this.stop();
    this.next.onLocal(ex, reply);
  }
}
