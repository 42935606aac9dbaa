import { MAX_EJECTION_MS } from '../../api/snapshot.js';
import type { OutlierDetectionConfig } from '../../api/snapshot.js';

/** Passive health of one endpoint; lives on the endpoint so it survives snapshots. */
export class OutlierState {
  consecutive5xx = 0;
  consecutiveConnectFailures = 0;
  /** Monotonic ms until which the endpoint is ejected (0 = never ejected). */
  ejectedUntil = 0;
  /** Ejections in a row, as of `decayedAt` (decays by one per interval spent un-ejected). */
  private timesEjected = 0;
  private decayedAt = 0;

  /** Ejections in a row at `now`, after the decay for the time spent un-ejected. */
  times(now: number, intervalMs: number): number {
    if (this.timesEjected === 0 || now <= this.ejectedUntil) return this.timesEjected;
    const since = Math.max(this.ejectedUntil, this.decayedAt);
    const steps = Math.floor((now - since) / intervalMs);
    if (steps > 0) {
      this.timesEjected = Math.max(0, this.timesEjected - steps);
      this.decayedAt = since + steps * intervalMs;
    }
    return this.timesEjected;
  }

  eject(now: number, config: OutlierDetectionConfig): number {
    const times = this.times(now, config.intervalMs) + 1;
    this.timesEjected = times;
    this.decayedAt = 0;
    this.ejectedUntil = now + Math.min(config.baseEjectionMs * times, MAX_EJECTION_MS);
    this.consecutive5xx = 0;
    this.consecutiveConnectFailures = 0;
    return this.ejectedUntil;
  }

  /** Outlier detection turned off: the endpoint returns and its history is forgotten. */
  reset(): void {
    this.consecutive5xx = 0;
    this.consecutiveConnectFailures = 0;
    this.ejectedUntil = 0;
    this.timesEjected = 0;
    this.decayedAt = 0;
  }
}

export interface OutlierSubject {
  readonly outlier: OutlierState;
}

/** gRPC codes Envoy maps to 5xx for outlier detection: UNKNOWN, DEADLINE_EXCEEDED, INTERNAL, UNAVAILABLE, DATA_LOSS. */
export function isGrpcFailure(code: number): boolean {
  return code === 2 || code === 4 || code === 13 || code === 14 || code === 15;
}

/**
 * Envoy-style outlier detection (consecutive 5xx and consecutive connect failures). An
 * endpoint that reaches a threshold is ejected for baseEjectionMs x (ejections in a row),
 * at most MAX_EJECTION_MS; it returns by itself when that time is over (the picker compares
 * `ejectedUntil` with now, so there is no timer). Never more than
 * floor(endpoints x maxEjectionPercent / 100) are ejected at once: with the default-like 10-50 %
 * a lone endpoint is never ejected, since an ejected last endpoint helps nobody.
 */
export class OutlierDetector {
  constructor(
    public config: OutlierDetectionConfig,
    private readonly now: () => number,
  ) {}

  /** A response (or a reset before one) from `ep`; returns the new ejectedUntil when ejected, else 0. */
  onResponse(ep: OutlierSubject, failed: boolean, all: readonly OutlierSubject[]): number {
    const s = ep.outlier;
    if (!failed) {
      s.consecutive5xx = 0;
      return 0;
    }
    s.consecutive5xx++;
    const threshold = this.config.consecutive5xx;
    return threshold > 0 && s.consecutive5xx >= threshold ? this.tryEject(ep, all) : 0;
  }

  /** A connect attempt to `ep` ended; returns the new ejectedUntil when ejected, else 0. */
  onConnect(ep: OutlierSubject, ok: boolean, all: readonly OutlierSubject[]): number {
    const s = ep.outlier;
    if (ok) {
      s.consecutiveConnectFailures = 0;
      return 0;
    }
    s.consecutiveConnectFailures++;
    const threshold = this.config.consecutiveConnectFailures;
    return threshold > 0 && s.consecutiveConnectFailures >= threshold ? this.tryEject(ep, all) : 0;
  }

  private tryEject(ep: OutlierSubject, all: readonly OutlierSubject[]): number {
    const now = this.now();
    if (ep.outlier.ejectedUntil > now) return 0; // already out (a straggler response)
    let ejected = 0;
    for (const e of all) if (e.outlier.ejectedUntil > now) ejected++;
    const max = Math.floor((all.length * this.config.maxEjectionPercent) / 100);
    if (ejected + 1 > max) return 0; // counts stay at the threshold: the next failure tries again
    return ep.outlier.eject(now, this.config);
  }
}
