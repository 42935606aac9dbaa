/** Recent traces (newest first) and, for the chosen one, its waterfall. */
import { useEffect } from 'preact/hooks';
import type { TraceSummaryView } from '../../../../src/api/traces.js';
import { api } from '../../lib/api-client.js';
import { formatClock, formatMs } from '../../lib/format.js';
import { href } from '../../lib/route.js';
import { usePoll } from '../../lib/use-poll.js';
import { Empty, PollState } from '../../components/notice.js';
import { Waterfall } from './waterfall.js';

const LIST_LIMIT = 50;

export function TracesView({ args }: { args: string[] }) {
  const traces = usePoll((signal) => api.traces(LIST_LIMIT, signal), [], 3000);
  const selected = args[0];
  const newest = traces.data?.[0]?.traceId;
  useEffect(() => {
    // Without a choice, open the newest trace (the waterfall is what people come for), once:
    // the hash then holds it, so it does not jump as new traces arrive.
    if (selected === undefined && newest !== undefined) location.replace(href('traces', [newest]));
  }, [selected, newest]);
  return (
    <section class="view split" data-testid="view-traces">
      <aside class="side-list wide">
        <h2>Recent traces</h2>
        <PollState polled={traces} what="traces">
          {(list) =>
            list.length === 0 ? (
              <Empty title="No traces yet.">
                Proxies sample requests and send their spans here. Send traffic (apps must forward <code>traceparent</code> to join spans into one trace).
              </Empty>
            ) : (
              <TraceList list={list} selected={selected} />
            )
          }
        </PollState>
      </aside>
      <div class="main-pane">{selected === undefined ? <Empty title="Pick a trace on the left.">Its spans appear here as a waterfall: which hop took the time, and which one failed.</Empty> : <TraceDetail traceId={selected} />}</div>
    </section>
  );
}

function TraceList({ list, selected }: { list: TraceSummaryView[]; selected: string | undefined }) {
  return (
    <ul class="trace-list">
      {list.map((t) => (
        <li key={t.traceId} class={t.traceId === selected ? 'active' : ''}>
          <a href={href('traces', [t.traceId])} data-testid="trace-link" data-trace-id={t.traceId} data-span-count={t.spanCount}>
            <div class="trace-line">
              <span class={t.error ? 'dot dot-bad' : 'dot dot-ok'} />
              <strong>{t.rootName}</strong>
              <span class="num">{formatMs(t.durationMs)}</span>
            </div>
            <div class="muted small">
              {formatClock(t.startMs)} · {t.spanCount} spans · {t.services.join(' → ')}
            </div>
          </a>
        </li>
      ))}
    </ul>
  );
}

function TraceDetail({ traceId }: { traceId: string }) {
  // A trace keeps growing while late spans arrive: refresh it like the rest.
  const trace = usePoll((signal) => api.trace(traceId, signal), [traceId], 3000);
  return (
    <>
      <header class="view-head">
        <h1 class="mono">trace {traceId.slice(0, 16)}…</h1>
      </header>
      <PollState polled={trace} what="the trace">
        {(view) => <Waterfall spans={view.spans} />}
      </PollState>
    </>
  );
}
