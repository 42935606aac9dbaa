import type { ReceivedSpan } from './receiver.js';

/**
 * Recent spans in memory, grouped by trace, for the dashboard's trace list and waterfall.
 *
 * Memory is bounded by span count: a ring of the last `maxSpans` spans (the receiver bounds
 * each span's size). When a span leaves the ring it leaves its trace; a trace with no spans
 * left is forgotten. A trace id therefore shows whatever of it is still among the recent spans.
 */

export interface TraceSummary {
  readonly traceId: string;
  /** The root span's name (the span without a parent here), else the earliest span's. */
  readonly rootName: string;
  /** The root span's service, else the earliest span's. */
  readonly rootService: string;
  readonly startNs: bigint;
  /** From the earliest start to the latest end among the spans kept. */
  readonly durationNs: bigint;
  readonly spanCount: number;
  /** Distinct services, in order of first start. */
  readonly services: readonly string[];
  /** True when any span has status error. */
  readonly error: boolean;
}

export class TraceStore {
  private readonly ring: (ReceivedSpan | undefined)[];
  private next = 0;
  private size = 0;
  /** Trace id -> its spans in arrival order; Map order = least recently updated first. */
  private readonly traces = new Map<string, ReceivedSpan[]>();

  constructor(readonly maxSpans = 10_000) {
    if (!Number.isSafeInteger(maxSpans) || maxSpans <= 0) throw new RangeError(`maxSpans must be a positive integer, got ${maxSpans}`);
    this.ring = new Array<ReceivedSpan | undefined>(maxSpans);
  }

  get spanCount(): number {
    return this.size;
  }

  get traceCount(): number {
    return this.traces.size;
  }

  add(span: ReceivedSpan): void {
    const evicted = this.ring[this.next];
    if (evicted !== undefined) this.forget(evicted);
    else this.size++;
    this.ring[this.next] = span;
    this.next = (this.next + 1) % this.maxSpans;
    const group = this.traces.get(span.traceId);
    if (group === undefined) {
      this.traces.set(span.traceId, [span]);
    } else {
      group.push(span);
      // Move to the end: most recently updated traces list first.
      this.traces.delete(span.traceId);
      this.traces.set(span.traceId, group);
    }
  }

  addAll(spans: readonly ReceivedSpan[]): void {
    for (const s of spans) this.add(s);
  }

  /** The spans of one trace, by start time; empty when unknown. */
  trace(traceId: string): ReceivedSpan[] {
    const group = this.traces.get(traceId);
    if (group === undefined) return [];
    return [...group].sort((a, b) => (a.startNs < b.startNs ? -1 : a.startNs > b.startNs ? 1 : 0));
  }

  /** Up to `limit` traces, most recently updated first. */
  recent(limit = 50): TraceSummary[] {
    const ids = [...this.traces.keys()];
    const out: TraceSummary[] = [];
    for (let i = ids.length - 1; i >= 0 && out.length < limit; i--) out.push(summarize(ids[i]!, this.trace(ids[i]!)));
    return out;
  }

  /** The oldest span leaves its trace; it is that trace's first (both are in arrival order). */
  private forget(span: ReceivedSpan): void {
    const group = this.traces.get(span.traceId);
    if (group === undefined) return;
    if (group[0] === span) group.shift();
    else group.splice(group.indexOf(span), 1);
    if (group.length === 0) this.traces.delete(span.traceId);
  }
}

function summarize(traceId: string, spans: ReceivedSpan[]): TraceSummary {
  const ids = new Set(spans.map((s) => s.spanId));
  const root = spans.find((s) => s.parentSpanId === undefined || !ids.has(s.parentSpanId)) ?? spans[0]!;
  let start = spans[0]!.startNs;
  let end = spans[0]!.endNs;
  const services: string[] = [];
  let error = false;
  for (const s of spans) {
    if (s.startNs < start) start = s.startNs;
    if (s.endNs > end) end = s.endNs;
    if (!services.includes(s.service)) services.push(s.service);
    if (s.status === 'error') error = true;
  }
  return { traceId, rootName: root.name, rootService: root.service, startNs: start, durationNs: end - start, spanCount: spans.length, services, error };
}
