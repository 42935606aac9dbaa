import type { Exchange } from '../../pipeline/exchange.js';
import { isPermit, NO_PERMIT } from '../../pipeline/lease.js';
import type { Lease, LeaseSource, Permit } from '../../pipeline/lease.js';
import { ProxyReason } from '../../../errors.js';
import { CancelReason, localReply } from '../../pipeline/service.js';
import type { Cancellable, LocalReply, ResponseHandler, UpstreamAttempt } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';
import type { AttemptStarters } from '../context.js';
import { MAX_MESH_FAILOVERS, meshFailoverAllowed } from './failover.js';

export interface EndpointConfig {
  readonly leases: LeaseSource;
  readonly attempts: AttemptStarters;
}

/**
 * The end of every stack: an exchange takes a circuit-breaker permit from its source, gets a
 * connection to an endpoint (the balancer, pools and connect failover live in the source), and
 * goes upstream through the codec of its protocol. Two kinds of second try happen here, where
 * the endpoint is known, for HTTP/1 and HTTP/2 alike, and only for a request that can be sent
 * whole again:
 * - mesh failover: a peer proxy answered that its app is unavailable or that it drains (see
 *   failover.ts): that endpoint is avoided for a while and another one tried;
 * - a pooled connection found dead before anything was read: once more on a fresh connection.
 * Route retries (on statuses, with a budget) are the retry stage's, above.
 */
export class EndpointStage implements Stage {
  constructor(private readonly config: EndpointConfig) {}

  call(ex: Exchange, handler: ResponseHandler): void {
    new EndpointCall(ex, handler, this.config).start();
  }
}

/** One exchange at the endpoint stage: its permit, its current lease and attempt. */
class EndpointCall implements ResponseHandler, Cancellable {
  private permit: Permit = NO_PERMIT;
  private lease: Lease | null = null;
  private attempt: UpstreamAttempt | null = null;
  private withdraw: (() => void) | undefined = undefined;
  /** failoverKeys of endpoints that answered for their unavailable app (made on the first failover). */
  private tried: Set<object> | null = null;
  private failovers = 0;
  private fresh = false;
  private done = false;

  constructor(
    private readonly ex: Exchange,
    private readonly next: ResponseHandler,
    private readonly config: EndpointConfig,
  ) {}

  start(): void {
    const p = this.config.leases.admit(this.ex);
    if (!isPermit(p)) {
      this.done = true;
      this.next.onLocal(this.ex, p);
      return;
    }
    this.permit = p;
    this.acquire();
  }

  private acquire(): void {
    this.ex.pending = this;
    this.attempt = null;
    this.lease = null;
    this.withdraw = this.config.leases.acquire(this.ex, { exclude: this.tried ?? undefined, fresh: this.fresh }, this.onLease);
  }

  private readonly onLease = (failure: LocalReply | null, lease: Lease | null): void => {
    this.withdraw = undefined;
    if (this.done) {
      // Abandoned meanwhile: the connection goes back unused.
      lease?.release(true, false);
      return;
    }
    if (failure !== null || lease === null) {
      this.end();
      this.next.onLocal(this.ex, failure ?? localReply(503, ProxyReason.ConnectFailed, 'no upstream connection'));
      return;
    }
    this.lease = lease;
    const ex = this.ex;
    ex.upstreamPeer = lease.peer;
    const starters = this.config.attempts;
    const attempt = ex.protocol === 'http1' ? starters.http1(ex, lease as never, this) : starters.http2(ex, lease as never, this);
    // Known before it starts: a codec may call back (a failure, a head) inside start().
    this.attempt = attempt;
    attempt.start();
  };

  onInterim(ex: Exchange, head: unknown): void {
    this.next.onInterim(ex, head);
  }

  onHead(ex: Exchange, attempt: UpstreamAttempt): void {
    const lease = this.lease!;
    const key = lease.failoverKey;
    if (key !== undefined && this.failovers < MAX_MESH_FAILOVERS && ex.body.intact && meshFailoverAllowed(ex, attempt)) {
      this.failovers++;
      (this.tried ??= new Set()).add(key);
      lease.unavailable();
      // The answer is dropped unread with its connection; another endpoint gets the request.
      this.attempt = null;
      attempt.abort(true);
      this.acquire();
      return;
    }
    if (lease.responseHeaders !== undefined) ex.editResponse().addFields(lease.responseHeaders);
    this.next.onHead(ex, attempt);
  }

  onData(ex: Exchange, chunk: Buffer): void {
    this.next.onData(ex, chunk);
  }

  onEnd(ex: Exchange, trailers: unknown): void {
    this.end();
    this.next.onEnd(ex, trailers);
  }

  onLocal(ex: Exchange, reply: LocalReply): void {
    const attempt = this.attempt;
    if (attempt !== null && attempt.unsent && !this.fresh && !ex.headSent && ex.body.intact) {
      // A pooled connection the peer had closed while idle: once more, on a fresh one.
      this.fresh = true;
      this.acquire();
      return;
    }
    this.end();
    this.next.onLocal(ex, reply);
  }

  /** A stage above dropped the attempt after its head (a retry): the permit goes back. */
  onAborted(_ex: Exchange, attempt: UpstreamAttempt): void {
    if (attempt === this.attempt) this.end();
  }

  /** The exchange is abandoned (client gone, a deadline): give back what is held. */
  cancel(reason: CancelReason): void {
    if (this.done) return;
    const withdraw = this.withdraw;
    this.withdraw = undefined;
    withdraw?.();
    const attempt = this.attempt;
    this.attempt = null;
    attempt?.abort(reason === CancelReason.Timeout);
    this.end();
  }

  private end(): void {
    this.done = true;
    this.permit.release();
    if (this.ex.pending === this) this.ex.pending = null;
  }
}
