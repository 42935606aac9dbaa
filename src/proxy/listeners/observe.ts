import type { Direction } from '../../telemetry/metrics.js';
import type { ExchangeRecord } from '../http1/types.js';
import type { StreamRecord } from '../http2/types.js';
import type { RelayResult } from '../tcp/relay.js';
import type { ListenerContext } from './context.js';

/**
 * Metrics and access-log hooks for one listener, bound once (label lookups happen here,
 * not per request). With the access log off, the only per-request work is the counters.
 */
export function exchangeObserver(
  ctx: ListenerContext,
  direction: Direction,
  listener: string,
  cluster: string,
): {
  http1(peerIdentity: string | undefined): (r: ExchangeRecord) => void;
  http2(peerIdentity: string | undefined): (r: StreamRecord) => void;
  tcp(peerIdentity: string | undefined, upstream: string | undefined, startedAt: number, started: number): (r: RelayResult) => void;
} {
  const m = ctx.metrics.requestMetrics(direction, listener, cluster);
  const tcpM = ctx.metrics.tcpMetrics(direction, listener);
  const log = ctx.accessLog;
  // HTTP/1 exchanges and HTTP/2 streams report the same fields; only the protocol differs.
  const exchange =
    (protocol: 'http' | 'http2') =>
    (peerIdentity: string | undefined) =>
    (r: ExchangeRecord | StreamRecord): void => {
      m.record(r.status, r.durationMs / 1000);
      if (!log.enabled) return;
      log.write({
        direction,
        listener,
        protocol,
        method: r.method,
        target: r.target,
        status: r.status,
        reason: r.reason,
        peerIdentity,
        upstream: r.upstreamPeer,
        bytesIn: r.requestBodyBytes,
        bytesOut: r.responseBodyBytes,
        durationMs: r.durationMs,
        startedAt: r.startedAt,
      });
    };
  return {
    http1: exchange('http'),
    http2: exchange('http2'),
    tcp: (peerIdentity, upstream, startedAt, started) => {
      tcpM.opened();
      return (r) => {
        tcpM.closed(r.bytesIn, r.bytesOut);
        if (!log.enabled) return;
        log.write({
          direction,
          listener,
          protocol: 'tcp',
          peerIdentity,
          upstream,
          reason: r.error?.message,
          bytesIn: r.bytesIn,
          bytesOut: r.bytesOut,
          durationMs: ctx.now() - started,
          startedAt,
        });
      };
    },
  };
}
