import type { Balanced, BalancerDeps } from './types.js';

/**
 * Power of two choices: two distinct random candidates (not in `exclude`), and `prefer(a, b)`
 * says whether b beats a (ties keep a). Shared by peak-EWMA (cost) and least request (pending).
 */
export function powerOfTwo<E extends Balanced>(
  endpoints: readonly E[],
  exclude: ReadonlySet<E> | undefined,
  deps: BalancerDeps,
  prefer: (a: E, b: E) => boolean,
): E | undefined {
  const candidates = exclude === undefined || exclude.size === 0 ? endpoints : endpoints.filter((e) => !exclude.has(e));
  const n = candidates.length;
  if (n === 0) return undefined;
  if (n === 1) return candidates[0];
  const i = Math.floor(deps.random() * n);
  let j = Math.floor(deps.random() * (n - 1));
  if (j >= i) j += 1;
  const a = candidates[i] as E;
  const b = candidates[j] as E;
  return prefer(a, b) ? b : a;
}
