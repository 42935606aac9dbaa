/**
 * Polls a loader every `intervalMs` while the view is mounted, keeping the last good value
 * when a poll fails (the error is shown beside it, the data does not vanish). A poll starts
 * only after the previous one finished, so a slow control plane is never flooded.
 */
import { useEffect, useRef, useState } from 'preact/hooks';

export const POLL_MS = 2000;

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  /** True until the first answer (value or error). */
  loading: boolean;
  /** Epoch ms of the last successful poll. */
  updatedAt: number;
}

export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[], intervalMs = POLL_MS): Polled<T> {
  const [state, setState] = useState<Polled<T>>({ data: undefined, error: undefined, loading: true, updatedAt: 0 });
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    setState({ data: undefined, error: undefined, loading: true, updatedAt: 0 });
    const tick = async (): Promise<void> => {
      try {
        const data = await loadRef.current(abort.signal);
        if (!abort.signal.aborted) setState({ data, error: undefined, loading: false, updatedAt: Date.now() });
      } catch (err) {
        if (abort.signal.aborted) return;
        const error = err instanceof Error ? err : new Error(String(err));
        setState((s) => ({ ...s, error, loading: false }));
      }
      if (!abort.signal.aborted) timer = setTimeout(() => void tick(), intervalMs);
    };
    void tick();
    return () => {
      abort.abort();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [intervalMs, ...deps]); // deps are the caller's: a new key restarts the polling

  return state;
}
