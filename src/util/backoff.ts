/**
 * Exponential backoff: initial, doubling up to max. `reset()` after a healthy spell.
 * Pure (no timers), so tests step it by hand.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private attempt = 0;

  constructor(opts: BackoffOptions) {
    this.initialMs = opts.initialMs;
    this.maxMs = opts.maxMs;
    this.factor = opts.factor ?? 2;
  }

  /** Delay before the next attempt; each call moves one step further. */
  next(): number {
    const delay = Math.min(this.maxMs, this.initialMs * this.factor ** this.attempt);
    if (delay < this.maxMs) this.attempt += 1;
    return delay;
  }

  /** Attempts taken since the last reset. */
  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}

/** Restart backoff for crashed processes: 1s, 2s, 4s .. 30s. */
export const RESTART_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000 };
