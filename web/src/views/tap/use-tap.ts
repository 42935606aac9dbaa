/**
 * A live tap (EventSource on GET /api/v1/tap): the newest requests first, at most MAX_ROWS
 * kept. Events are batched into one render per FLUSH_MS so a busy service does not re-render
 * the table for every request.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { TapEvent, TapMessage } from '../../../../src/api/tap.js';
import { tapUrl } from '../../lib/api-client.js';

export const MAX_ROWS = 300;
const FLUSH_MS = 250;

export type TapStatus = 'connecting' | 'live' | 'paused' | 'error';

export interface TapState {
  status: TapStatus;
  /** Newest first. */
  events: TapEvent[];
  proxies: string[];
  dropped: number;
  problems: string[];
}

export function useTap(query: Record<string, string>, paused: boolean): TapState {
  const [state, setState] = useState<TapState>({ status: 'connecting', events: [], proxies: [], dropped: 0, problems: [] });
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
      const batch = pending.current.reverse();
      pending.current = [];
      setState((s) => ({ ...s, events: [...batch, ...s.events].slice(0, MAX_ROWS) }));
    }, FLUSH_MS);
    source.onmessage = (ev: MessageEvent<string>) => {
      let msg: TapMessage;
      try {
        msg = JSON.parse(ev.data) as TapMessage;
      } catch {
        return;
      }
      switch (msg.kind) {
        case 'request':
          pending.current.push(msg.event);
          break;
        case 'attached':
          setState((s) => ({ ...s, status: 'live', proxies: msg.proxies }));
          break;
        case 'dropped':
          setState((s) => ({ ...s, dropped: s.dropped + msg.count }));
          break;
        case 'error':
          setState((s) => ({ ...s, problems: [...s.problems.slice(-4), `${msg.proxy}: ${msg.message}`] }));
          break;
      }
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
