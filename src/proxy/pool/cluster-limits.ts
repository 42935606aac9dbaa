import type { ConnectionPoolConfig } from '../../api/snapshot.js';
import { ProxyReason } from '../../errors.js';
import { systemClock } from '../clock/clock.js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Permit } from '../pipeline/lease.js';
import type { LocalReply as UpstreamFailure } from '../pipeline/service.js';
import type { Connect } from './connect.js';
import { failure } from './failover.js';

/**
 * Longest wait in the pending queue for a connection (maxConnections reached), then 503
 * overloaded. A waiter whose client goes away leaves at once (the forwarders cancel it), so
 * this only bounds a queue behind an upstream that has stopped answering; 15 s is Envoy's
 * default route timeout, which bounds Envoy's pending requests the same way. A route's own
 * timeouts end the request sooner.
 */
export const MAX_PENDING_WAIT_MS = 15_000;

/** A request waiting for an upstream connection (maxConnections reached). */
export interface ConnectionWaiter {
  /** Set by ClusterLimits while queued (the wait is bounded). */
  timer: TimerHandle | null;
  /** Can this waiter use an idle h1 socket of `endpoint` (not excluded, not a fresh-only retry...)? */
  accepts(endpoint: object): boolean;
  /**
   * Takes an idle h1 socket of `endpoint` now (false: none left) and delivers it in a later
   * microtask, not inside the releasing forwarder's call.
   */
  takeOver(endpoint: object): boolean;
  /** A connection slot is free: go again (pick, reuse or connect). */
  grant(): void;
  /** Waited too long, or the cluster went away: answer with `f`. */
  reject(f: UpstreamFailure): void;
  /** Back to the queued state (a granted waiter that found no slot after all). */
  requeue(): void;
  /** The caller went away: leave the queue. */
  readonly cancel: () => void;
}

const NO_LIMIT = Number.POSITIVE_INFINITY;

/**
 * One request's place in a cluster's maxConcurrentRequests: given back exactly once however
 * many paths try (the response ends, the attempt fails, the client leaves, a deadline passes),
 * so the count can neither leak (locking a service out) nor go below the truth.
 */
class RequestPermit implements Permit {
  private held = true;
  constructor(private readonly limits: ClusterLimits) {}
  release(): void {
    if (!this.held) return;
    this.held = false;
    this.limits.activeRequests--;
  }
}

/**
 * Circuit breaking for one cluster (DestinationPolicy `connectionPool`), kept across
 * snapshots. Counts requests in flight (h1 exchanges + h2 streams) and connections open or
 * opening (h1 sockets + h2 sessions; every connect through the endpoint pools goes through
 * `counted`, so the count is exact whatever closes a socket). The counters are always kept
 * (two integer updates per request) so a limit added by a later snapshot starts exact; the
 * limits are Infinity when absent, so the checks cost one comparison.
 *
 * Requests that would need a new connection at maxConnections wait here in FIFO order for a
 * reusable socket released by another request (handed over directly) or a free slot, at most
 * `connectTimeoutMs` (a waiter must not wait forever, e.g. for a client that left).
 */
export class ClusterLimits {
  activeRequests = 0;
  openConnections = 0;
  maxConnections = NO_LIMIT;
  maxPendingRequests = NO_LIMIT;
  /** How long a request may wait in the queue (MAX_PENDING_WAIT_MS; tests shorten it). */
  maxWaitMs = MAX_PENDING_WAIT_MS;
  maxConcurrentRequests = NO_LIMIT;
  private readonly queue: ConnectionWaiter[] = [];
  private drainScheduled = false;
  private readonly onConnectionClose = (): void => this.connectionClosed();
  private readonly drain = (): void => this.serveSlots();

  constructor(
    private readonly clusterName: string,
    /** The queue's waits run on it (tests drive it by hand). */
    private readonly clock: Clock = systemClock,
  ) {}

  get pendingRequests(): number {
    return this.queue.length;
  }

  configure(config: ConnectionPoolConfig | undefined): void {
    this.maxConnections = config?.maxConnections ?? NO_LIMIT;
    this.maxPendingRequests = config?.maxPendingRequests ?? NO_LIMIT;
    this.maxConcurrentRequests = config?.maxConcurrentRequests ?? NO_LIMIT;
    if (this.queue.length > 0) this.scheduleDrain();
  }

  /**
   * Counts one request in: its permit (give it back with `release()`, which is safe to call
   * twice), or a failure (503 overloaded) when maxConcurrentRequests is reached.
   */
  admit(): Permit | UpstreamFailure {
    if (this.activeRequests >= this.maxConcurrentRequests) {
      return failure(503, ProxyReason.Overloaded, `cluster ${this.clusterName}: maxConcurrentRequests ${this.maxConcurrentRequests} reached`);
    }
    this.activeRequests++;
    return new RequestPermit(this);
  }

  get atConnectionLimit(): boolean {
    return this.openConnections >= this.maxConnections;
  }

  /** Wraps an endpoint's connect so every connection is counted from start to close. */
  counted(connect: Connect): Connect {
    return (cb) => {
      this.openConnections++;
      connect((f, socket) => {
        if (f !== null || socket === null) {
          this.connectionClosed();
        } else {
          socket.once('close', this.onConnectionClose);
        }
        cb(f, socket);
      });
    };
  }

  /**
   * Queues `w` for a connection (see enqueue) and returns its cancel function for the
   * forwarder; when the queue is full `w` is answered 503 overloaded at once (undefined).
   */
  wait(w: ConnectionWaiter): (() => void) | undefined {
    w.requeue();
    const full = this.enqueue(w, this.maxWaitMs);
    if (full === null) return w.cancel;
    w.reject(full);
    return undefined;
  }

  enqueue(w: ConnectionWaiter, waitMs: number): UpstreamFailure | null {
    if (this.queue.length >= this.maxPendingRequests) {
      return failure(503, ProxyReason.Overloaded, `cluster ${this.clusterName}: maxPendingRequests ${this.maxPendingRequests} reached`);
    }
    this.queue.push(w);
    w.timer = this.clock.setTimer(() => {
      w.timer = null;
      if (this.remove(w)) {
        w.reject(failure(503, ProxyReason.Overloaded, `cluster ${this.clusterName}: no connection within ${waitMs} ms (maxConnections ${this.maxConnections})`));
      }
    }, waitMs);
    return null;
  }

  /** Takes `w` out of the queue (cancelled); true when it was there. */
  remove(w: ConnectionWaiter): boolean {
    const i = this.queue.indexOf(w);
    if (i === -1) return false;
    this.queue.splice(i, 1);
    if (w.timer !== null) this.clock.clearTimer(w.timer);
    w.timer = null;
    return true;
  }

  /**
   * A reusable h1 socket of `endpoint` went back to its pool: the first waiter that can use it
   * takes it over (FIFO among the waiters that can).
   */
  released(endpoint: object): void {
    for (let i = 0; i < this.queue.length; i++) {
      const w = this.queue[i]!;
      if (!w.accepts(endpoint)) continue;
      if (!w.takeOver(endpoint)) return; // the socket was gone after all
      this.queue.splice(i, 1);
      if (w.timer !== null) this.clock.clearTimer(w.timer);
      w.timer = null;
      return;
    }
  }

  /** The cluster left the snapshot: every waiter is answered. */
  rejectAll(f: UpstreamFailure): void {
    for (const w of this.queue.splice(0)) {
      if (w.timer !== null) this.clock.clearTimer(w.timer);
      w.timer = null;
      w.reject(f);
    }
  }

  private connectionClosed(): void {
    this.openConnections--;
    if (this.queue.length > 0) this.scheduleDrain();
  }

  /**
   * Deferred to a microtask: a connect failure frees its slot just before the failover tries
   * the next endpoint in the same call chain, and that attempt must keep the slot.
   */
  private scheduleDrain(): void {
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    queueMicrotask(this.drain);
  }

  private serveSlots(): void {
    this.drainScheduled = false;
    while (this.queue.length > 0 && this.openConnections < this.maxConnections) {
      const w = this.queue.shift()!;
      if (w.timer !== null) this.clock.clearTimer(w.timer);
      w.timer = null;
      w.grant();
    }
  }
}
