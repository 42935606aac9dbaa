import { parseSpiffeId } from '../../../identity/spiffe.js';
import type { AccessLog } from '../../../telemetry/access-log.js';
import type { ProxyMetrics } from '../../../telemetry/metrics.js';
import { destinationOfCluster, SeriesBudget } from '../../../telemetry/request-metrics.js';
import type { Destination, Peer, RequestRecorder } from '../../../telemetry/request-metrics.js';
import type { Exchange } from '../../pipeline/exchange.js';
import type { ResponseHandler, Service } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';
import { tapSite } from '../../tap/tap-event.js';
import type { TapSite } from '../../tap/tap-event.js';
import type { TapHub } from '../../tap/tap-hub.js';
import type { NodeLabels } from '../context.js';

export interface ObserveConfig {
  readonly node: NodeLabels;
  readonly direction: 'inbound' | 'outbound';
  readonly listener: string;
  /** Outbound: the listener's cluster; inbound: ''. */
  readonly cluster: string;
  readonly metrics: ProxyMetrics;
  readonly accessLog: AccessLog;
  readonly tap: TapHub;
}

/** An inbound caller whose identity is not a workload ID of ours (should not pass mTLS). */
const UNKNOWN_PEER: Peer = { namespace: '', workload: '', serviceAccount: '' };

/**
 * Golden metrics, live tap and the access log, recorded once per exchange when it is over
 * (answered, failed, refused or abandoned), for every exchange of the listener, including
 * those refused before they were routed. Labels are bound once per listener (and, inbound,
 * once per calling identity), never per request: with the access log off and nobody tapping,
 * recording is a few Map lookups and additions and two field reads.
 *
 * Labels: outbound requests come from this proxy's workload and go to the listener's cluster
 * (or the routed backend); inbound requests go to this proxy's service and come from the
 * caller's SPIFFE ID, which names a namespace and service account.
 */
export class ObserveStage implements Stage {
  private readonly budget = new SeriesBudget();
  private readonly outboundRecorder: RequestRecorder | null;
  private readonly dst: Destination;
  /** Inbound: one recorder per calling identity (bounded by the identities in the trust domain). */
  private readonly byPeer = new Map<string, RequestRecorder>();
  private readonly tapSites: { readonly http1: TapSite; readonly http2: TapSite };

  constructor(
    private readonly config: ObserveConfig,
    private readonly next: Service,
  ) {
    const { node, direction, cluster } = config;
    this.dst = direction === 'outbound' ? destinationOfCluster(cluster) : { namespace: node.namespace, service: node.service };
    const self: Peer = { namespace: node.namespace, workload: node.workload, serviceAccount: node.serviceAccount };
    this.outboundRecorder = direction === 'outbound' ? config.metrics.requestRecorder(direction, self, this.dst, this.budget) : null;
    this.tapSites = { http1: tapSite(node, direction, 'http', cluster), http2: tapSite(node, direction, 'http2', cluster) };
  }

  call(ex: Exchange, handler: ResponseHandler): void {
    this.next.call(ex, handler);
  }

  finish(ex: Exchange): void {
    const peer = ex.peer ?? undefined;
    this.recorderFor(peer).record(ex);
    // Nobody tapping: one field read.
    const tap = this.config.tap;
    if (tap.active) tap.publish(this.tapSites[ex.protocol], ex, peer);
    const log = this.config.accessLog;
    if (!log.enabled) return;
    log.write({
      direction: this.config.direction,
      listener: this.config.listener,
      protocol: ex.protocol === 'http1' ? 'http' : 'http2',
      method: ex.method,
      target: ex.target,
      status: ex.status,
      reason: ex.reason,
      peerIdentity: peer,
      upstream: ex.upstreamPeer,
      bytesIn: ex.requestBodyBytes,
      bytesOut: ex.responseBodyBytes,
      durationMs: ex.durationMs,
      startedAt: ex.startedAt,
      traceId: ex.hop?.traceId,
      spanId: ex.hop?.spanId,
      policy: ex.authz?.label,
      audit: ex.audit?.label,
      rateLimit: ex.rateLimit,
    });
  }

  private recorderFor(peerIdentity: string | undefined): RequestRecorder {
    if (this.outboundRecorder !== null) return this.outboundRecorder;
    const id = peerIdentity ?? '';
    let r = this.byPeer.get(id);
    if (r === undefined) {
      const p = parseSpiffeId(id);
      const src = p === null ? UNKNOWN_PEER : { namespace: p.namespace, workload: '', serviceAccount: p.serviceAccount };
      r = this.config.metrics.requestRecorder(this.config.direction, src, this.dst, this.budget);
      this.byPeer.set(id, r);
    }
    return r;
  }
}
