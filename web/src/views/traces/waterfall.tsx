/**
 * A trace as a waterfall: spans in call order (each child under its parent), one bar per
 * span placed on the trace's time axis. Errors are red; hover for the attributes.
 */
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import type { TraceSpanView } from '../../../../src/api/traces.js';
import { formatMs } from '../../lib/format.js';
import { spanTimeline } from './span-tree.js';

export function Waterfall({ spans }: { spans: TraceSpanView[] }) {
  const [open, setOpen] = useState<string | undefined>(undefined);
  if (spans.length === 0) return <div class="notice notice-muted">This trace has no spans kept.</div>;
  const { rows, totalMs: total } = spanTimeline(spans);
  return (
    <div class="waterfall" data-testid="waterfall" data-spans={rows.length}>
      <div class="wf-axis">
        <span>0</span>
        <span>{formatMs(total / 2)}</span>
        <span>{formatMs(total)}</span>
      </div>
      {rows.map(({ span, depth, leftPct: left, widthPct: width, durationInside }) => {
        const isOpen = open === span.spanId;
        return (
          <div key={span.spanId} class={`wf-row ${span.status === 'error' ? 'wf-error' : ''}`} data-testid="span-row" data-span-id={span.spanId}>
            <button type="button" class="wf-label" style={{ paddingLeft: `${depth * 14 + 6}px` }} onClick={() => setOpen(isOpen ? undefined : span.spanId)} title={`${span.service}: ${span.name}`}>
              <span class="wf-service">{span.service}</span> <span class="wf-name">{span.name}</span>
            </button>
            <div class="wf-track">
              <div class={`wf-bar wf-${span.kind}`} style={{ left: `${left}%`, width: `${width}%` }} />
              {/* A bar reaching the right edge carries its duration inside, else beside it. */}
              {durationInside ? (
                <span class="wf-dur wf-dur-inside" style={{ right: `${100 - left - width}%` }}>
                  {formatMs(span.durationMs)}
                </span>
              ) : (
                <span class="wf-dur" style={{ left: `${left + width}%` }}>
                  {formatMs(span.durationMs)}
                </span>
              )}
            </div>
            {isOpen ? <SpanDetails span={span} /> : null}
          </div>
        );
      })}
    </div>
  );
}

function SpanDetails({ span }: { span: TraceSpanView }) {
  const attrs = Object.entries(span.attributes).sort(([a], [b]) => a.localeCompare(b));
  return (
    <dl class="wf-details">
      <dt>kind</dt>
      <dd>{span.kind}</dd>
      <dt>status</dt>
      <dd>
        {span.status}
        {span.statusMessage !== undefined ? `: ${span.statusMessage}` : ''}
      </dd>
      {attrs.map(([k, v]) => (
        <Fragment key={k}>
          <dt>{k}</dt>
          <dd class="mono">{String(v)}</dd>
        </Fragment>
      ))}
    </dl>
  );
}
