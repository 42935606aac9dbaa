import { formatsFor, inject, type TraceContext, type TraceFormat } from './context.js';
import type { IdGenerator } from './ids.js';
import type { Sampler } from './sampler.js';

/**
 * One proxy hop's place in a trace: the step a forwarder takes per request when tracing is on
 * (when it is off the forwarder skips this module entirely).
 *
 *   const hop = beginHop(extract(headers), sampler, ids);
 *   forward with headers minus TRACE_HEADERS, plus hopHeaders(hop);
 *   when done, if (hop.sampled) exporter.export(httpSpan({ ...hop, kind, ...exchange }));
 *
 * Unsampled requests are still propagated (with the not-sampled flag), so every later hop
 * makes the same decision and the trace id stays the same end to end.
 */
export interface Hop {
  readonly traceId: string;
  /** This hop's span; the next hop's parent. */
  readonly spanId: string;
  /** The caller's span, if the request carried a trace. */
  readonly parentSpanId: string | undefined;
  readonly sampled: boolean;
  readonly tracestate: string | undefined;
  /** Header formats to write: W3C plus the caller's B3 form, if any. */
  readonly formats: readonly TraceFormat[];
}

export function beginHop(incoming: TraceContext | null, sampler: Sampler, ids: IdGenerator): Hop {
  const traceId = incoming?.traceId ?? ids.traceId();
  return {
    traceId,
    spanId: ids.spanId(),
    parentSpanId: incoming?.parentSpanId,
    sampled: sampler.shouldSample(traceId, incoming?.sampled),
    tracestate: incoming?.tracestate,
    formats: formatsFor(incoming),
  };
}

/** The trace headers for the forwarded request, flat [name, value, ...]. */
export function hopHeaders(hop: Hop): string[] {
  return inject(hop, hop.spanId, hop.formats);
}
