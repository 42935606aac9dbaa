import type { Clock, TimerHandle } from './clock.js';

interface ManualTimer {
  readonly __timer: true;
  at: number;
  seq: number;
  fn: (() => void) | null;
}

/**
 * A Clock whose time moves only when a test says so: `advance(ms)` runs every timer that falls
 * due, in order of due time (then of creation), including timers set by the callbacks it runs.
 * Test support; never used by the proxy itself.
 */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: ManualTimer[] = [];

  constructor(start = 1_000, private readonly epochBase = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  epochMs(): number {
    return this.epochBase + this.t;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { __timer: true, at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.push(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    const timer = handle as ManualTimer;
    timer.fn = null;
    this.timers = this.timers.filter((x) => x !== timer);
  }

  /** Timers set and not yet run or cleared. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, running due timers in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const x of this.timers) {
        if (x.at <= end && (next === undefined || x.at < next.at || (x.at === next.at && x.seq < next.seq))) next = x;
      }
      if (next === undefined) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = Math.max(this.t, next.at);
      const fn = next.fn;
      next.fn = null;
      fn?.();
    }
    this.t = end;
  }
}
