import { cost } from './load-record.js';
import { powerOfTwo } from './p2c.js';
import type { Balanced, Balancer, BalancerDeps } from './types.js';

export { DEFAULT_DECAY_MS, DEFAULT_RTT_MS, PeakEwma } from './rtt-estimate.js';
export { EndpointLoad, cost, newLoadRecord } from './load-record.js';

/**
 * Power of two choices over peak-EWMA cost (latency estimate x (pending + 1)): two distinct
 * random candidates, the cheaper wins (the first on a tie). See rtt-estimate.ts for why every
 * endpoint, used or not, gets traffic, and load-record.ts for what failures and open
 * connections cost.
 */
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
