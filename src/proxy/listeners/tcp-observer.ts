import type { Direction } from '../../telemetry/request-metrics.js';
import type { RelayResult } from '../tcp/relay.js';
import type { ListenerContext } from './context.js';

/** A connection authorization refused (at accept, or reset later by a new policy). */
export interface TcpRefusal {
  reason: string;
  /** What decided: `<ns>/<name>` or `default`. */
  policy: string;
}

/**
 * Connection metrics, spans and access-log lines of a listener's opaque TCP relays (HTTP
 * exchanges are observed by the pipeline's observe and trace stages). A relay makes one root
 * span per sampled connection: no trace context crosses opaque bytes.
 */
export function tcpObserver(
  ctx: ListenerContext,
  direction: Direction,
  listener: string,
  service: string,
): (peerIdentity: string | undefined, upstream: string | undefined) => (r: RelayResult, refused?: TcpRefusal) => void {
  const tcpM = ctx.metrics.tcpMetrics(direction, listener);
  const kind = direction === 'outbound' ? 'client' : 'server';
  return (peerIdentity, upstream) => {
    const started = ctx.clock.now();
    const startedAt = ctx.clock.epochMs();
    tcpM.opened();
    return (r, refused) => {
      tcpM.closed(r.bytesIn, r.bytesOut);
      const durationMs = ctx.clock.now() - started;
      const tracer = ctx.tracer;
      if (tracer.enabled) {
        tracer.exportConnection(kind, { startedAt, durationMs, bytesIn: r.bytesIn, bytesOut: r.bytesOut, upstream, error: r.error?.message }, service, peerIdentity);
      }
      const log = ctx.accessLog;
      if (!log.enabled) return;
      log.write({
        direction,
        listener,
        protocol: 'tcp',
        peerIdentity,
        upstream,
        reason: refused?.reason ?? r.error?.message,
        bytesIn: r.bytesIn,
        bytesOut: r.bytesOut,
        durationMs,
        startedAt,
        ...(refused !== undefined ? { policy: refused.policy } : {}),
      });
    };
  };
}
