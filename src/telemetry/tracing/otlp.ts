import type { AttributeValue, SpanKind, SpanRecord, SpanStatus } from './span.js';

/**
 * OTLP/HTTP JSON encoding of spans (opentelemetry-proto `ExportTraceServiceRequest`, with the
 * OTLP JSON rules: ids as lower-hex strings, 64-bit integers as decimal strings, enums as
 * numbers, camelCase field names).
 *
 * Hand-written rather than @opentelemetry/otlp-transformer: the shape is small and stable, and
 * the SDK's exporter pipeline (its own span classes, context, resource detection) would sit
 * beside the proxy's hot path for no gain.
 */

export interface OtlpAnyValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}

export interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}

export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: OtlpKeyValue[];
  status: { code: number; message?: string };
}

export interface OtlpTracesRequest {
  resourceSpans: {
    resource: { attributes: OtlpKeyValue[] };
    scopeSpans: { scope: { name: string; version?: string }; spans: OtlpSpan[] }[];
  }[];
}

/** Where spans come from: resource attributes (`service.name` etc.) and the instrumentation scope. */
export interface OtlpResource {
  /** e.g. { 'service.name': 'checkout', 'service.namespace': 'shop', 'service.instance.id': 'node-1' } */
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly scopeName: string;
  readonly scopeVersion?: string | undefined;
}

export const OTLP_TRACES_PATH = '/v1/traces';

/** SpanKind enum of opentelemetry-proto. */
export const OTLP_KIND: Readonly<Record<SpanKind, number>> = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 };
/** Status.StatusCode enum of opentelemetry-proto. */
export const OTLP_STATUS: Readonly<Record<SpanStatus, number>> = { unset: 0, ok: 1, error: 2 };

export function encodeValue(v: AttributeValue): OtlpAnyValue {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  return Number.isSafeInteger(v) ? { intValue: String(v) } : { doubleValue: v };
}

export function encodeAttributes(attrs: Readonly<Record<string, AttributeValue>>): OtlpKeyValue[] {
  const out: OtlpKeyValue[] = [];
  for (const key in attrs) out.push({ key, value: encodeValue(attrs[key]!) });
  return out;
}

export function encodeSpan(s: SpanRecord): OtlpSpan {
  const span: OtlpSpan = {
    traceId: s.traceId,
    spanId: s.spanId,
    name: s.name,
    kind: OTLP_KIND[s.kind],
    startTimeUnixNano: s.startNs.toString(),
    endTimeUnixNano: s.endNs.toString(),
    attributes: encodeAttributes(s.attributes),
    status: s.statusMessage === undefined ? { code: OTLP_STATUS[s.status] } : { code: OTLP_STATUS[s.status], message: s.statusMessage },
  };
  if (s.parentSpanId !== undefined) span.parentSpanId = s.parentSpanId;
  return span;
}

/** One export request body for `spans`, all from `resource`. */
export function encodeTraces(resource: OtlpResource, spans: readonly SpanRecord[]): OtlpTracesRequest {
  const scope = resource.scopeVersion === undefined ? { name: resource.scopeName } : { name: resource.scopeName, version: resource.scopeVersion };
  return {
    resourceSpans: [
      {
        resource: { attributes: encodeAttributes(resource.attributes) },
        scopeSpans: [{ scope, spans: spans.map(encodeSpan) }],
      },
    ],
  };
}
