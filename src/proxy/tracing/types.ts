import type { IncomingHttpHeaders } from 'node:http2';
import type { Hop } from '../../telemetry/tracing/index.js';

/**
 * What a forwarder needs of tracing (the proxy's Tracer implements it). Forwarders read
 * `enabled` once per request head; while it is false they do nothing else for tracing, so
 * trace headers pass through untouched and the request costs one property read.
 */
export interface RequestTracer {
  /** False while the running snapshot has no `tracing`. */
  readonly enabled: boolean;
  /** Continue (or start) the trace of a request with flat, lower-cased `[name, value, ...]` headers. */
  begin(headers: readonly string[]): Hop;
  /** The same for node's header objects (HTTP/2). */
  beginFromRecord(headers: IncomingHttpHeaders): Hop;
}

/**
 * Trace fields of a finished exchange (HTTP/1 ExchangeRecord, HTTP/2 StreamRecord), set only
 * when tracing was on for it: ids for the access log, parent and decision for the span.
 */
export interface TraceFields {
  traceId?: string | undefined;
  /** This hop's span (the upstream saw it as its parent). */
  spanId?: string | undefined;
  parentSpanId?: string | undefined;
  /** Whether this hop's span is recorded and exported. */
  sampled?: boolean | undefined;
}

/** Copies a hop's ids onto a record (only called for traced exchanges). */
export function setTraceFields(rec: TraceFields, hop: Hop): void {
  rec.traceId = hop.traceId;
  rec.spanId = hop.spanId;
  rec.parentSpanId = hop.parentSpanId;
  rec.sampled = hop.sampled;
}
