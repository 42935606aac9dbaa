import type { ConnectionOptions } from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http2';
import type { TracingConfig } from '../../api/snapshot.js';
import {
  beginHop,
  epochMsToNs,
  extract,
  extractFromRecord,
  httpSpan,
  OtlpHttpExporter,
  parentBasedSampler,
  randomIds,
  tcpSpan,
} from '../../telemetry/tracing/index.js';
import type { ExporterStats, Hop, IdGenerator, OtlpExporterOptions, Sampler, SpanRecord } from '../../telemetry/tracing/index.js';
import type { RequestTracer, TraceFields } from './types.js';

/** Who this proxy is, for the exporter's resource (read from the bootstrap's node). */
export interface TracerNode {
  namespace: string;
  workload: string;
  service: string;
  replica: number;
  /** This proxy's SPIFFE ID. */
  identity: string;
}

export interface TracerDeps {
  /** Span and trace ids; the process-wide CSPRNG pool by default (tests inject their own). */
  ids?: IdGenerator;
  /** Told about failed exports (a warn log line). */
  onError?: (message: string) => void;
  /** Exporter tuning (batch size, flush interval, timeout); tests use short intervals. */
  exporter?: Pick<OtlpExporterOptions, 'maxBatchSize' | 'maxQueueSize' | 'flushIntervalMs' | 'timeoutMs'>;
  /**
   * How to verify the control plane's own collector over https (a snapshot's `tracing.controlPlane`):
   * the mesh trust bundle and the control plane's SPIFFE ID. Read when the endpoint changes.
   */
  controlPlaneTls?: () => ConnectionOptions;
}

/** What a finished exchange (ExchangeRecord or StreamRecord) tells the span. */
export interface TracedExchange extends TraceFields {
  method: string;
  target: string;
  status: number;
  reason: string | undefined;
  /** Epoch ms. */
  startedAt: number;
  durationMs: number;
  route?: string | undefined;
  grpcStatus?: number | undefined;
}

/** What a finished TCP relay tells its span. */
export interface TracedConnection {
  /** Epoch ms. */
  startedAt: number;
  durationMs: number;
  bytesIn: number;
  bytesOut: number;
  upstream: string | undefined;
  error: string | undefined;
}

/** What is fixed for every span of one listener side. */
export interface SpanSite {
  /** 'client' on outbound listeners, 'server' on inbound ones. */
  kind: 'client' | 'server';
  protocol: '1.1' | '2';
}

const SCOPE_NAME = 'trellis-proxy';
const SCOPE_VERSION = '0.1.0';

/** Checks `spec.tracing` of a snapshot; the first problem as `tracing.<field>: message`, or null. */
export function checkTracingConfig(t: unknown): string | null {
  if (t === undefined) return null;
  if (typeof t !== 'object' || t === null) return 'tracing: not an object';
  const c = t as Partial<TracingConfig>;
  if (typeof c.samplingRatio !== 'number' || !(c.samplingRatio >= 0 && c.samplingRatio <= 1)) return 'tracing.samplingRatio: expected a number in [0, 1]';
  if (typeof c.endpoint !== 'string') return 'tracing.endpoint: expected a URL';
  if (c.controlPlane !== undefined && typeof c.controlPlane !== 'boolean') return 'tracing.controlPlane: expected a boolean';
  try {
    const u = new URL(c.endpoint);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return 'tracing.endpoint: expected http:// or https://';
  } catch {
    return 'tracing.endpoint: not a URL';
  }
  return null;
}

/**
 * This proxy's tracing: the sampler and OTLP exporter for the running snapshot's `tracing`,
 * and the two steps the data path takes (begin a hop at the request head, export the span
 * when the exchange is recorded). Off (no `tracing` in the snapshot) it holds no exporter and
 * forwarders skip it entirely. A snapshot that changes the endpoint gets a new exporter; the
 * old one sends what it holds and shuts down in the background.
 */
export class Tracer implements RequestTracer {
  enabled = false;
  private sampler: Sampler | null = null;
  private exporter: OtlpHttpExporter | null = null;
  private endpoint: string | null = null;
  private ratio = -1;
  private readonly ids: IdGenerator;
  private readonly resource: OtlpExporterOptions['resource'];
  /** Exporters being shut down (old endpoints), so flush()/shutdown() can wait for them. */
  private readonly retiring = new Set<Promise<void>>();

  constructor(
    node: TracerNode,
    private readonly deps: TracerDeps = {},
  ) {
    this.ids = deps.ids ?? randomIds();
    this.resource = {
      attributes: {
        'service.name': node.service,
        'service.namespace': node.namespace,
        'trellis.workload': node.workload,
        'trellis.replica': node.replica,
        'trellis.identity': node.identity,
      },
      scopeName: SCOPE_NAME,
      scopeVersion: SCOPE_VERSION,
    };
  }

  /**
   * Applies a snapshot's `tracing` (checked with checkTracingConfig first: this throws on an
   * invalid one). Undefined turns tracing off.
   */
  configure(config: TracingConfig | undefined): void {
    if (config === undefined) {
      this.enabled = false;
      this.sampler = null;
      this.ratio = -1;
      this.retire();
      return;
    }
    if (config.samplingRatio !== this.ratio) {
      this.sampler = parentBasedSampler(config.samplingRatio);
      this.ratio = config.samplingRatio;
    }
    if (config.endpoint !== this.endpoint) {
      const tls = config.controlPlane === true && config.endpoint.startsWith('https:') ? this.deps.controlPlaneTls?.() : undefined;
      const next = new OtlpHttpExporter({ ...this.deps.exporter, endpoint: config.endpoint, resource: this.resource, onError: this.deps.onError, ...(tls !== undefined ? { tls } : {}) });
      this.retire();
      this.exporter = next;
      this.endpoint = config.endpoint;
    }
    this.enabled = true;
  }

  begin(headers: readonly string[]): Hop {
    return beginHop(extract(headers), this.sampler!, this.ids);
  }

  beginFromRecord(headers: IncomingHttpHeaders): Hop {
    return beginHop(extractFromRecord(headers), this.sampler!, this.ids);
  }

  /**
   * Exports the span of a finished exchange if its hop was sampled. `serverAddress` is the
   * destination service. The name is `<METHOD> <route or service>` (bounded: a route template
   * or service, never the raw path); gRPC keeps the rpc conventions' `package.Service/Method`.
   */
  exportExchange(site: SpanSite, r: TracedExchange, serverAddress: string, peerIdentity: string | undefined): void {
    if (r.sampled !== true || this.exporter === null) return;
    const span = httpSpan({
      traceId: r.traceId!,
      spanId: r.spanId!,
      parentSpanId: r.parentSpanId,
      kind: site.kind,
      startNs: epochMsToNs(r.startedAt),
      endNs: epochMsToNs(r.startedAt + r.durationMs),
      method: r.method,
      target: r.target,
      host: serverAddress,
      status: r.status,
      protocol: site.protocol,
      grpcStatus: r.grpcStatus,
      route: r.route,
      reason: r.reason,
      peerIdentity,
    });
    this.exporter.export(r.grpcStatus !== undefined ? span : named(span, r.route ?? serverAddress));
  }

  /**
   * Exports the span of a finished TCP relay if the sampler picks it. Opaque bytes carry no
   * trace context, so the decision is the ratio's alone and each connection is its own trace.
   */
  exportConnection(kind: 'client' | 'server', c: TracedConnection, service: string, peerIdentity: string | undefined): void {
    if (this.exporter === null) return;
    const traceId = this.ids.traceId();
    if (!this.sampler!.shouldSample(traceId, undefined)) return;
    this.exporter.export(
      tcpSpan({
        traceId,
        spanId: this.ids.spanId(),
        kind,
        startNs: epochMsToNs(c.startedAt),
        endNs: epochMsToNs(c.startedAt + c.durationMs),
        service,
        bytesIn: c.bytesIn,
        bytesOut: c.bytesOut,
        upstream: c.upstream,
        peerIdentity,
        error: c.error,
      }),
    );
  }

  /** The current exporter's counters (null while off). */
  stats(): ExporterStats | null {
    return this.exporter?.stats() ?? null;
  }

  /** Sends every span queued now, old endpoints' included. Never rejects. */
  async flush(): Promise<void> {
    await Promise.all([this.exporter?.flush(), ...this.retiring]);
  }

  /** Turns tracing off, sends what is queued and closes the exporters. Never rejects. */
  async shutdown(): Promise<void> {
    this.configure(undefined);
    await Promise.all([...this.retiring]);
  }

  private retire(): void {
    const old = this.exporter;
    if (old === null) return;
    this.exporter = null;
    this.endpoint = null;
    const done = old.shutdown().finally(() => this.retiring.delete(done));
    this.retiring.add(done);
  }
}

/** httpSpan's name is the bare method; ours adds the route or service, as the HTTP conventions allow. */
function named(span: SpanRecord, what: string): SpanRecord {
  const method = span.name;
  return { ...span, name: what === '' ? method : `${method} ${what}` };
}
