import { ProxyReason } from '../../../errors.js';
import type { Exchange } from '../../pipeline/exchange.js';
import { localReply } from '../../pipeline/service.js';
import type { ResponseHandler, Service } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';

export interface DrainConfig {
  /** True while the listener drains. */
  isDraining(): boolean;
}

/**
 * While the proxy drains, a new request on a connection still open is answered
 * `503 draining` (gRPC: UNAVAILABLE) and its connection closed after the answer, rather than
 * dropped: a calling proxy reads the reason and fails over to another endpoint at once (any
 * method: nothing reached the app).
 */
export class DrainStage implements Stage {
  constructor(
    private readonly config: DrainConfig,
    private readonly next: Service,
  ) {}

  call(ex: Exchange, handler: ResponseHandler): void {
    if (this.config.isDraining()) {
      handler.onLocal(ex, localReply(503, ProxyReason.Draining, 'the proxy is draining'));
      return;
    }
    this.next.call(ex, handler);
  }
}
