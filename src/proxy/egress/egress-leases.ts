import { ProxyReason } from '../../errors.js';
import type { Exchange } from '../pipeline/exchange.js';
import { NO_PERMIT } from '../pipeline/lease.js';
import type { Http1Lease, LeaseCallback, LeaseRequest, LeaseSource, Permit } from '../pipeline/lease.js';
import type { LocalReply } from '../pipeline/service.js';
import { failure } from '../pool/failover.js';
import { tcpConnector } from '../pool/connect.js';
import type { Connect } from '../pool/connect.js';
import { Http1Pool } from '../pool/http1-pool.js';
import type { Http1PoolOptions, PooledSocket } from '../pool/http1-pool.js';

/** Destinations with a keep-alive pool at once; past it the least recently used pool is closed. */
const MAX_POOLS = 256;

/**
 * Connections of HTTP egress listeners: plain TCP to the destination the egress stage chose
 * (an ExternalService's endpoints in order, else the host asked for), one keep-alive pool per
 * `host:port`, at most MAX_POOLS of them (allowAny may see many hosts). HTTP/1 only: egress
 * listeners speak HTTP/1.1 to the app and to the outside.
 */
export class EgressLeases implements LeaseSource {
  private readonly pools = new Map<string, Http1Pool>();

  constructor(
    private readonly connectTimeoutMs: number,
    private readonly poolOptions?: Http1PoolOptions,
    /** Tests replace the connector; production connects with net. */
    private readonly connector: (host: string, port: number, timeoutMs: number) => Connect = tcpConnector,
  ) {}

  admit(): Permit | LocalReply {
    return NO_PERMIT;
  }

  acquire(ex: Exchange, want: LeaseRequest, cb: LeaseCallback): undefined {
    const target = ex.egress;
    if (target === null || ex.protocol !== 'http1') {
      cb(failure(503, ProxyReason.EgressDenied, 'no egress destination for this request'), null);
      return undefined;
    }
    this.tryAddress(target.addresses, 0, want, cb);
    return undefined;
  }

  private tryAddress(addresses: readonly { host: string; port: number }[], i: number, want: LeaseRequest, cb: LeaseCallback): void {
    const a = addresses[i];
    if (a === undefined) return;
    const key = `${a.host}:${a.port}`;
    const pool = this.pool(key, a.host, a.port);
    if (!want.fresh) {
      const idle = pool.takeIdle();
      if (idle !== null) {
        cb(null, new EgressLease(idle, key));
        return;
      }
    }
    pool.acquire((f, pooled) => {
      if (f === null && pooled !== null) cb(null, new EgressLease(pooled, key));
      else if (i + 1 < addresses.length) this.tryAddress(addresses, i + 1, want, cb);
      else cb(failure(503, ProxyReason.ConnectFailed, `egress ${key}: ${f?.message ?? 'no connection'}`), null);
    }, want.fresh);
  }

  private pool(key: string, host: string, port: number): Http1Pool {
    let p = this.pools.get(key);
    if (p !== undefined) {
      // Most recently used last: Map order is the eviction order.
      this.pools.delete(key);
      this.pools.set(key, p);
      return p;
    }
    if (this.pools.size >= MAX_POOLS) {
      const [oldKey, old] = this.pools.entries().next().value as [string, Http1Pool];
      this.pools.delete(oldKey);
      old.close();
    }
    p = new Http1Pool(this.connector(host, port, this.connectTimeoutMs), this.poolOptions);
    this.pools.set(key, p);
    return p;
  }

  close(): void {
    for (const p of this.pools.values()) p.close();
    this.pools.clear();
  }
}

class EgressLease implements Http1Lease {
  readonly failoverKey = undefined;
  readonly responseHeaders = undefined;
  readonly reused: boolean;
  constructor(
    private readonly pooled: PooledSocket,
    readonly peer: string,
  ) {
    this.reused = pooled.reused;
  }
  get socket(): Http1Lease['socket'] {
    return this.pooled.socket;
  }
  unavailable(): void {}
  onResponseHead(): void {}
  release(reusable: boolean, failed: boolean): void {
    this.pooled.release(reusable && !failed);
  }
}
