import type { TraceSpanView } from '../api/traces.js';

/**
 * A trace's spans in call order for `trellis get traces <id>`: every child right under its
 * parent, true roots (no parent) before orphans (a parent that is not among the kept spans),
 * siblings by start time.
 *
 * Start times alone cannot give this order: the spans of one call come from different
 * processes, whose clocks differ slightly, so a server span can start "before" the client span
 * that caused it, and spans of two hops can share a start time. The tree is built from the
 * parent ids, and times only order siblings. Spans come from applications, so the tree is not
 * trusted: every span appears exactly once even when parents form a cycle or span ids repeat,
 * and the walk keeps its own stack so a deep chain cannot overflow the call stack.
 */

export interface OrderedSpan {
  span: TraceSpanView;
  /** 0 for a root (or orphan), parent's depth + 1 below it. */
  depth: number;
}

function startNs(s: TraceSpanView): bigint {
  try {
    return BigInt(s.startTimeUnixNano);
  } catch {
    return BigInt(Math.round(s.startMs * 1e6));
  }
}

/** Earlier start first; on a tie the longer span (it encloses the other), then span id, so the order is stable. */
export function compareSpans(a: TraceSpanView, b: TraceSpanView): number {
  const sa = startNs(a);
  const sb = startNs(b);
  if (sa !== sb) return sa < sb ? -1 : 1;
  if (a.durationMs !== b.durationMs) return b.durationMs - a.durationMs;
  return a.spanId < b.spanId ? -1 : a.spanId > b.spanId ? 1 : 0;
}

export function orderSpans(spans: readonly TraceSpanView[]): OrderedSpan[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, TraceSpanView[]>();
  const roots: TraceSpanView[] = [];
  const orphans: TraceSpanView[] = [];
  for (const s of spans) {
    if (s.parentSpanId === undefined || s.parentSpanId === '') roots.push(s);
    else if (!ids.has(s.parentSpanId)) orphans.push(s);
    else {
      const siblings = children.get(s.parentSpanId);
      if (siblings === undefined) children.set(s.parentSpanId, [s]);
      else siblings.push(s);
    }
  }
  for (const siblings of children.values()) siblings.sort(compareSpans);

  const out: OrderedSpan[] = [];
  const seen = new Set<TraceSpanView>();
  const walk = (top: TraceSpanView): void => {
    seen.add(top);
    const stack: OrderedSpan[] = [{ span: top, depth: 0 }];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      out.push(node);
      const kids = children.get(node.span.spanId) ?? [];
      // Pushed last-first so the earliest child comes out next.
      for (let i = kids.length - 1; i >= 0; i--) {
        const kid = kids[i]!;
        if (seen.has(kid)) continue;
        seen.add(kid);
        stack.push({ span: kid, depth: node.depth + 1 });
      }
    }
  };
  for (const r of roots.sort(compareSpans)) walk(r);
  for (const o of orphans.sort(compareSpans)) walk(o);
  // Only spans in a parent cycle are left: each unreached one starts a tree of its own.
  if (out.length < spans.length) for (const s of [...spans].sort(compareSpans)) if (!seen.has(s)) walk(s);
  return out;
}
