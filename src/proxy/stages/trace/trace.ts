import { destinationOfCluster } from '../../../telemetry/request-metrics.js';
import { TRACE_HEADERS } from '../../../telemetry/tracing/context.js';
import { hopHeaders } from '../../../telemetry/tracing/hop.js';
import type { Exchange } from '../../pipeline/exchange.js';
import type { ResponseHandler, Service } from '../../pipeline/service.js';
import type { Stage } from '../../pipeline/stage.js';
import type { SpanSite, Tracer } from '../../tracing/tracer.js';

export interface TraceConfig {
  readonly tracer: Tracer;
  readonly direction: 'inbound' | 'outbound';
  /** Outbound: the listener's cluster; inbound: ''. */
  readonly cluster: string;
  /** This proxy's service (inbound spans' server.address). */
  readonly service: string;
}

/**
 * Tracing, while the snapshot turns it on: each request continues (or starts) its trace, the
 * forwarded head carries this hop's trace fields (W3C, plus the caller's B3 form) instead of
 * the caller's, and a sampled exchange's span (client outbound, server inbound) goes to the
 * exporter when the exchange is over. Retries, failovers and replays of one request share one
 * hop and one span. While tracing is off this costs one field read.
 */
export class TraceStage implements Stage {
  private readonly sites: { readonly http1: SpanSite; readonly http2: SpanSite };

  constructor(
    private readonly config: TraceConfig,
    private readonly next: Service,
  ) {
    const kind = config.direction === 'outbound' ? 'client' : 'server';
    this.sites = { http1: { kind, protocol: '1.1' }, http2: { kind, protocol: '2' } };
  }

  call(ex: Exchange, handler: ResponseHandler): void {
    const tracer = this.config.tracer;
    if (tracer.enabled) {
      const hop = tracer.begin(ex.headers);
      ex.hop = hop;
      const edits = ex.editRequest();
      const h = ex.headers;
      for (let i = 0; i < h.length; i += 2) {
        const name = h[i] as string;
        // Every trace header starts with t, b or x: most fields never reach the Set.
        const c = name.charCodeAt(0);
        if ((c === 0x74 || c === 0x62 || c === 0x78) && TRACE_HEADERS.has(name)) edits.removeField(name);
      }
      const fields = hopHeaders(hop);
      for (let i = 0; i + 1 < fields.length; i += 2) edits.setField(fields[i] as string, fields[i + 1] as string);
    }
    this.next.call(ex, handler);
  }

  finish(ex: Exchange): void {
    const hop = ex.hop;
    if (hop === null || !hop.sampled) return;
    const { direction, cluster, service } = this.config;
    const outbound = direction === 'outbound';
    const serverAddress = outbound ? destinationOfCluster(ex.backend ?? cluster).service : service;
    this.config.tracer.exportExchange(this.sites[ex.protocol], ex, serverAddress, outbound ? ex.upstreamPeer : (ex.peer ?? undefined));
  }
}
