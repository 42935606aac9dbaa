import type { CompiledBackend, CompiledRule } from './types.js';

/** Gateway API: a request for a rule with no weighted backend (or an invalid one) is answered 500. */
export const NO_BACKEND_STATUS = 500;

/**
 * Weighted pick over the rule's backends with weight > 0: binary search over running sums,
 * O(log n), no allocation. `random` is uniform in [0, 1) (injected for tests).
 * Returns null when the rule has no backend with weight (the caller answers
 * NO_BACKEND_STATUS). A returned backend with `valid === false` must also be answered 500.
 */
export function pickBackend(rule: CompiledRule, random: () => number): CompiledBackend | null {
  const n = rule.backends.length;
  if (rule.totalWeight <= 0 || n === 0) return null;
  if (n === 1) return rule.backends[0] as CompiledBackend;
  const x = random() * rule.totalWeight;
  const sums = rule.cumulative;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x < (sums[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  return rule.backends[lo] as CompiledBackend;
}

/** True with probability percent/100 (fault injection, mirroring). */
export function percentHit(percent: number, random: () => number): boolean {
  return percent >= 100 || (percent > 0 && random() * 100 < percent);
}
