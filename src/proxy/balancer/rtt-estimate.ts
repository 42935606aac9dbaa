import type { PeakEwmaEstimate } from './types.js';

/** The prior for an endpoint nothing was observed of (linkerd2-proxy's default). */
export const DEFAULT_RTT_MS = 30;
/**
 * Time constant of the moving average and of the decay of an unobserved estimate: how long
 * the balancer holds a slow answer against an endpoint. Linkerd (after Finagle) uses 10 s. At
 * low load that let one slow answer decide for tens of seconds: a replica whose cold first
 * answer took 10x the usual is passed over for tau x ln 10, and two replicas at 5 requests/s
 * split 45:5 and 48:2 over 10 s through real proxies. With 1 s they take turns, while a
 * replica 1.5x slower than its peer still gets only about a tenth of 100 requests/s (in
 * simulation): the latency signal is kept, the grudge is shorter.
 */
export const DEFAULT_DECAY_MS = 1_000;

/**
 * Peak-sensitive, time-weighted EWMA of round-trip times (after Finagle and tower, which
 * linkerd2-proxy uses). The estimate is a value stamped at a time; reading it at `now` decays
 * it towards zero with exp(-elapsed/tau):
 *
 * - An endpoint starts at `defaultRttMs` stamped at its creation, so even one that was never
 *   used becomes cheaper and cheaper until it is tried. (A prior that never decayed left a
 *   replica unused for good: issue 9, Part 3.1.)
 * - A sample above the stored value replaces it at once (react fast to slowness).
 * - Otherwise the sample is blended in: value x w + sample x (1 - w), w = exp(-elapsed/tau).
 *   The decay towards zero counts the time since the last sample as "nothing known yet";
 *   the sample then fills that gap in. So a steadily sampled endpoint converges to its real
 *   latency at any request rate, and using an endpoint never makes it look cheaper than
 *   leaving it alone would have: with equal histories the unused one is always the cheaper,
 *   which is what spreads traffic over every endpoint at low load.
 *
 * (The blend used to start from the decayed estimate instead, decaying twice: a busy endpoint
 * converged to about half its real latency and looked cheaper than an idle peer that was just
 * as fast.) Reads do not mutate, so the result does not depend on how often it is read.
 */
export class PeakEwma implements PeakEwmaEstimate {
  private value: number;
  private stamp: number;

  /** `createdAt`: the time (of the clock later passed as `now`) from which the prior decays. */
  constructor(
    defaultRttMs = DEFAULT_RTT_MS,
    private readonly tauMs = DEFAULT_DECAY_MS,
    createdAt = 0,
  ) {
    this.value = defaultRttMs;
    this.stamp = createdAt;
  }

  estimate(now: number): number {
    return this.value * this.weight(now);
  }

  observe(rttMs: number, now: number): void {
    const w = this.weight(now);
    const blended = this.value * w + rttMs * (1 - w);
    this.value = rttMs > blended ? rttMs : blended;
    if (now > this.stamp) this.stamp = now;
  }

  /** Weight of the stored value at `now`: 1 at its stamp, towards 0 as time passes. */
  private weight(now: number): number {
    const elapsed = now - this.stamp;
    return elapsed > 0 ? Math.exp(-elapsed / this.tauMs) : 1;
  }
}
