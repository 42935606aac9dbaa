import type { Clock, TimerHandle } from '../../clock/clock.js';
import type { ClusterTable } from '../../cluster/cluster-table.js';
import { replayOf } from '../../pipeline/body.js';
import { Exchange } from '../../pipeline/exchange.js';
import { HeadEdits } from '../../pipeline/head-edits.js';
import { CancelReason } from '../../pipeline/service.js';
import type { ResponseHandler, Service } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';
import { percentHit } from '../../routing/backend.js';
import { shadowAuthority } from './shadow.js';

export interface MirrorConfig {
  readonly clusters: ClusterTable;
  readonly random: () => number;
  readonly clock: Clock;
}

/**
 * A copy that gets no answer in this time is abandoned (its connection and permit given back):
 * a mirror that hangs must not hold the mirror cluster's resources.
 */
export const MIRROR_TIMEOUT_MS = 10_000;

/** One mirrored copy: its answer is read and dropped; nothing of it reaches the caller. */
class MirrorCopy implements ResponseHandler {
  private timer: TimerHandle | null;

  constructor(
    private readonly copy: Exchange,
    private readonly clock: Clock,
  ) {
    this.timer = clock.setTimer(this.expire, MIRROR_TIMEOUT_MS);
  }

  private readonly expire = (): void => {
    this.timer = null;
    this.copy.cancel(CancelReason.Timeout);
  };

  private done(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  onInterim(): void {}
  onHead(): void {}
  onData(): void {}
  onEnd(): void {
    this.done();
  }
  onLocal(): void {
    this.done();
  }
}

/**
 * RequestMirror filters: once the request's body is complete and kept whole, a copy goes to
 * each mirror cluster (rolled per request against its percentage) through the same endpoint
 * stage, with `-shadow` appended to its host; the copies' answers are dropped. A body too
 * large to keep is not mirrored. The copies carry the same trace headers and make no span or
 * record of their own.
 */
export class MirrorStage implements Stage {
  constructor(
    private readonly config: MirrorConfig,
    private readonly next: Service,
  ) {}

  call(ex: Exchange, handler: ResponseHandler): void {
    const mirrors = ex.rule?.filters.mirrors;
    this.next.call(ex, handler);
    // Once per exchange: a retry comes down the stack again, its copies went out the first time.
    if (mirrors === undefined || mirrors.length === 0 || ex.upgrade || ex.retries > 0) return;
    let targets: string[] | null = null;
    for (const m of mirrors) {
      if (this.config.clusters.get(m.cluster) !== undefined && percentHit(m.percent, this.config.random)) (targets ??= []).push(m.cluster);
    }
    if (targets === null) return;
    const chosen = targets;
    ex.body.whenEnded(() => {
      if (!ex.body.intact) return;
      for (const cluster of chosen) {
        const copy = copyFor(ex, cluster);
        this.next.call(copy, new MirrorCopy(copy, this.config.clock));
      }
    });
  }
}

/** The exchange a mirror sends: the same request, its edits, the kept body, a shadow host. */
function copyFor(ex: Exchange, cluster: string): Exchange {
  const copy = new Exchange({
    site: ex.site,
    protocol: ex.protocol,
    peer: ex.peer,
    clientAddress: ex.clientAddress,
    method: ex.method,
    target: ex.target,
    headers: ex.headers,
    authority: ex.host,
    wire: ex.wire,
    grpc: ex.grpc,
    upgrade: false,
    body: replayOf(ex.body),
    start: ex.start,
    startedAt: ex.startedAt,
  });
  const edits = ex.requestEdits !== null ? ex.requestEdits.clone() : new HeadEdits();
  const authority = edits.authority ?? ex.host;
  if (authority !== undefined) edits.authority = shadowAuthority(authority);
  copy.requestEdits = edits;
  copy.path = ex.path;
  copy.query = ex.query;
  copy.deadline = ex.deadline;
  copy.backend = cluster;
  return copy;
}

