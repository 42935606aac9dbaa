import { powerOfTwo } from './p2c.js';
import type { Balanced, Balancer, BalancerDeps } from './types.js';

/**
 * Least request as Envoy does it with equal weights: power of two choices (Envoy's default
 * `choice_count` 2) over the number of requests in flight. Two distinct random candidates,
 * the one with fewer pending requests wins (the first on a tie). Cheaper than peak-EWMA and
 * blind to latency: good when endpoints are alike and requests vary in cost.
 */
export const LEAST_REQUEST_CHOICES = 2;

const fewerPending = (a: Balanced, b: Balanced): boolean => b.load.pending < a.load.pending;

export function leastRequestBalancer(deps: BalancerDeps): Balancer {
  return {
    pick<E extends Balanced>(endpoints: readonly E[], exclude?: ReadonlySet<E>): E | undefined {
      return powerOfTwo(endpoints, exclude, deps, fewerPending);
    },
  };
}
