/**
 * Recent traces the control plane collected itself (its OTLP/HTTP receiver at `/v1/traces`),
 * for the dashboard and `trellis get traces`. Times are epoch based; the exact nanosecond
 * values are decimal strings (they do not fit a JSON number), the `*Ms` ones are rounded
 * to microseconds for display.
 *
 * POST /v1/traces                      OTLP/HTTP JSON ExportTraceServiceRequest
 *                                      -> 200 {"partialSuccess":{}} or {"partialSuccess":{"rejectedSpans":"N","errorMessage":"..."}}
 *                                      -> 400/413/415 google.rpc.Status JSON {"code":3,"message":"..."}
 * GET  /api/v1/traces?limit=N          -> TraceSummaryView[]  (most recently updated first; N 1..1000, default 50)
 * GET  /api/v1/traces/:traceId         -> TraceView  (404 when no span of it is kept)
 */

/** One trace in the recent list. */
export interface TraceSummaryView {
  /** 32 lower-case hex digits. */
  traceId: string;
  /** The root span's name (the span whose parent is not here), else the earliest span's. */
  rootName: string;
  rootService: string;
  /** Distinct services (resource `service.name`), in order of first start. */
  services: string[];
  spanCount: number;
  /** Earliest span start, epoch ns. */
  startTimeUnixNano: string;
  /** Earliest span start, epoch ms. */
  startMs: number;
  /** Earliest start to latest end, ms. */
  durationMs: number;
  /** Some span has status error. */
  error: boolean;
}

export type TraceSpanKind = 'internal' | 'server' | 'client' | 'producer' | 'consumer';

/** One span of a trace, as the waterfall draws it. */
export interface TraceSpanView {
  traceId: string;
  spanId: string;
  /** Absent for a root span. */
  parentSpanId?: string;
  service: string;
  name: string;
  kind: TraceSpanKind;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  startMs: number;
  durationMs: number;
  status: 'unset' | 'ok' | 'error';
  statusMessage?: string;
  /** Scalar attributes (OpenTelemetry names, e.g. `http.response.status_code`). */
  attributes: Record<string, string | number | boolean>;
}

/** Every kept span of one trace, by start time. */
export interface TraceView {
  traceId: string;
  spans: TraceSpanView[];
}

/** OTLP/HTTP JSON ExportTraceServiceResponse. */
export interface OtlpExportResponse {
  partialSuccess: { rejectedSpans?: string; errorMessage?: string };
}
