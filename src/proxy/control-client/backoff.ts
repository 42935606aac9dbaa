/**
 * Exponential backoff with jitter: attempt n waits base*2^n capped at max, times a random
 * factor in [0.5, 1) so a fleet of proxies does not reconnect in step.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly random: () => number,
    private readonly baseMs = 100,
    private readonly maxMs = 5_000,
  ) {}

  next(): number {
    const raw = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.max(this.baseMs / 2, Math.round(raw * (0.5 + this.random() / 2)));
  }

  reset(): void {
    this.attempt = 0;
  }
}
