import type { HealthCheckConfig } from '../../api/snapshot.js';
import type { H2SessionPool } from '../pool/h2-session-pool.js';
import type { Http1Pool } from '../pool/http1-pool.js';
import type { HealthState } from './health-state.js';
import { probeGrpc, probeHttp } from './probes.js';

/** What the checker needs of an endpoint: its state and its normal (mTLS) pools. */
export interface HealthSubject {
  readonly health: HealthState;
  http1(): Http1Pool;
  http2(): H2SessionPool;
}

/** What the checker needs of its cluster: the current endpoints, and a call when one flips. */
export interface HealthTarget {
  readonly endpoints: readonly HealthSubject[];
  /** The `host` field of HTTP probes (the service name). */
  readonly service: string;
  healthChanged(endpoint: HealthSubject, healthy: boolean, why: string): void;
}

/**
 * Active health checks of one cluster: every intervalMs, each endpoint not already being
 * probed gets one probe (HTTP GET or gRPC Health/Check, see probes.ts). unhealthyThreshold
 * failures in a row take it out of the balancer, healthyThreshold successes bring it back.
 * The first round starts at a random point of the first interval so clusters (and proxies)
 * do not probe in lockstep. Timers are unref'd: checks never keep the process alive.
 */
export class HealthChecker {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly tick = (): void => this.round();

  constructor(
    readonly config: HealthCheckConfig,
    private readonly target: HealthTarget,
    private readonly random: () => number,
  ) {}

  start(): void {
    this.schedule(Math.floor(this.random() * this.config.intervalMs));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(this.tick, ms);
    this.timer.unref();
  }

  private round(): void {
    this.timer = null;
    for (const ep of this.target.endpoints) if (!ep.health.probing) this.probe(ep);
    this.schedule(this.config.intervalMs);
  }

  private probe(ep: HealthSubject): void {
    const c = this.config;
    ep.health.probing = true;
    const done = (ok: boolean, why: string): void => {
      ep.health.probing = false;
      if (this.stopped) return;
      if (ep.health.record(ok, c.healthyThreshold, c.unhealthyThreshold)) this.target.healthChanged(ep, ep.health.healthy, why);
    };
    if (c.grpc !== undefined) probeGrpc(ep.http2(), c.grpc.service, c.timeoutMs, done);
    else probeHttp(ep.http1(), c.http?.path ?? '/', this.target.service, c.timeoutMs, done);
  }
}
