import type { Clock } from '../../util/clock.js';
import type { AccessLogSink } from './sink.js';

export interface BatchWriterOptions {
  /** Write as soon as this many bytes are waiting. */
  flushBytes: number;
  /** Write at the latest this long after the first waiting line. */
  flushIntervalMs: number;
  /** A line that would take the waiting bytes past this is dropped and counted. */
  maxBufferBytes: number;
  /** At most one warning per this period. */
  warnIntervalMs: number;
  clock: Clock;
  /** Told about dropped lines, at most once per warnIntervalMs (pino's `logger.warn` fits). */
  warn(fields: Record<string, unknown>, message: string): void;
}

/** Lines are encoded into buffers of this size, reused from write to write. */
export const CHUNK_BYTES = 64 * 1024;
/** Spare chunks kept for reuse once written. */
const SPARE_CHUNKS = 4;

/**
 * Buffer#utf8Write (in Node since 0.x, not in @types/node): what Buffer#write calls after
 * checking its arguments and resolving the encoding name, which profiled at three times the
 * encoding itself, once per line.
 */
interface Utf8Writable {
  utf8Write(text: string, offset: number): number;
}

interface Chunk {
  buf: Buffer;
  /** Bytes used. */
  len: number;
  lines: number;
}

/**
 * Lines in, batches out, off the request path. `push` encodes the line (UTF-8) into the
 * current chunk, a reused off-heap buffer, and returns: the line's string is garbage at once,
 * so waiting lines never age into V8's old generation (strings kept for a batch did: +30 MB
 * of RSS and more GC under load). A timer, or once `flushBytes` wait the next turn of the event
 * loop, hands every waiting chunk to the sink in one write. One write is in flight at a time;
 * what comes meanwhile waits, bounded by `maxBufferBytes`: when the sink cannot keep up, new
 * lines are dropped and counted, never queued without bound, never waited for. (Hand-written
 * rather than pino/SonicBoom: those queue without a bound and cannot count what they drop.)
 *
 * Memory: at most `maxBufferBytes` waiting, the batch being written, and a few spare chunks.
 */
export class BatchWriter {
  written = 0;
  droppedBufferFull = 0;
  droppedWriteError = 0;
  /** Filled chunks waiting, oldest first; the last one is being filled. */
  private waiting: Chunk[] = [];
  private waitingBytes = 0;
  private spare: Buffer[] = [];
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

  /** Hot path: a bound check and one UTF-8 encode into the current chunk. False when dropped. */
  push(line: string): boolean {
    if (this.closed) return false;
    // line.length is a lower bound of its UTF-8 size (exact for ASCII): the bound may be passed
    // by the multi-byte characters of the last line, never by a whole line.
    if (this.waitingBytes + line.length > this.o.maxBufferBytes) {
      this.droppedBufferFull++;
      this.untold.bufferFull++;
      this.maybeWarn();
      return false;
    }
    const chunk = this.chunkFor(line.length * 3);
    const n = (chunk.buf as unknown as Utf8Writable).utf8Write(line, chunk.len);
    chunk.len += n;
    chunk.lines++;
    this.waitingBytes += n;
    // While a write is in flight, its completion schedules the next one.
    if (this.inFlight) return true;
    if (this.waitingBytes >= this.o.flushBytes) {
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

  /** The chunk being filled if `room` bytes fit in it, else a new one (a spare when there is one). */
  private chunkFor(room: number): Chunk {
    const last = this.waiting[this.waiting.length - 1];
    if (last !== undefined && last.buf.length - last.len >= room) return last;
    const size = Math.max(CHUNK_BYTES, room);
    const buf = size === CHUNK_BYTES ? (this.spare.pop() ?? Buffer.allocUnsafe(CHUNK_BYTES)) : Buffer.allocUnsafe(size);
    const chunk: Chunk = { buf, len: 0, lines: 0 };
    this.waiting.push(chunk);
    return chunk;
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
    if (this.waitingBytes === 0) {
      this.idle();
      return;
    }
    if (this.timer !== null) {
      this.timer.cancel();
      this.timer = null;
    }
    const chunks = this.waiting;
    this.waiting = [];
    this.waitingBytes = 0;
    let lines = 0;
    for (const c of chunks) lines += c.lines;
    // One chunk goes as it is; a backlog of several is joined so it still takes one write.
    const batch = chunks.length === 1 ? chunks[0]!.buf.subarray(0, chunks[0]!.len) : Buffer.concat(chunks.map((c) => c.buf.subarray(0, c.len)));
    if (chunks.length > 1) this.recycle(chunks);
    this.inFlight = true;
    let finished = false;
    const done = (err: Error | null): void => {
      if (finished) return;
      finished = true;
      if (chunks.length === 1) this.recycle(chunks);
      this.afterWrite(err, lines);
    };
    try {
      this.sink.write(batch, done);
    } catch (err) {
      done(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private recycle(chunks: readonly Chunk[]): void {
    for (const c of chunks) if (c.buf.length === CHUNK_BYTES && this.spare.length < SPARE_CHUNKS) this.spare.push(c.buf);
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
    if (this.waitingBytes >= this.o.flushBytes || (this.closed && this.waitingBytes > 0)) this.flush();
    else if (this.waitingBytes > 0) this.timer ??= this.o.clock.setTimeout(this.flushOnTimer, this.o.flushIntervalMs);
    else this.idle();
  }

  private idle(): void {
    const resolve = this.onIdle;
    if (resolve === null || this.inFlight || this.waitingBytes > 0) return;
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
