/**
 * A trace's spans as waterfall rows: call order (each child under its parent, siblings by start),
 * the depth to indent by, and where each bar sits on the trace's time axis, in percent. Pure (no
 * DOM, no preact) so Node tests can run it; waterfall.tsx draws the rows.
 */
import type { TraceSpanView } from '../../../../src/api/traces.js';

export interface SpanNode {
  span: TraceSpanView;
  /** 0 for a root, parent's depth + 1 below it. */
  depth: number;
}

export interface SpanRow extends SpanNode {
  /** Start, in percent of the trace's length from its first start. */
  leftPct: number;
  /** Length in percent, at least MIN_BAR_PCT so an instant span stays visible. */
  widthPct: number;
  /** True when the bar reaches far enough right that its duration is written inside it. */
  durationInside: boolean;
}

export interface SpanTimeline {
  rows: SpanRow[];
  /** From the first start to the last end, in ms (0 without spans). */
  totalMs: number;
}

export const MIN_BAR_PCT = 0.4;
/** A bar ending beyond this carries its duration inside, else the text would run off the track. */
export const DURATION_INSIDE_FROM_PCT = 82;
/** Keeps percentages finite when every span is instant. */
const MIN_TOTAL_MS = 0.001;

const byStart = (a: TraceSpanView, b: TraceSpanView): number => a.startMs - b.startMs;

/**
 * Depth-first from the roots (spans whose parent is not in the trace), children by start. Spans
 * come from the applications, so the tree is not trusted: every span appears exactly once even
 * when parents form a cycle or span ids repeat (an unreached span starts a tree of its own), and
 * the walk uses its own stack so a deep chain cannot overflow the call stack.
 */
export function orderSpans(spans: readonly TraceSpanView[]): SpanNode[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, TraceSpanView[]>();
  const roots: TraceSpanView[] = [];
  for (const s of spans) {
    if (s.parentSpanId === undefined || !ids.has(s.parentSpanId)) {
      roots.push(s);
      continue;
    }
    const siblings = children.get(s.parentSpanId);
    if (siblings === undefined) children.set(s.parentSpanId, [s]);
    else siblings.push(s);
  }
  for (const siblings of children.values()) siblings.sort(byStart);

  const rows: SpanNode[] = [];
  const seen = new Set<TraceSpanView>();
  // Marked when first reached, so a span reachable twice (repeated ids) keeps its shallower place.
  const walk = (root: TraceSpanView): void => {
    seen.add(root);
    const stack: SpanNode[] = [{ span: root, depth: 0 }];
    for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
      rows.push(node);
      const kids = children.get(node.span.spanId) ?? [];
      // Pushed last-first so the earliest child is visited next.
      for (let i = kids.length - 1; i >= 0; i--) {
        const kid = kids[i]!;
        if (seen.has(kid)) continue;
        seen.add(kid);
        stack.push({ span: kid, depth: node.depth + 1 });
      }
    }
  };
  for (const r of roots.sort(byStart)) walk(r);
  if (rows.length < spans.length) for (const s of [...spans].sort(byStart)) if (!seen.has(s)) walk(s);
  return rows;
}

export function spanTimeline(spans: readonly TraceSpanView[]): SpanTimeline {
  if (spans.length === 0) return { rows: [], totalMs: 0 };
  let start = Infinity;
  let end = -Infinity;
  for (const s of spans) {
    start = Math.min(start, s.startMs);
    end = Math.max(end, s.startMs + s.durationMs);
  }
  const totalMs = end - start;
  const scale = 100 / Math.max(totalMs, MIN_TOTAL_MS);
  const rows = orderSpans(spans).map((n): SpanRow => {
    const leftPct = (n.span.startMs - start) * scale;
    const widthPct = Math.max(n.span.durationMs * scale, MIN_BAR_PCT);
    return { ...n, leftPct, widthPct, durationInside: leftPct + widthPct > DURATION_INSIDE_FROM_PCT };
  });
  return { rows, totalMs };
}
