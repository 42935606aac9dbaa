import { z } from 'zod';
import type { AttributeValue, SpanKind, SpanRecord, SpanStatus } from './span.js';

/**
 * Reads OTLP/HTTP JSON export requests (`POST /v1/traces`, ExportTraceServiceRequest) into span
 * records, for the control plane to keep recent traces without a collector.
 *
 * The body is untrusted: the whole request is refused when its envelope is malformed or over
 * the limits; a single malformed span is skipped and counted (OTLP's partial success), so one
 * bad span from an app does not lose its neighbours. Values beyond what the store shows (array
 * and map attributes, events, links) are ignored.
 */

export interface ReceiverLimits {
  /** Largest body accepted by parseOtlpTracesJson, bytes. */
  readonly maxBodyBytes: number;
  /** Most spans in one request. */
  readonly maxSpans: number;
  /** Most attributes kept per span (and per resource); more make the span invalid. */
  readonly maxAttributes: number;
  /** Longest name, attribute key or string value, characters. */
  readonly maxStringLength: number;
}

export const DEFAULT_RECEIVER_LIMITS: ReceiverLimits = {
  maxBodyBytes: 4 * 1024 * 1024,
  maxSpans: 2000,
  maxAttributes: 128,
  maxStringLength: 4096,
};

/** A received span and the service that sent it (resource `service.name`). */
export interface ReceivedSpan extends SpanRecord {
  readonly service: string;
}

export type ReceiveResult =
  | { readonly ok: true; readonly spans: ReceivedSpan[]; readonly rejected: number }
  | { readonly ok: false; readonly error: string };

const KINDS: readonly SpanKind[] = ['internal', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUSES: readonly SpanStatus[] = ['unset', 'ok', 'error'];
const UNKNOWN_SERVICE = 'unknown_service';

/** Schemas are built per limits, once (callers keep one receiver per configuration). */
function schemas(limits: ReceiverLimits) {
  const str = z.string().max(limits.maxStringLength);
  // OTLP JSON: ids are hex, case-insensitive; 64-bit integers are strings or numbers.
  const traceId = z.string().regex(/^[0-9a-fA-F]{32}$/);
  const spanId = z.string().regex(/^[0-9a-fA-F]{16}$/);
  const uint64 = z.union([z.string().regex(/^\d{1,20}$/), z.number().int().nonnegative()]);
  const anyValue = z.object({
    stringValue: str.optional(),
    intValue: z.union([z.string().regex(/^-?\d{1,19}$/), z.number().int()]).optional(),
    doubleValue: z.number().optional(),
    boolValue: z.boolean().optional(),
  });
  const attributes = z.array(z.object({ key: str, value: anyValue.optional() })).max(limits.maxAttributes);
  const span = z.object({
    traceId,
    spanId,
    parentSpanId: z.union([spanId, z.literal('')]).optional(),
    name: str,
    kind: z.number().int().min(0).max(5).optional(),
    startTimeUnixNano: uint64,
    endTimeUnixNano: uint64,
    attributes: attributes.optional(),
    status: z.object({ code: z.number().int().min(0).max(2).optional(), message: str.optional() }).optional(),
  });
  // Spans are checked one by one below, so the envelope takes them as unknown.
  const envelope = z.object({
    resourceSpans: z
      .array(
        z.object({
          resource: z.object({ attributes: attributes.optional() }).optional(),
          scopeSpans: z.array(z.object({ spans: z.array(z.unknown()).optional() })).optional(),
        }),
      )
      .optional(),
  });
  return { span, envelope };
}

type Schemas = ReturnType<typeof schemas>;
type OtlpAttributes = z.infer<Schemas['span']>['attributes'];

function decodeAttributes(attrs: OtlpAttributes): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  if (attrs === undefined) return out;
  for (const { key, value } of attrs) {
    if (value === undefined) continue;
    if (value.stringValue !== undefined) out[key] = value.stringValue;
    else if (value.boolValue !== undefined) out[key] = value.boolValue;
    else if (value.intValue !== undefined) out[key] = Number(value.intValue);
    else if (value.doubleValue !== undefined) out[key] = value.doubleValue;
  }
  return out;
}

const ZERO_TRACE = /^0+$/;

/** Parses and checks OTLP JSON trace requests. */
export class OtlpTraceReceiver {
  private readonly s: Schemas;

  constructor(readonly limits: ReceiverLimits = DEFAULT_RECEIVER_LIMITS) {
    this.s = schemas(limits);
  }

  /** A raw request body (never throws). */
  parseJson(body: string | Buffer): ReceiveResult {
    const bytes = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
    if (bytes > this.limits.maxBodyBytes) return { ok: false, error: `body of ${bytes} bytes is over the limit of ${this.limits.maxBodyBytes}` };
    let parsed: unknown;
    try {
      parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
    } catch (err) {
      return { ok: false, error: `body is not JSON: ${(err as Error).message}` };
    }
    return this.parse(parsed);
  }

  /** An already-parsed body (never throws). */
  parse(body: unknown): ReceiveResult {
    const env = this.s.envelope.safeParse(body);
    if (!env.success) {
      const issue = env.error.issues[0];
      return { ok: false, error: `invalid ExportTraceServiceRequest at ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}` };
    }
    let total = 0;
    for (const rs of env.data.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) total += ss.spans?.length ?? 0;
    if (total > this.limits.maxSpans) return { ok: false, error: `${total} spans in one request is over the limit of ${this.limits.maxSpans}` };

    const spans: ReceivedSpan[] = [];
    let rejected = 0;
    for (const rs of env.data.resourceSpans ?? []) {
      const resource = decodeAttributes(rs.resource?.attributes);
      const name = resource['service.name'];
      const service = typeof name === 'string' && name !== '' ? name : UNKNOWN_SERVICE;
      for (const ss of rs.scopeSpans ?? []) {
        for (const raw of ss.spans ?? []) {
          const span = this.span(raw, service);
          if (span === null) rejected++;
          else spans.push(span);
        }
      }
    }
    return { ok: true, spans, rejected };
  }

  private span(raw: unknown, service: string): ReceivedSpan | null {
    const r = this.s.span.safeParse(raw);
    if (!r.success) return null;
    const d = r.data;
    if (ZERO_TRACE.test(d.traceId) || ZERO_TRACE.test(d.spanId)) return null;
    const startNs = BigInt(d.startTimeUnixNano);
    const endNs = BigInt(d.endTimeUnixNano);
    if (endNs < startNs) return null;
    const status = STATUSES[d.status?.code ?? 0]!;
    const parent = d.parentSpanId === undefined || d.parentSpanId === '' || ZERO_TRACE.test(d.parentSpanId) ? undefined : d.parentSpanId.toLowerCase();
    return {
      service,
      traceId: d.traceId.toLowerCase(),
      spanId: d.spanId.toLowerCase(),
      parentSpanId: parent,
      name: d.name,
      kind: KINDS[d.kind ?? 0]!,
      startNs,
      endNs,
      attributes: decodeAttributes(d.attributes),
      status,
      statusMessage: d.status?.message === undefined || d.status.message === '' ? undefined : d.status.message,
    };
  }
}
