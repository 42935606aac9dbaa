import type { TapMatcher } from '../../telemetry/tap-filter.js';

/** Where one subscriber's NDJSON lines go (the admin `/tap` response). */
export interface TapSink {
  /** Writes one line; false = the reader is behind, write nothing more until resume(). */
  write(line: string): boolean;
  /** The subscription is over (`max` reached or the hub closed). */
  end(): void;
}

/**
 * One tap reader: its filter, a token bucket (`ratePerSecond` events, burst of as many), the
 * events still wanted (`max`), and a count of dropped events. Events are dropped, never
 * queued: over the cap, or while the sink has not drained what it was given.
 */
export class TapSubscriber {
  private tokens: number;
  private refilledAt: number;
  private blocked = false;
  private dropped = 0;
  private remaining: number;
  private done = false;

  constructor(
    readonly matcher: TapMatcher,
    private readonly sink: TapSink,
    private readonly nodeId: string,
    private readonly ratePerSecond: number,
    max: number | undefined,
    private readonly now: () => number,
    private readonly onDone: (s: TapSubscriber) => void,
  ) {
    this.tokens = ratePerSecond;
    this.refilledAt = now();
    this.remaining = max ?? Infinity;
  }

  /**
   * Whether a matching event may be sent now (under the cap, reader not behind); a refused one
   * is counted as dropped. Asked before the event is built, so events over the cap cost a
   * counter, not a JSON line.
   */
  admit(): boolean {
    if (this.done) return false;
    if (this.blocked || !this.take()) {
      this.dropped++;
      return false;
    }
    return true;
  }

  /** Sends one admitted event's line (built once for all subscribers). */
  send(line: string): void {
    this.remaining--;
    if (!this.sink.write(line)) this.blocked = true;
    if (this.remaining === 0) this.finish();
  }

  /** The sink drained. */
  resume(): void {
    this.blocked = false;
  }

  /** Writes `{kind:'dropped'}` for the events dropped since the last report (if it can). */
  reportDrops(): void {
    if (this.done || this.dropped === 0 || this.blocked) return;
    const line = `${JSON.stringify({ kind: 'dropped', proxy: this.nodeId, count: this.dropped })}\n`;
    this.dropped = 0;
    if (!this.sink.write(line)) this.blocked = true;
  }

  /** Ends the sink (after a last drop report) and leaves the hub. */
  finish(): void {
    if (this.done) return;
    this.reportDrops();
    this.done = true;
    this.onDone(this);
    this.sink.end();
  }

  /** Leaves the hub without touching the sink (the reader went away). */
  detach(): void {
    if (this.done) return;
    this.done = true;
    this.onDone(this);
  }

  private take(): boolean {
    const now = this.now();
    const elapsed = now - this.refilledAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.ratePerSecond, this.tokens + (elapsed * this.ratePerSecond) / 1000);
      this.refilledAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
