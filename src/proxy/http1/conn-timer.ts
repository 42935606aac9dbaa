import type { Clock, TimerHandle } from '../clock/clock.js';

/** What the connection timer guards: an idle keep-alive connection, or a head being read (slowloris). */
export const enum Watch {
  None,
  Idle,
  Head,
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
    /** Called when a watched deadline passes. */
    private readonly expired: (what: Watch) => void,
  ) {}

  /** Starts watching `what`; watching it already keeps its deadline (a head's runs from its first byte). */
  arm(what: Watch): void {
    if (what === this.watching) return;
    const ms = what === Watch.Idle ? this.idleMs : this.headMs;
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
