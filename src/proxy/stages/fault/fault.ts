import { ProxyReason } from '../../../errors.js';
import type { Clock, TimerHandle } from '../../clock/clock.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { localReply } from '../../pipeline/service.js';
import type { Cancellable, ResponseHandler, Service } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';
import { percentHit } from '../../routing/backend.js';

export interface FaultConfig {
  readonly clock: Clock;
  readonly random: () => number;
}

/**
 * FaultInjection on the matched rule: an abort answers with the configured status (reason
 * `fault-injected`) without going upstream; a delay holds the request for the configured time
 * first. Each is rolled per request against its percentage.
 */
export class FaultStage implements Stage {
  constructor(
    private readonly config: FaultConfig,
    private readonly next: Service,
  ) {}

  call(ex: Exchange, handler: ResponseHandler): void {
    const fault = ex.rule?.filters.fault;
    if (fault === undefined) {
      this.next.call(ex, handler);
      return;
    }
    const random = this.config.random;
    if (fault.abort !== undefined && percentHit(fault.abort.percent, random)) {
      // Counted, as Istio does, under the route's service: the abort happens before any backend.
      ex.backend = undefined;
      handler.onLocal(ex, localReply(fault.abort.status, ProxyReason.FaultInjected, `fault injected by ${ex.route ?? 'a route'}`));
      return;
    }
    if (fault.delay !== undefined && fault.delay.ms > 0 && percentHit(fault.delay.percent, random)) {
      new Delay(ex, handler, this.next, this.config.clock, fault.delay.ms);
      return;
    }
    this.next.call(ex, handler);
  }
}

/** A request held by a fault delay: the client leaving (or a deadline) ends the wait. */
class Delay implements Cancellable {
  private readonly timer: TimerHandle;

  constructor(
    private readonly ex: Exchange,
    private readonly handler: ResponseHandler,
    private readonly next: Service,
    private readonly clock: Clock,
    ms: number,
  ) {
    ex.pending = this;
    this.timer = clock.setTimer(this.fire, ms);
  }

  private readonly fire = (): void => {
    const ex = this.ex;
    if (ex.pending === this) ex.pending = null;
    if (ex.cancelled !== null) return;
    this.next.call(ex, this.handler);
  };

  cancel(): void {
    this.clock.clearTimer(this.timer);
  }
}
