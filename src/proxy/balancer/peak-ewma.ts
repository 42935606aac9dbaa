import { powerOfTwo } from './p2c.js';
import type { Balanced, Balancer, BalancerDeps, LoadRecord, PeakEwmaEstimate } from './types.js';

export const DEFAULT_RTT_MS = 30;
export const DEFAULT_DECAY_MS = 10_000;

/**
 * Peak-sensitive EWMA of round-trip times (after Finagle / tower / linkerd2-proxy):
 * a sample above the estimate replaces it at once (react fast to slowness); otherwise the
 * estimate moves towards the sample with weight exp(-elapsed/tau). Reads decay the estimate
 * towards zero with the time since the last sample, so an endpoint that was slow once and
 * then left alone gets probed again.
 */
export class PeakEwma implements PeakEwmaEstimate {
  private value: number;
  private stamp: number | undefined;

  constructor(
    private readonly defaultRttMs = DEFAULT_RTT_MS,
    private readonly tauMs = DEFAULT_DECAY_MS,
  ) {
    this.value = defaultRttMs;
  }

  estimate(now: number): number {
    if (this.stamp === undefined) return this.defaultRttMs;
    const elapsed = Math.max(0, now - this.stamp);
    return this.value * Math.exp(-elapsed / this.tauMs);
  }

  observe(rttMs: number, now: number): void {
    if (this.stamp === undefined) {
      this.value = rttMs;
    } else {
      const current = this.estimate(now);
      if (rttMs > current) {
        this.value = rttMs;
      } else {
        const w = Math.exp(-Math.max(0, now - this.stamp) / this.tauMs);
        this.value = current * w + rttMs * (1 - w);
      }
    }
    this.stamp = now;
  }
}

export function newLoadRecord(defaultRttMs = DEFAULT_RTT_MS): LoadRecord {
  return { pending: 0, rtt: new PeakEwma(defaultRttMs) };
}

export function cost(load: LoadRecord, now: number): number {
  return load.rtt.estimate(now) * (load.pending + 1);
}

/** Power of two choices over peak-EWMA cost: two distinct random candidates, cheaper wins. */
export function peakEwmaBalancer(deps: BalancerDeps): Balancer {
  // Made once per balancer, not per pick: the hot path allocates no closure.
  const cheaper = (a: Balanced, b: Balanced): boolean => {
    const now = deps.now();
    return cost(b.load, now) < cost(a.load, now);
  };
  return {
    pick<E extends Balanced>(endpoints: readonly E[], exclude?: ReadonlySet<E>): E | undefined {
      return powerOfTwo(endpoints, exclude, deps, cheaper);
    },
  };
}
