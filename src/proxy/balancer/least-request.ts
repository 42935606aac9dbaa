import type { Balanced, Balancer, BalancerDeps } from './types.js';

/**
 * Least request as Envoy does it with equal weights: power of two choices (Envoy's default
 * `choice_count` 2) over the number of requests in flight. Two distinct random candidates,
 * the one with fewer pending requests wins (the first on a tie). Cheaper than peak-EWMA and
 * blind to latency: good when endpoints are alike and requests vary in cost.
 */
export const LEAST_REQUEST_CHOICES = 2;

export function leastRequestBalancer(deps: BalancerDeps): Balancer {
  return {
    pick<E extends Balanced>(endpoints: readonly E[], exclude?: ReadonlySet<E>): E | undefined {
      const candidates = exclude === undefined || exclude.size === 0 ? endpoints : endpoints.filter((e) => !exclude.has(e));
      const n = candidates.length;
      if (n === 0) return undefined;
      if (n === 1) return candidates[0];
      const i = Math.floor(deps.random() * n);
      let j = Math.floor(deps.random() * (n - 1));
      if (j >= i) j += 1;
      const a = candidates[i] as E;
      const b = candidates[j] as E;
      return b.load.pending < a.load.pending ? b : a;
    },
  };
}
