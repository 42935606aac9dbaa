import type { Clock, TimerHandle } from '../clock/clock.js';

/**
 * What the connection timer guards: an idle keep-alive connection, a head being read
 * (slowloris), or a request body that has stopped arriving.
 */
export const enum Watch {
  None,
  Idle,
  Head,
  Body,
}

/**
 * One timer per downstream connection, made lazily and kept: arming sets a deadline (no timer
 * call while the running timer fires before it); when it fires early it re-arms for the rest.
 * So a request costs one clock read, not a setTimeout/clearTimeout pair.
 */
export class ConnectionTimer {
  private timer: TimerHandle | null = null;
  /** When `timer` fires (clock ms). */
  private timerAt = 0;
  private deadline = 0;
  private watching: Watch = Watch.None;
  private readonly fire = (): void => this.onTimer();

  constructor(
    private readonly clock: Clock,
    private readonly idleMs: number,
    private readonly headMs: number,
    private readonly bodyIdleMs: number,
    /** Called when a watched deadline passes. */
    private readonly expired: (what: Watch) => void,
  ) {}

  /**
   * Starts watching `what`; watching it already keeps its deadline (a head's runs from its
   * first byte), unless `restart` (a body's restarts with each chunk: it bounds the quiet time).
   */
  arm(what: Watch, restart = false): void {
    if (what === this.watching && !restart) return;
    const ms = what === Watch.Idle ? this.idleMs : what === Watch.Head ? this.headMs : this.bodyIdleMs;
    if (ms <= 0) {
      this.watching = Watch.None;
      return;
    }
    this.watching = what;
    this.deadline = this.clock.now() + ms;
    if (this.timer !== null && this.timerAt <= this.deadline) return;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = this.clock.setTimer(this.fire, ms);
    this.timerAt = this.deadline;
  }

  /** Nothing to watch (a request is being served); the timer is left to fire for nothing. */
  disarm(): void {
    this.watching = Watch.None;
  }

  /** The connection is over. */
  stop(): void {
    this.watching = Watch.None;
    if (this.timer !== null) {
      this.clock.clearTimer(this.timer);
      this.timer = null;
    }
  }

  private onTimer(): void {
    this.timer = null;
    if (this.watching === Watch.None) return;
    const now = this.clock.now();
    if (now < this.deadline) {
      // Re-armed since this timer was set: wait for the rest.
      this.timer = this.clock.setTimer(this.fire, this.deadline - now);
      this.timerAt = this.deadline;
      return;
    }
    const what = this.watching;
    this.watching = Watch.None;
    this.expired(what);
  }
}
