import { hash32 } from './hash.js';
import type { Balanced, Balancer, BalancerDeps } from './types.js';

/**
 * Consistent hashing on a ring (ketama-style ring hash, as Envoy's RING_HASH), chosen over
 * Maglev because its disruption is minimal by construction: when an endpoint leaves, only the
 * keys that were on its points move (about 1/n), every other key keeps its endpoint; Maglev's
 * table rebuild moves a few more. Lookups are a binary search over n x POINTS_PER_ENDPOINT
 * points (about 11 steps for 10 endpoints), which does not matter next to a request.
 *
 * The ring is rebuilt only when the list of endpoint keys changes. A request without a hash
 * key gets a random endpoint. Excluded endpoints are passed over clockwise, so their keys
 * spread over the next endpoints and nobody else's keys move.
 */
export const POINTS_PER_ENDPOINT = 160;

class Ring {
  /** Sorted point hashes. */
  readonly points: Uint32Array;
  /** Index (into the endpoint list the ring was built from) owning each point. */
  readonly owners: Uint32Array;

  constructor(keys: readonly string[]) {
    const pairs: [number, number][] = [];
    for (let e = 0; e < keys.length; e++) {
      for (let v = 0; v < POINTS_PER_ENDPOINT; v++) pairs.push([hash32(`${keys[e]}#${v}`), e]);
    }
    // Ties (hash collisions) are broken by key order so the ring does not depend on list order.
    pairs.sort((a, b) => {
      if (a[0] !== b[0]) return a[0] - b[0];
      const ka = keys[a[1]]!;
      const kb = keys[b[1]]!;
      return ka < kb ? -1 : ka > kb ? 1 : a[1] - b[1];
    });
    this.points = new Uint32Array(pairs.length);
    this.owners = new Uint32Array(pairs.length);
    for (let i = 0; i < pairs.length; i++) {
      this.points[i] = pairs[i]![0];
      this.owners[i] = pairs[i]![1];
    }
  }

  /** First point at or after `hash`, wrapping around. */
  find(hash: number): number {
    const p = this.points;
    let lo = 0;
    let hi = p.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (p[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return lo === p.length ? 0 : lo;
  }
}

export class ConsistentHashBalancer implements Balancer {
  private ring: Ring | null = null;
  private keys: string[] = [];
  /** The list the ring was last checked against: the same array means nothing changed. */
  private seen: readonly Balanced[] | null = null;

  constructor(private readonly deps: BalancerDeps) {}

  /** How many times the ring was built (for tests: rebuilt only on change). */
  builds = 0;

  pick<E extends Balanced>(endpoints: readonly E[], exclude?: ReadonlySet<E>, hash?: number): E | undefined {
    const n = endpoints.length;
    if (n === 0) return undefined;
    if (hash === undefined) return this.random(endpoints, exclude);
    const ring = this.ringFor(endpoints);
    const { owners } = ring;
    const start = ring.find(hash);
    // Walks at most the whole ring (every endpoint excluded: undefined).
    for (let k = 0; k < owners.length; k++) {
      const e = endpoints[owners[(start + k) % owners.length]!] as E;
      if (exclude === undefined || !exclude.has(e)) return e;
    }
    return undefined;
  }

  private ringFor(endpoints: readonly Balanced[]): Ring {
    if (endpoints === this.seen && this.ring !== null) return this.ring;
    this.seen = endpoints;
    const keys = this.keys;
    let same = this.ring !== null && keys.length === endpoints.length;
    for (let i = 0; same && i < keys.length; i++) same = keys[i] === endpoints[i]!.key;
    if (!same || this.ring === null) {
      this.keys = endpoints.map((e) => e.key);
      this.ring = new Ring(this.keys);
      this.builds++;
    }
    return this.ring;
  }

  private random<E extends Balanced>(endpoints: readonly E[], exclude?: ReadonlySet<E>): E | undefined {
    const n = endpoints.length;
    const i = Math.floor(this.deps.random() * n);
    for (let k = 0; k < n; k++) {
      const e = endpoints[(i + k) % n] as E;
      if (exclude === undefined || !exclude.has(e)) return e;
    }
    return undefined;
  }
}

export function consistentHashBalancer(deps: BalancerDeps): Balancer {
  return new ConsistentHashBalancer(deps);
}
