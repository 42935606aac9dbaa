import type { ServerHttp2Stream } from 'node:http2';
import type { Writable } from 'node:stream';

/** Request bodies up to this size are kept for retries and mirrors; larger ones are not replayed. */
export const KEPT_BODY_LIMIT = 64 * 1024;

/**
 * Reads a downstream request body once and feeds it to whichever upstream attempt is current,
 * keeping the chunks (up to KEPT_BODY_LIMIT) so a retry or a mirror can send them again. Only
 * used when a plan can retry or mirror; otherwise the body is piped straight through.
 *
 * With no attempt attached (fault delay, connect, backoff) it reads ahead only up to the
 * limit and then pauses, so HTTP/2 flow control holds the client back.
 */
export class RequestBody {
  /** Chunks kept so far (all of them while `replayable`). */
  chunks: Buffer[] = [];
  private kept = 0;
  /** Bytes received from downstream in all. */
  received = 0;
  /** The body outgrew the limit: kept chunks were dropped, no replay. */
  overflowed = false;
  ended = false;
  private target: Writable | null = null;
  private onEnded: (() => void) | null = null;

  constructor(private readonly down: ServerHttp2Stream) {}

  /** Starts reading. `onEnded` runs once when the whole body has arrived (at once if it is empty). */
  start(onEnded: () => void): void {
    if (this.down.endAfterHeaders) {
      this.ended = true;
      this.down.resume();
      onEnded();
      return;
    }
    this.onEnded = onEnded;
    this.down.on('data', this.onData);
    this.down.once('end', this.onEnd);
  }

  /** Ended and every byte kept: the body can be sent again. */
  get replayable(): boolean {
    return this.ended && !this.overflowed;
  }

  /** Sends what was kept to `up`, then the rest as it arrives (and ends it with the body). */
  attach(up: Writable): void {
    this.target = up;
    for (const chunk of this.chunks) up.write(chunk);
    if (this.ended) {
      if (!up.writableEnded) up.end();
      return;
    }
    if (this.kept > KEPT_BODY_LIMIT) this.drop();
    if (this.down.isPaused()) this.down.resume();
  }

  /** The attempt is over: later chunks are only kept (until the limit). */
  detach(): void {
    this.target = null;
  }

  private drop(): void {
    this.overflowed = true;
    this.chunks = [];
    this.kept = 0;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.received += chunk.length;
    if (!this.overflowed) {
      this.chunks.push(chunk);
      this.kept += chunk.length;
    }
    const target = this.target;
    if (target === null) {
      // nobody to send to yet: read ahead only as far as we may keep
      if (this.kept >= KEPT_BODY_LIMIT) this.down.pause();
      return;
    }
    // the current attempt has everything so far: past the limit nothing more is worth keeping
    if (this.kept > KEPT_BODY_LIMIT) this.drop();
    if (!target.write(chunk)) {
      this.down.pause();
      target.once('drain', this.onDrain);
    }
  };

  private readonly onDrain = (): void => {
    if (this.target !== null) this.down.resume();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    const target = this.target;
    if (target !== null && !target.writableEnded) target.end();
    this.onEnded?.();
  };
}
