/**
 * Balancers pick one endpoint out of a cluster's list. They see endpoints only through
 * their load record, so they are unit-testable without sockets.
 */
export interface LoadRecord {
  /**
   * Requests, streams, tunnels and connects started and not yet finished. Whoever raises it
   * (the lease) holds it until the exchange is over: an open WebSocket, CONNECT tunnel or
   * gRPC stream is load for as long as it is open.
   */
  pending: number;
  /** Peak-EWMA round-trip estimate. */
  readonly rtt: PeakEwmaEstimate;
  /**
   * The exchange failed (5xx, reset, failing grpc-status, connect failure; never a client that
   * left): counts as a slow round trip, so a replica that fails fast does not look fastest.
   * `elapsedMs`: how long the exchange took, if known.
   */
  observeFailure(now: number, elapsedMs?: number): void;
}

export interface PeakEwmaEstimate {
  /** Current estimate in ms at `now`: the last value decayed towards zero since it was stamped. */
  estimate(now: number): number;
  observe(rttMs: number, now: number): void;
}

export interface Balanced {
  readonly load: LoadRecord;
  /** Stable identity of the endpoint (address and SPIFFE ID): what a hash ring places. */
  readonly key: string;
}

export interface Balancer {
  /**
   * Picks an endpoint not in `exclude`, or undefined if none is left. `hash` is the request's
   * 32-bit hash key for balancers that use one (consistent-hash); the others ignore it.
   */
  pick<E extends Balanced>(endpoints: readonly E[], exclude?: ReadonlySet<E>, hash?: number): E | undefined;
}

export interface BalancerDeps {
  /** Uniform in [0, 1). */
  random(): number;
  /** Monotonic ms. */
  now(): number;
}

export type BalancerFactory = (deps: BalancerDeps) => Balancer;
