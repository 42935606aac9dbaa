import { DEFAULT_DECAY_MS, DEFAULT_RTT_MS, PeakEwma } from './rtt-estimate.js';
import type { LoadRecord } from './types.js';

/** A failure counts as at least this many times the endpoint's latency (see observeFailure). */
export const FAILURE_RTT_FACTOR = 2;
/** The least a failure counts as, so that an endpoint idle long enough to decay to ~0 is still penalized. */
export const FAILURE_RTT_FLOOR_MS = 1;
/** The most one failure counts as: keeps the numbers finite when every endpoint keeps failing. */
export const FAILURE_RTT_CAP_MS = 10_000;
/**
 * Cost uses at least this estimate (1 ns). Without samples the estimate decays towards zero
 * (below 1 ns within about 14 tau of a 1 ms estimate, to exactly 0 after about 750 tau);
 * without a floor, pending requests, streams and tunnels would then no longer weigh at all.
 * Below it, endpoints compare by what they have open: least connections.
 */
export const MIN_COST_RTT_MS = 1e-6;

/**
 * What the balancers know about one endpoint: requests in flight and the latency estimate.
 * Written by the request path (leases), read by the balancers.
 */
export class EndpointLoad implements LoadRecord {
  pending = 0;
  readonly rtt: PeakEwma;

  constructor(priorRttMs = DEFAULT_RTT_MS, createdAt = 0, tauMs = DEFAULT_DECAY_MS) {
    this.rtt = new PeakEwma(priorRttMs, tauMs, createdAt);
  }

  /**
   * An exchange with this endpoint failed (5xx, reset, failing grpc-status, connect failure):
   * observe it as a round trip of FAILURE_RTT_FACTOR x max(its own duration, the current
   * estimate), between FAILURE_RTT_FLOOR_MS and FAILURE_RTT_CAP_MS. A replica that fails fast
   * would otherwise look like the fastest one and win every pick (issue 9: 990 of 1,000
   * requests went to a failing replica while a healthy one sat idle). Each failure at least
   * doubles the estimate (peak-EWMA takes a higher sample at once), so a replica that keeps
   * failing soon costs more than its healthy peers and is then only probed about once per
   * tau x ln 2 (0.7 s) while it fails; a single failure costs a healthy replica a second or
   * so of its share, decaying like any peak. Outlier detection ejects on top of this; this needs no
   * configuration and also covers what ejection caps (maxEjectionPercent) leave in.
   */
  observeFailure(now: number, elapsedMs = 0): void {
    const estimate = this.rtt.estimate(now);
    const base = elapsedMs > estimate ? elapsedMs : estimate;
    const penalty = Math.min(FAILURE_RTT_CAP_MS, Math.max(FAILURE_RTT_FLOOR_MS, FAILURE_RTT_FACTOR * base));
    this.rtt.observe(penalty, now);
  }
}

/**
 * `priorRttMs`: the estimate before anything is observed; `createdAt`: now on the balancer's
 * clock when the endpoint appears. The prior decays from then (rtt-estimate.ts).
 */
export function newLoadRecord(priorRttMs = DEFAULT_RTT_MS, createdAt = 0): LoadRecord {
  return new EndpointLoad(priorRttMs, createdAt);
}

/**
 * Peak-EWMA cost: the latency estimate times (pending + 1). `pending` is every request, stream
 * and tunnel still open on the endpoint, so long-lived connections weigh for as long as they
 * last.
 */
export function cost(load: LoadRecord, now: number): number {
  const rtt = load.rtt.estimate(now);
  return (rtt > MIN_COST_RTT_MS ? rtt : MIN_COST_RTT_MS) * (load.pending + 1);
}
