import { ProxyReason } from '../../errors.js';
import type { ClusterTable } from '../cluster/cluster-table.js';
import type { UpstreamFailure } from '../http1/types.js';
import type { Http2Upstream, StreamLease } from '../http2/types.js';
import { connectWithFailover, failure } from './failover.js';
import type { H2SessionPool } from './h2-session-pool.js';
import type http2 from 'node:http2';

/** Outbound h2/grpc: one endpoint per stream, picked by the cluster's balancer. */
export class ClusterHttp2Upstream implements Http2Upstream {
  constructor(
    private readonly table: ClusterTable,
    private readonly clusterName: string,
    private readonly now: () => number = () => performance.now(),
  ) {}

  acquire(cb: (failure: UpstreamFailure | null, lease: StreamLease | null) => void): void {
    const cluster = this.table.get(this.clusterName);
    if (cluster === undefined) {
      cb(failure(503, ProxyReason.UnknownCluster, `unknown cluster ${this.clusterName}`), null);
      return;
    }
    const started = this.now();
    connectWithFailover<http2.ClientHttp2Session>(
      cluster,
      (ep, done) => ep.http2().get(done),
      (f, session, ep) => {
        if (f !== null || session === null || ep === null) {
          cb(f, null);
          return;
        }
        let released = false;
        cb(null, {
          session,
          peer: ep.config.identity,
          onResponseHead: () => {
            const now = this.now();
            ep.load.rtt.observe(now - started, now);
          },
          release: () => {
            if (released) return;
            released = true;
            ep.load.pending--;
          },
        });
      },
    );
  }
}

/** Inbound h2/grpc: the h2c session to the local app. */
export class AppHttp2Upstream implements Http2Upstream {
  constructor(
    private readonly pool: H2SessionPool,
    private readonly appLabel: string,
  ) {}

  acquire(cb: (failure: UpstreamFailure | null, lease: StreamLease | null) => void): void {
    this.pool.get((f, session) => {
      if (f !== null || session === null) {
        cb(failure(503, ProxyReason.AppUnavailable, `app ${this.appLabel}: ${f?.message ?? 'no session'}`), null);
        return;
      }
      cb(null, { session, peer: this.appLabel, release: () => {} });
    });
  }

  close(): void {
    this.pool.close();
  }
}
