import type { Clock } from '../../util/clock.js';
import type { AccessLogSink } from './sink.js';

export interface BatchWriterOptions {
  /** Write as soon as this many characters are buffered. */
  flushBytes: number;
  /** Write at the latest this long after the first buffered line. */
  flushIntervalMs: number;
  /** A line that would take the buffer past this many characters is dropped and counted. */
  maxBufferBytes: number;
  /** At most one warning per this period. */
  warnIntervalMs: number;
  clock: Clock;
  /** Told about dropped lines, at most once per warnIntervalMs (pino's `logger.warn` fits). */
  warn(fields: Record<string, unknown>, message: string): void;
}

/**
 * Lines in, batches out, off the request path: `push` appends a string and returns; a timer
 * (or, once `flushBytes` are waiting, the next turn of the event loop) hands the whole buffer to
 * the sink as one Buffer in one write. One write is in flight at a time, and lines that come
 * meanwhile wait in the buffer, which is bounded: when the sink cannot keep up, new lines are
 * dropped and counted rather than queued without bound or blocking the caller. (Hand-written
 * rather than pino/SonicBoom: those queue without a bound and cannot count what they drop.)
 *
 * Memory: at most `maxBufferBytes` characters buffered plus the batch being written.
 */
export class BatchWriter {
  written = 0;
  droppedBufferFull = 0;
  droppedWriteError = 0;
  /** Lines waiting; joined once per batch (cheaper than growing one string line by line). */
  private pending: string[] = [];
  /** Characters in `pending`. */
  private pendingChars = 0;
  private inFlight = false;
  private timer: { cancel(): void } | null = null;
  private immediate = false;
  private closed = false;
  private closing: Promise<void> | null = null;
  private onIdle: (() => void) | null = null;
  /** Drops not yet told in a warning. */
  private untold = { bufferFull: 0, writeError: 0, error: '' };
  private lastWarn = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly sink: AccessLogSink,
    private readonly o: BatchWriterOptions,
  ) {}

  /** Hot path: one array push and a length check. False when the line was dropped. */
  push(line: string): boolean {
    if (this.closed) return false;
    if (this.pendingChars + line.length > this.o.maxBufferBytes) {
      this.droppedBufferFull++;
      this.untold.bufferFull++;
      this.maybeWarn();
      return false;
    }
    this.pending.push(line);
    this.pendingChars += line.length;
    // While a write is in flight, its completion schedules the next one.
    if (this.inFlight) return true;
    if (this.pendingChars >= this.o.flushBytes) {
      if (!this.immediate) {
        this.immediate = true;
        setImmediate(this.flushNow);
      }
    } else if (this.timer === null) {
      this.timer = this.o.clock.setTimeout(this.flushOnTimer, this.o.flushIntervalMs);
    }
    return true;
  }

  /** Stops taking lines, writes every line taken, then closes the sink. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      await new Promise<void>((resolve) => {
        this.onIdle = resolve;
        this.flush();
      });
      this.tell();
      await this.sink.close();
    })();
    return this.closing;
  }

  private readonly flushNow = (): void => {
    this.immediate = false;
    this.flush();
  };

  private readonly flushOnTimer = (): void => {
    this.timer = null;
    this.flush();
  };

  private flush(): void {
    if (this.inFlight) return;
    if (this.pending.length === 0) {
      this.idle();
      return;
    }
    if (this.timer !== null) {
      this.timer.cancel();
      this.timer = null;
    }
    const chunk = Buffer.from(this.pending.join(''), 'utf8');
    const lines = this.pending.length;
    this.pending = [];
    this.pendingChars = 0;
    this.inFlight = true;
    let finished = false;
    const done = (err: Error | null): void => {
      if (finished) return;
      finished = true;
      this.afterWrite(err, lines);
    };
    try {
      this.sink.write(chunk, done);
    } catch (err) {
      done(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private afterWrite(err: Error | null, lines: number): void {
    this.inFlight = false;
    if (err === null) {
      this.written += lines;
    } else {
      this.droppedWriteError += lines;
      this.untold.writeError += lines;
      this.untold.error = err.message;
    }
    this.maybeWarn();
    // Off the request path here: write what piled up at once if it is a batch's worth, or when closing.
    if (this.pendingChars >= this.o.flushBytes || (this.closed && this.pending.length > 0)) this.flush();
    else if (this.pending.length > 0) this.timer ??= this.o.clock.setTimeout(this.flushOnTimer, this.o.flushIntervalMs);
    else this.idle();
  }

  private idle(): void {
    const resolve = this.onIdle;
    if (resolve === null || this.inFlight || this.pending.length > 0) return;
    this.onIdle = null;
    resolve();
  }

  private maybeWarn(): void {
    if (this.untold.bufferFull + this.untold.writeError === 0) return;
    if (this.o.clock.now() - this.lastWarn < this.o.warnIntervalMs) return;
    this.tell();
  }

  private tell(): void {
    const u = this.untold;
    if (u.bufferFull + u.writeError === 0) return;
    this.lastWarn = this.o.clock.now();
    const fields: Record<string, unknown> = { droppedBufferFull: u.bufferFull, droppedWriteError: u.writeError };
    if (u.error !== '') fields.err = u.error;
    this.untold = { bufferFull: 0, writeError: 0, error: '' };
    this.o.warn(fields, 'access log dropped lines (counted in trellis_access_log_dropped_total)');
  }
}
