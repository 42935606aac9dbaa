import type { TraceSpanView, TraceSummaryView, TraceView } from '../../api/traces.js';
import { DEFAULT_RECEIVER_LIMITS, OtlpTraceReceiver, TraceStore, type ReceivedSpan, type ReceiverLimits, type ReceiveResult, type TraceSummary } from '../../telemetry/tracing/index.js';

/** Spans kept in memory by default: a few hundred recent traces of a small mesh. */
export const DEFAULT_MAX_TRACE_SPANS = 10_000;

const TRACE_ID = /^[0-9a-f]{32}$/;

/**
 * The control plane as a trace collector: OTLP/HTTP JSON bodies in, recent traces out as the
 * REST views of src/api/traces.ts. Memory is bounded by the store's span count and the
 * receiver's per-request limits.
 */
export class TraceCollector {
  readonly store: TraceStore;
  private readonly receiver: OtlpTraceReceiver;

  constructor(
    maxSpans = DEFAULT_MAX_TRACE_SPANS,
    limits: ReceiverLimits = DEFAULT_RECEIVER_LIMITS,
    /** Told about every parsed request (for counters); must not throw. */
    private readonly onReceive: (r: ReceiveResult) => void = () => {},
  ) {
    this.store = new TraceStore(maxSpans);
    this.receiver = new OtlpTraceReceiver(limits);
  }

  get maxBodyBytes(): number {
    return this.receiver.limits.maxBodyBytes;
  }

  /** One export request's body; the spans it carries are kept (never throws). */
  receive(body: Buffer): ReceiveResult {
    const r = this.receiver.parseJson(body);
    if (r.ok) this.store.addAll(r.spans);
    this.onReceive(r);
    return r;
  }

  /** Up to `limit` traces, most recently updated first. */
  recent(limit: number): TraceSummaryView[] {
    return this.store.recent(limit).map(summaryView);
  }

  /** Every kept span of a trace (id case-insensitive); undefined when none is kept. */
  trace(traceId: string): TraceView | undefined {
    const id = traceId.toLowerCase();
    if (!TRACE_ID.test(id)) return undefined;
    const spans = this.store.trace(id);
    return spans.length === 0 ? undefined : { traceId: id, spans: spans.map(spanView) };
  }
}

/** Nanoseconds to milliseconds, rounded to microseconds (exact values travel as strings). */
function ms(ns: bigint): number {
  return Number(ns / 1000n) / 1000;
}

function summaryView(t: TraceSummary): TraceSummaryView {
  return {
    traceId: t.traceId,
    rootName: t.rootName,
    rootService: t.rootService,
    services: [...t.services],
    spanCount: t.spanCount,
    startTimeUnixNano: t.startNs.toString(),
    startMs: ms(t.startNs),
    durationMs: ms(t.durationNs),
    error: t.error,
  };
}

function spanView(s: ReceivedSpan): TraceSpanView {
  const v: TraceSpanView = {
    traceId: s.traceId,
    spanId: s.spanId,
    service: s.service,
    name: s.name,
    kind: s.kind,
    startTimeUnixNano: s.startNs.toString(),
    endTimeUnixNano: s.endNs.toString(),
    startMs: ms(s.startNs),
    durationMs: ms(s.endNs - s.startNs),
    status: s.status,
    attributes: { ...s.attributes },
  };
  if (s.parentSpanId !== undefined) v.parentSpanId = s.parentSpanId;
  if (s.statusMessage !== undefined) v.statusMessage = s.statusMessage;
  return v;
}
