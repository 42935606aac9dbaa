import type http2 from 'node:http2';
import { ProxyReason } from '../../errors.js';
import type { Exchange } from '../pipeline/exchange.js';
import { NO_PERMIT } from '../pipeline/lease.js';
import type { Http1Lease, Http2Lease, LeaseCallback, LeaseRequest, LeaseSource, Permit } from '../pipeline/lease.js';
import type { LocalReply } from '../pipeline/service.js';
import { failure } from './failover.js';
import type { H2SessionPool } from './h2-session-pool.js';
import type { Http1Pool, PooledSocket } from './http1-pool.js';

/**
 * Inbound connections: the local app, over a keep-alive pool of plain TCP sockets (HTTP/1) or
 * one h2c session (HTTP/2). No circuit breaker and no failover here: there is one app, and
 * when it cannot be reached callers learn it from `503 app-unavailable` and fail over
 * themselves.
 */
export class AppLeases implements LeaseSource {
  constructor(
    private readonly label: string,
    private readonly h1: Http1Pool | null,
    private readonly h2: H2SessionPool | null,
  ) {}

  admit(): Permit | LocalReply {
    return NO_PERMIT;
  }

  acquire(ex: Exchange, want: LeaseRequest, cb: LeaseCallback): undefined {
    if (ex.protocol === 'http1') {
      const pool = this.h1;
      if (pool === null) {
        cb(failure(503, ProxyReason.AppUnavailable, `app ${this.label} does not speak HTTP/1`), null);
        return undefined;
      }
      if (!want.fresh) {
        const pooled = pool.takeIdle();
        if (pooled !== null) {
          cb(null, new AppSocketLease(pooled, this.label));
          return undefined;
        }
      }
      pool.acquire((f, pooled) => {
        if (f !== null || pooled === null) cb(failure(503, ProxyReason.AppUnavailable, `app ${this.label}: ${f?.message ?? 'no connection'}`), null);
        else cb(null, new AppSocketLease(pooled, this.label));
      }, want.fresh);
      return undefined;
    }
    const pool = this.h2;
    if (pool === null) {
      cb(failure(503, ProxyReason.AppUnavailable, `app ${this.label} does not speak HTTP/2`), null);
      return undefined;
    }
    pool.get((f, session) => {
      if (f !== null || session === null) cb(failure(503, ProxyReason.AppUnavailable, `app ${this.label}: ${f?.message ?? 'no session'}`), null);
      else cb(null, new AppStreamLease(session, this.label));
    });
    return undefined;
  }

  close(): void {
    this.h1?.close();
    this.h2?.close();
  }
}

abstract class AppLease {
  readonly failoverKey = undefined;
  readonly responseHeaders = undefined;
  constructor(readonly peer: string) {}
  unavailable(): void {}
  onResponseHead(): void {}
}

class AppSocketLease extends AppLease implements Http1Lease {
  readonly reused: boolean;
  constructor(
    private readonly pooled: PooledSocket,
    peer: string,
  ) {
    super(peer);
    this.reused = pooled.reused;
  }
  get socket(): Http1Lease['socket'] {
    return this.pooled.socket;
  }
  release(reusable: boolean, failed: boolean): void {
    this.pooled.release(reusable && !failed);
  }
}

class AppStreamLease extends AppLease implements Http2Lease {
  readonly reused = false;
  constructor(
    readonly session: http2.ClientHttp2Session,
    peer: string,
  ) {
    super(peer);
  }
  release(): void {}
}
