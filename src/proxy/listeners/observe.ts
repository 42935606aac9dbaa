import { parseSpiffeId } from '../../identity/spiffe.js';
import { destinationOfCluster, SeriesBudget } from '../../telemetry/request-metrics.js';
import type { Destination, Direction, Peer, RequestRecorder } from '../../telemetry/request-metrics.js';
import type { ExchangeRecord } from '../http1/types.js';
import type { StreamRecord } from '../http2/types.js';
import type { RelayResult } from '../tcp/relay.js';
import { tapSite, type TapSite } from '../tap/tap-event.js';
import type { SpanSite } from '../tracing/tracer.js';
import type { ListenerContext } from './context.js';

/** An inbound caller whose identity is not a workload ID of ours (should not pass mTLS). */
const UNKNOWN_PEER: Peer = { namespace: '', workload: '', serviceAccount: '' };

/**
 * Metrics, span, tap and access-log hooks for one listener, bound once (label lookups happen here and
 * once per connection, not per request). With the access log off, the only per-request work
 * and tracing off, the only per-request work is the golden-metrics record (a few Map lookups
 * and additions) and one field read.
 *
 * Spans: a client span on outbound listeners, a server span on inbound ones; server.address
 * is the destination service (the routed backend's, when a route picked one), and the peer
 * identity is the caller's (inbound) or the endpoint's (outbound). A TCP relay makes one root span per
 * sampled connection (no context crosses opaque bytes).
 *
 * Labels: outbound requests come from this proxy's workload and go to the listener's cluster
 * (or the routed backend, when the record names one); inbound requests go to this proxy's
 * service and come from the caller's SPIFFE ID, which names a namespace and service account
 * (not a workload: several workloads may share an account).
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
  const budget = new SeriesBudget();
  const node = ctx.node;
  const self: Peer = { namespace: node.namespace, workload: node.workload, serviceAccount: node.serviceAccount };
  const dst: Destination = direction === 'outbound' ? destinationOfCluster(cluster) : { namespace: node.namespace, service: node.service };
  const outboundRecorder = direction === 'outbound' ? ctx.metrics.requestRecorder(direction, self, dst, budget) : null;
  /** Inbound: one recorder per calling identity (bounded by the identities in the trust domain). */
  const byPeer = new Map<string, RequestRecorder>();
  const recorderFor = (peerIdentity: string | undefined): RequestRecorder => {
    if (outboundRecorder !== null) return outboundRecorder;
    const id = peerIdentity ?? '';
    let r = byPeer.get(id);
    if (r === undefined) {
      const p = parseSpiffeId(id);
      const src = p === null ? UNKNOWN_PEER : { namespace: p.namespace, workload: '', serviceAccount: p.serviceAccount };
      r = ctx.metrics.requestRecorder(direction, src, dst, budget);
      byPeer.set(id, r);
    }
    return r;
  };
  const tcpM = ctx.metrics.tcpMetrics(direction, listener);
  const log = ctx.accessLog;
  const tracer = ctx.tracer;
  const kind = direction === 'outbound' ? 'client' : 'server';
  const sites: Record<'http' | 'http2', SpanSite> = { http: { kind, protocol: '1.1' }, http2: { kind, protocol: '2' } };
  const tap = ctx.tap;
  const tapSites: Record<'http' | 'http2', TapSite> = {
    http: tapSite(node, direction, 'http', cluster),
    http2: tapSite(node, direction, 'http2', cluster),
  };
  const serverAddress = (r: ExchangeRecord | StreamRecord): string =>
    direction === 'outbound' && r.backend !== undefined && r.backend !== cluster ? destinationOfCluster(r.backend).service : dst.service;
  // HTTP/1 exchanges and HTTP/2 streams report the same fields; only the protocol differs.
  const exchange =
    (protocol: 'http' | 'http2') =>
    (peerIdentity: string | undefined) => {
      const m = recorderFor(peerIdentity);
      const site = sites[protocol];
      const tapAt = tapSites[protocol];
      return (r: ExchangeRecord | StreamRecord): void => {
        m.record(r);
        if (r.sampled === true) tracer.exportExchange(site, r, serverAddress(r), peerIdentity ?? r.upstreamPeer);
        // Nobody tapping: one field read.
        if (tap.active) tap.publish(tapAt, r, peerIdentity);
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
          traceId: r.traceId,
          spanId: r.spanId,
        });
      };
    };
  return {
    http1: exchange('http'),
    http2: exchange('http2'),
    tcp: (peerIdentity, upstream, startedAt, started) => {
      tcpM.opened();
      return (r) => {
        tcpM.closed(r.bytesIn, r.bytesOut);
        const durationMs = ctx.now() - started;
        if (tracer.enabled) {
          tracer.exportConnection(kind, { startedAt, durationMs, bytesIn: r.bytesIn, bytesOut: r.bytesOut, upstream, error: r.error?.message }, dst.service, peerIdentity);
        }
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
          durationMs,
          startedAt,
        });
      };
    },
  };
}
