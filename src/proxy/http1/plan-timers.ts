/**
 * The deadlines a request plan adds to an HTTP/1 exchange: the wake-up after a fault delay or a
 * retry backoff, the try timeout (one attempt, until the response head) and the request timeout
 * (the whole request, retries included). One per connection, made by the first planned request
 * that needs one; requests whose plan has no delay and no timeouts never touch it.
 *
 * Like the connection's own timer, a single setTimeout serves all three and is re-armed by
 * moving deadlines: setting a later deadline while the timer fires sooner costs no timer call;
 * when it fires early it re-arms for what is left.
 */
import { performance } from 'node:perf_hooks';

/** What the owning connection does when a deadline passes (each called only while set). */
export interface PlanTimerOwner {
  onRequestTimeout(): void;
  onTryTimeout(): void;
  onWake(): void;
}

export class PlanTimers {
  /** Deadlines in performance.now() ms; 0 = not running. */
  private wakeAt = 0;
  private tryAt = 0;
  private requestAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private readonly fire: () => void;

  constructor(private readonly owner: PlanTimerOwner) {
    this.fire = this.onTimer.bind(this);
  }

  /** A delay or backoff is running (no acquire is in flight meanwhile). */
  get waiting(): boolean {
    return this.wakeAt !== 0;
  }

  wakeIn(ms: number): void {
    this.wakeAt = performance.now() + ms;
    this.schedule(this.wakeAt);
  }

  tryTimeoutIn(ms: number): void {
    this.tryAt = performance.now() + ms;
    this.schedule(this.tryAt);
  }

  requestTimeoutIn(ms: number): void {
    this.requestAt = performance.now() + ms;
    this.schedule(this.requestAt);
  }

  clearTry(): void {
    this.tryAt = 0;
  }

  clearWake(): void {
    this.wakeAt = 0;
  }

  /** Between exchanges: deadlines off; a running timer is left to fire for nothing (cheaper than clearing it). */
  clear(): void {
    this.wakeAt = 0;
    this.tryAt = 0;
    this.requestAt = 0;
  }

  /** The connection is over. */
  stop(): void {
    this.clear();
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private schedule(at: number): void {
    if (this.timer !== null) {
      if (this.timerAt <= at) return;
      clearTimeout(this.timer);
    }
    const ms = at - performance.now();
    this.timer = setTimeout(this.fire, ms > 0 ? ms : 0);
    this.timerAt = at;
  }

  private onTimer(): void {
    this.timer = null;
    const now = performance.now();
    // The request deadline first: it covers the others.
    if (this.requestAt !== 0 && now >= this.requestAt) {
      this.requestAt = 0;
      this.tryAt = 0;
      this.owner.onRequestTimeout();
    } else if (this.tryAt !== 0 && now >= this.tryAt) {
      this.tryAt = 0;
      this.owner.onTryTimeout();
    } else if (this.wakeAt !== 0 && now >= this.wakeAt) {
      this.wakeAt = 0;
      this.owner.onWake();
    }
    // What is left, or was set meanwhile by the owner (none once it stopped us).
    let next = this.requestAt;
    if (this.tryAt !== 0 && (next === 0 || this.tryAt < next)) next = this.tryAt;
    if (this.wakeAt !== 0 && (next === 0 || this.wakeAt < next)) next = this.wakeAt;
    if (next !== 0) this.schedule(next);
  }
}
