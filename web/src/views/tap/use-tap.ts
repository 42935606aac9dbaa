/**
 * A live tap (EventSource on GET /api/v1/tap): the newest requests first, at most MAX_ROWS
 * kept. Events are batched into one render per FLUSH_MS so a busy service does not re-render
 * the table for every request. How each message changes the state is in tap-state.ts.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { TapEvent } from '../../../../src/api/tap.js';
import { tapUrl } from '../../lib/api-client.js';
import { applyControlMessage, INITIAL_TAP_STATE, parseTapMessage, prependArrivals, type TapState } from './tap-state.js';

const FLUSH_MS = 250;

export function useTap(query: Record<string, string>, paused: boolean): TapState {
  const [state, setState] = useState<TapState>(INITIAL_TAP_STATE);
  const pending = useRef<TapEvent[]>([]);
  const url = tapUrl(query);

  useEffect(() => {
    if (paused) {
      setState((s) => ({ ...s, status: 'paused' }));
      return;
    }
    setState((s) => ({ ...s, status: 'connecting', problems: [] }));
    const source = new EventSource(url);
    const flush = setInterval(() => {
      if (pending.current.length === 0) return;
      const batch = pending.current;
      pending.current = [];
      setState((s) => ({ ...s, events: prependArrivals(s.events, batch) }));
    }, FLUSH_MS);
    source.onmessage = (ev: MessageEvent<string>) => {
      const msg = parseTapMessage(ev.data);
      if (msg === undefined) return;
      if (msg.kind === 'request') pending.current.push(msg.event);
      else setState((s) => applyControlMessage(s, msg));
    };
    source.onerror = () => {
      // EventSource reconnects by itself; say so instead of failing silently.
      setState((s) => ({ ...s, status: source.readyState === EventSource.CLOSED ? 'error' : 'connecting' }));
    };
    return () => {
      source.close();
      clearInterval(flush);
      pending.current = [];
    };
  }, [url, paused]);

  return state;
}
