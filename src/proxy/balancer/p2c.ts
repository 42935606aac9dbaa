import type { Balanced, BalancerDeps } from './types.js';

/**
 * Power of two choices: two distinct random candidates (not in `exclude`), and `prefer(a, b)`
 * says whether b beats a (ties keep a). Shared by peak-EWMA (cost) and least request (pending).
 * Allocates nothing, with or without `exclude`: the candidates are the i-th and j-th endpoints
 * not excluded, found by counting (exclude sets are small and only come with retries and
 * failover, so two passes over the list cost less than building a filtered copy).
 */
export function powerOfTwo<E extends Balanced>(
  endpoints: readonly E[],
  exclude: ReadonlySet<E> | undefined,
  deps: BalancerDeps,
  prefer: (a: E, b: E) => boolean,
): E | undefined {
  const all = endpoints.length;
  const skip = exclude !== undefined && exclude.size > 0 ? exclude : undefined;
  let n = all;
  if (skip !== undefined) for (let k = 0; k < all; k++) if (skip.has(endpoints[k] as E)) n--;
  if (n === 0) return undefined;
  if (n === 1) return nthIncluded(endpoints, skip, 0);
  const i = Math.floor(deps.random() * n);
  let j = Math.floor(deps.random() * (n - 1));
  if (j >= i) j += 1;
  const a = nthIncluded(endpoints, skip, i) as E;
  const b = nthIncluded(endpoints, skip, j) as E;
  return prefer(a, b) ? b : a;
}

/** The `nth` (0-based) endpoint not in `skip`. */
function nthIncluded<E>(endpoints: readonly E[], skip: ReadonlySet<E> | undefined, nth: number): E | undefined {
  if (skip === undefined) return endpoints[nth];
  let seen = 0;
  for (let k = 0; k < endpoints.length; k++) {
    const e = endpoints[k] as E;
    if (skip.has(e)) continue;
    if (seen === nth) return e;
    seen++;
  }
  return undefined;
}
