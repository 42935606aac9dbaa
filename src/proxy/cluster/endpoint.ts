import type { EndpointConfig } from '../../api/snapshot.js';
import { ALPN_H2, ALPN_HTTP1, ALPN_TCP } from '../../api/common.js';
import { newLoadRecord } from '../balancer/peak-ewma.js';
import type { Balanced, LoadRecord } from '../balancer/types.js';
import type { ClusterLimits } from '../pool/cluster-limits.js';
import type { Connect } from '../pool/connect.js';
import { H2SessionPool } from '../pool/h2-session-pool.js';
import { Http1Pool } from '../pool/http1-pool.js';
import type { Http1PoolOptions } from '../pool/http1-pool.js';
import { HealthState } from '../resilience/health-state.js';
import { OutlierState } from '../resilience/outlier.js';

/** Builds the connect function for one endpoint and ALPN (mTLS in the proxy, anything in tests). */
export type EndpointConnectorFactory = (endpoint: EndpointConfig, alpn: string, timeoutMs: number) => Connect;

export function endpointKey(e: EndpointConfig): string {
  return `${e.host}:${e.port}|${e.identity}`;
}

/**
 * One endpoint of a cluster: its balancer load record and its connection pools, created
 * on first use. Survives snapshots that keep it, so EWMA and warm connections stay.
 */
export class Endpoint implements Balanced {
  readonly key: string;
  readonly load: LoadRecord;
  readonly label: string;
  private h1: Http1Pool | null = null;
  private h2: H2SessionPool | null = null;
  private removed = false;
  /** Monotonic ms until which the balancer avoids this endpoint (see Cluster.markUnavailable). */
  avoidUntil = 0;
  /** Passive health (outlier detection); `outlier.ejectedUntil` says until when it is ejected. */
  readonly outlier = new OutlierState();
  /** Active health (health checks). */
  readonly health = new HealthState();

  /**
   * `limits`: the cluster's circuit breaker, which counts this endpoint's h1 sockets and h2
   * sessions. `load`: its balancer record, made by the cluster table with the prior and the
   * creation time the balancer needs (see newLoadRecord).
   */
  constructor(
    readonly config: EndpointConfig,
    private readonly connector: EndpointConnectorFactory,
    private connectTimeoutMs: number,
    private readonly poolOptions?: Http1PoolOptions,
    private readonly limits?: ClusterLimits,
    load: LoadRecord = newLoadRecord(),
  ) {
    this.key = endpointKey(config);
    this.label = `${config.host}:${config.port}`;
    this.load = load;
  }

  setConnectTimeout(ms: number): void {
    this.connectTimeoutMs = ms;
  }

  get isRemoved(): boolean {
    return this.removed;
  }

  http1(): Http1Pool {
    this.h1 ??= new Http1Pool(this.counted(this.connector(this.config, ALPN_HTTP1, this.connectTimeoutMs)), this.poolOptions);
    return this.h1;
  }

  http2(): H2SessionPool {
    this.h2 ??= new H2SessionPool(this.counted(this.connector(this.config, ALPN_H2, this.connectTimeoutMs)), `https://${this.label}`);
    return this.h2;
  }

  private counted(connect: Connect): Connect {
    return this.limits === undefined ? connect : this.limits.counted(connect);
  }

  /** A fresh connection for an opaque TCP relay (ALPN trellis-tcp). */
  connectTcp(): Connect {
    return this.connector(this.config, ALPN_TCP, this.connectTimeoutMs);
  }

  /** Removed from the cluster: idle connections close now, in-flight ones finish. */
  close(): void {
    this.removed = true;
    this.h1?.close();
    this.h2?.close();
  }
}
