import type { RateConfig } from '../../api/snapshot.js';

/** One replica's part of a global limit, with the whole it came from (the snapshot's `total`). */
export interface GlobalShare extends RateConfig {
  global: RateConfig & { replicas: number };
}

/**
 * One replica's share of a global `total` limit: the control plane's answer to "N replicas
 * together admit about the configured rate" without an external rate-limit service. Pure, so
 * the compiler can call it per proxy and tests can walk replicas coming and going.
 *
 * - Who shares: the target service's ready replicas (proxy node ids), plus `self` when it is
 *   not among them. A replica that is starting (or failing its checks) still gets a share the
 *   size the others would have with it, never the whole budget on top of theirs; with no ready
 *   replica at all the one asking takes the whole. `self` null (a caller that is not a
 *   replica, e.g. `trellis why`) counts only the ready ones.
 * - Rate: the whole divided by the count, as a float: the shares sum to the configured rate
 *   (to float precision), whatever the count. Rates need not be whole numbers (GCRA keeps an
 *   interval in ms).
 * - Burst: whole requests, split so the shares sum to the configured burst: each gets
 *   floor(burst / n), and the first `burst mod n` replicas in node-id order one more. A
 *   replica's share is at least 1 (it must admit something), so when the burst is smaller than
 *   the count the shares sum to the count instead.
 *
 * Why no burst spike when the count changes: the proxy keeps each policy's bucket (its GCRA
 * TAT, a point in time) across snapshots, and burst/rate is about the same for every count, so
 * a bucket that was empty stays about as empty under its new share, and a full one about as
 * full (src/proxy/policy/rate-limit.test.ts checks this on the proxy's own code).
 */
export function globalShare(whole: RateConfig, readyNodes: readonly string[], self: string | null): GlobalShare {
  const members = [...new Set(readyNodes)];
  if (self !== null && !members.includes(self)) members.push(self);
  members.sort(byCodeUnit);
  const n = Math.max(1, members.length);
  const index = self === null ? 0 : members.indexOf(self);
  const base = Math.floor(whole.burst / n);
  const extra = whole.burst - base * n;
  return {
    requestsPerSecond: whole.requestsPerSecond / n,
    burst: Math.max(1, base + (index < extra ? 1 : 0)),
    global: { requestsPerSecond: whole.requestsPerSecond, burst: whole.burst, replicas: n },
  };
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
