import type { EndpointConfig } from '../../api/snapshot.js';
import { ALPN_H2, ALPN_HTTP1, ALPN_TCP } from '../../api/common.js';
import { newLoadRecord } from '../balancer/peak-ewma.js';
import type { Balanced, LoadRecord } from '../balancer/types.js';
import type { Connect } from '../pool/connect.js';
import { H2SessionPool } from '../pool/h2-session-pool.js';
import { Http1Pool } from '../pool/http1-pool.js';
import type { Http1PoolOptions } from '../pool/http1-pool.js';

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

  constructor(
    readonly config: EndpointConfig,
    private readonly connector: EndpointConnectorFactory,
    private connectTimeoutMs: number,
    private readonly poolOptions?: Http1PoolOptions,
  ) {
    this.key = endpointKey(config);
    this.label = `${config.host}:${config.port}`;
    this.load = newLoadRecord();
  }

  setConnectTimeout(ms: number): void {
    this.connectTimeoutMs = ms;
  }

  get isRemoved(): boolean {
    return this.removed;
  }

  http1(): Http1Pool {
    this.h1 ??= new Http1Pool(this.connector(this.config, ALPN_HTTP1, this.connectTimeoutMs), this.poolOptions);
    return this.h1;
  }

  http2(): H2SessionPool {
    this.h2 ??= new H2SessionPool(this.connector(this.config, ALPN_H2, this.connectTimeoutMs), `https://${this.label}`);
    return this.h2;
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
