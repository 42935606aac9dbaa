/**
 * Balancers pick one endpoint out of a cluster's list. They see endpoints only through
 * their load record, so they are unit-testable without sockets.
 */
export interface LoadRecord {
  /** Requests (or streams, or connects) started and not yet finished. */
  pending: number;
  /** Peak-EWMA round-trip estimate. */
  readonly rtt: PeakEwmaEstimate;
}

export interface PeakEwmaEstimate {
  /** Current estimate in ms at `now` (decayed), or the default when nothing was observed. */
  estimate(now: number): number;
  observe(rttMs: number, now: number): void;
}

export interface Balanced {
  readonly load: LoadRecord;
}

export interface Balancer {
  /** Picks an endpoint not in `exclude`, or undefined if none is left. */
  pick<E extends Balanced>(endpoints: readonly E[], exclude?: ReadonlySet<E>): E | undefined;
}

export interface BalancerDeps {
  /** Uniform in [0, 1). */
  random(): number;
  /** Monotonic ms. */
  now(): number;
}

export type BalancerFactory = (deps: BalancerDeps) => Balancer;
