import type { RateConfig } from '../../api/snapshot.js';

/** One replica's part of a global limit, with the whole it came from (the snapshot's `total`). */
export interface GlobalShare extends RateConfig {
  global: RateConfig & { replicas: number };
}

/**
 * One replica's share of a global `total` limit: the control plane's answer to "N replicas
 * together admit about the configured rate" without an external rate-limit service. Pure, so
 * the compiler can call it and tests can walk replicas coming and going.
 *
 * - Who shares: the target service's ready replicas. Every replica of a workload gets the same
 *   share (the compiler builds one inbound policy per workload, shared by its replicas), so a
 *   replica that is starting gets the share of the ready ones until it is ready and the count
 *   moves; with no ready replica at all, the share is the whole (the first one up must admit
 *   something, and it is the only one serving).
 * - Rate: the whole divided by the count, as a float: the ready replicas' shares sum to the
 *   configured rate (to float precision) whatever the count. Rates need not be whole numbers
 *   (GCRA keeps an interval in ms).
 * - Burst: whole requests (the proxy's buckets count requests), the whole divided by the count
 *   and rounded to the nearest, at least 1. The shares sum to the configured burst within
 *   count/2 (exactly when the count divides it); a burst below the count gives each replica 1
 *   (it must admit something). The burst is one moment's allowance, the rate is what holds over
 *   any longer window, and the rate is exact.
 *
 * Why no burst spike when the count changes: the proxy keeps each policy's bucket (its GCRA
 * TAT, a point in time) across snapshots, and burst/rate (the bucket's depth in seconds) is
 * about the same for every count, so a bucket that was empty stays about as empty under its
 * new share, and a full one about as full (src/proxy/policy/rate-limit.test.ts checks this on
 * the proxy's own code).
 */
export function globalShare(whole: RateConfig, readyReplicas: number): GlobalShare {
  const n = Number.isFinite(readyReplicas) && readyReplicas >= 1 ? Math.floor(readyReplicas) : 1;
  return {
    requestsPerSecond: whole.requestsPerSecond / n,
    burst: Math.max(1, Math.round(whole.burst / n)),
    global: { requestsPerSecond: whole.requestsPerSecond, burst: whole.burst, replicas: n },
  };
}
