/**
 * GCRA (the generic cell rate algorithm, as in ATM and redis-cell): a token bucket kept as one
 * number per bucket, its theoretical arrival time (TAT). A bucket of rate `r` per second and
 * burst `b` admits `b` requests at once when full, and then one every 1/r s; a request admitted
 * at `now` moves the TAT one interval on. Hand-written: it is three lines of arithmetic on the
 * hot path, and each bucket is one float, which is what keeps per-identity memory small.
 *
 * A TAT of 0 (or any time past) is a full bucket, so a new bucket needs no initialisation and a
 * forgotten one comes back full.
 */
export class Rate {
  /** ms between two requests at the sustained rate. */
  readonly intervalMs: number;
  /** How far ahead of `now` the TAT may be and still admit: (burst - 1) intervals. */
  readonly toleranceMs: number;

  constructor(
    readonly requestsPerSecond: number,
    readonly burst: number,
  ) {
    this.intervalMs = 1000 / requestsPerSecond;
    this.toleranceMs = (burst - 1) * this.intervalMs;
  }

  /** ms until a request would be admitted (0: now). */
  wait(tat: number, now: number): number {
    const over = (tat > now ? tat : now) - now - this.toleranceMs;
    return over > 0 ? over : 0;
  }

  /** The TAT after admitting one request at `now`. */
  next(tat: number, now: number): number {
    return (tat > now ? tat : now) + this.intervalMs;
  }

  /** Requests a bucket at `tat` would still admit at once at `now` (for the RateLimit header). */
  remaining(tat: number, now: number): number {
    const free = now + this.toleranceMs + this.intervalMs - (tat > now ? tat : now);
    return free <= 0 ? 0 : Math.min(this.burst, Math.floor(free / this.intervalMs + 1e-9));
  }

  /** Whole seconds for a full bucket to refill: the `w` of RateLimit-Policy (at least 1). */
  get windowSeconds(): number {
    return Math.max(1, Math.ceil(this.burst / this.requestsPerSecond));
  }
}
