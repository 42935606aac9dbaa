/**
 * Time on the request path as one injected dependency: every stage, codec and pool that reads
 * the time or sets a timer takes a Clock, so tests drive time by hand (ManualClock) and the
 * proxy's behaviour never depends on when a test happens to run.
 *
 * `now()` is monotonic (performance.now(), ms): durations, deadlines, EWMA and budgets.
 * `epochMs()` is the wall clock: only for the start times written into records and spans.
 */
export interface Clock {
  now(): number;
  epochMs(): number;
  /** Calls `fn` once after `ms` (>= 0). The handle is opaque; clearTimer takes it back. */
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** Opaque timer handle (a NodeJS.Timeout for the system clock). */
export type TimerHandle = { readonly __timer: true } | NodeJS.Timeout;

export const systemClock: Clock = {
  now: () => performance.now(),
  epochMs: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
