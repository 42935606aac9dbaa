import type { Balanced, Balancer } from './types.js';

/** Round robin in list order; excluded endpoints are skipped. One counter per balancer (cluster). */
export function roundRobinBalancer(): Balancer {
  let next = 0;
  return {
    pick<E extends Balanced>(endpoints: readonly E[], exclude?: ReadonlySet<E>): E | undefined {
      const n = endpoints.length;
      for (let k = 0; k < n; k++) {
        const e = endpoints[(next + k) % n] as E;
        if (exclude?.has(e) === true) continue;
        next = (next + k + 1) % n;
        return e;
      }
      return undefined;
    },
  };
}
