/**
 * The live tap's state and how each stream message changes it. Pure (no DOM, no preact) so
 * Node tests can run it; use-tap.ts owns the EventSource and the render batching.
 */
import type { TapEvent, TapMessage } from '../../../../src/api/tap.js';

/** Rows kept: enough to scroll back a few seconds of a busy service, few enough to render fast. */
export const MAX_ROWS = 300;
/** Proxy problems shown at once; older ones scroll away. */
export const MAX_PROBLEMS = 5;

export type TapStatus = 'connecting' | 'live' | 'paused' | 'error';

export interface TapState {
  status: TapStatus;
  /** Newest first. */
  events: TapEvent[];
  proxies: string[];
  dropped: number;
  problems: string[];
}

export const INITIAL_TAP_STATE: TapState = { status: 'connecting', events: [], proxies: [], dropped: 0, problems: [] };

/** Every message but `request`, which use-tap batches (see prependArrivals). */
export type TapControlMessage = Exclude<TapMessage, { kind: 'request' }>;

/** One stream line parsed; undefined for a line that is not a JSON object with a `kind`. */
export function parseTapMessage(data: string): TapMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || typeof (parsed as { kind?: unknown }).kind !== 'string') return undefined;
  return parsed as TapMessage;
}

export function applyControlMessage(state: TapState, msg: TapControlMessage): TapState {
  switch (msg.kind) {
    case 'attached':
      return { ...state, status: 'live', proxies: msg.proxies };
    case 'dropped':
      return { ...state, dropped: state.dropped + msg.count };
    case 'error':
      return { ...state, problems: [...state.problems.slice(-(MAX_PROBLEMS - 1)), `${msg.proxy}: ${msg.message}`] };
    default:
      // A kind from a newer control plane: nothing to show for it.
      return state;
  }
}

/**
 * The rows after a batch arrived: the batch (in arrival order, oldest first) goes on top newest
 * first, and the oldest rows beyond `max` fall off. Neither input is changed.
 */
export function prependArrivals(events: readonly TapEvent[], arrivedOldestFirst: readonly TapEvent[], max = MAX_ROWS): TapEvent[] {
  const out: TapEvent[] = [];
  for (let i = arrivedOldestFirst.length - 1; i >= 0 && out.length < max; i--) out.push(arrivedOldestFirst[i]!);
  for (let i = 0; i < events.length && out.length < max; i++) out.push(events[i]!);
  return out;
}
