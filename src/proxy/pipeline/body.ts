/**
 * The request body between the downstream codec (which frames it) and the upstream attempt
 * (which sends it), in the protocol's own framing: HTTP/1 chunked bytes stay chunked, HTTP/2
 * DATA payloads stay payloads, so a byte is touched once.
 *
 * While every byte received is still kept (up to MAX_REPLAY_BODY_BYTES) the body can be sent
 * again: to a retry, a failover endpoint, a stale-connection replay or a mirror. The chunks are
 * kept by reference (no copy). With no attempt attached (a fault delay, a backoff, a queue for a
 * connection) the body reads ahead only up to that limit, then holds the client back.
 */

/** A request body up to this size is kept for a replay; a larger one is streamed and not replayed. */
export const MAX_REPLAY_BODY_BYTES = 64 * 1024;

/** What the downstream codec lets the body do to its reading. */
export interface BodySource {
  pauseBody(): void;
  resumeBody(): void;
}

/** Where an attempt takes the body. */
export interface BodySink {
  /** False: stop until the sink calls `body.drained()`. */
  writeBody(chunk: Buffer): boolean;
  /** The whole body was written. `trailers`: the codec's own form (HTTP/2), or null. */
  endBody(trailers: unknown): void;
}

export interface RequestBody {
  /** Bytes received from downstream so far. */
  readonly received: number;
  readonly ended: boolean;
  /** Every byte received so far is kept: a new attempt can send the body from the start. */
  readonly intact: boolean;
  /** The kept chunks (while `intact`). */
  readonly chunks: readonly Buffer[];
  readonly trailers: unknown;
  /** Sends what was kept to `sink`, then the rest as it arrives. */
  attach(sink: BodySink): void;
  /** The attempt is over; later chunks are only kept (up to the limit). */
  detach(sink: BodySink): void;
  /** The attached sink can take more. */
  drained(): void;
  /** Calls `fn` once when the body has ended (at once if it has). One caller (the mirror stage). */
  whenEnded(fn: () => void): void;
}

const NO_CHUNKS: readonly Buffer[] = Object.freeze([]);

/** A request without a body: one shared object, nothing to keep. */
export const NO_BODY: RequestBody = Object.freeze({
  received: 0,
  ended: true,
  intact: true,
  chunks: NO_CHUNKS,
  trailers: null,
  attach(sink: BodySink): void {
    sink.endBody(null);
  },
  detach(): void {},
  drained(): void {},
  whenEnded(fn: () => void): void {
    fn();
  },
});

/** A body the downstream codec streams in (`push`, `end`). */
export class StreamedBody implements RequestBody {
  received = 0;
  ended = false;
  intact = true;
  chunks: Buffer[] = [];
  trailers: unknown = null;
  private kept = 0;
  private sink: BodySink | null = null;
  /** The source is paused by us (read-ahead limit, or sink backpressure). */
  private paused = false;
  private onEnded: (() => void) | null = null;

  constructor(private readonly source: BodySource) {}

  /** From the codec: the next chunk of the body. */
  push(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.intact) {
      if (this.kept + chunk.length > MAX_REPLAY_BODY_BYTES && this.sink !== null) {
        // The attached attempt has had every byte: past the limit nothing is worth keeping.
        this.intact = false;
        this.chunks = [];
        this.kept = 0;
      } else {
        this.chunks.push(chunk);
        this.kept += chunk.length;
      }
    }
    const sink = this.sink;
    if (sink === null) {
      if (this.kept >= MAX_REPLAY_BODY_BYTES) this.pause();
      return;
    }
    if (!sink.writeBody(chunk)) this.pause();
  }

  /** From the codec: the body is complete. */
  end(trailers: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.trailers = trailers;
    this.sink?.endBody(trailers);
    const fn = this.onEnded;
    this.onEnded = null;
    fn?.();
  }

  attach(sink: BodySink): void {
    this.sink = sink;
    const chunks = this.chunks;
    let ok = true;
    for (let i = 0; i < chunks.length; i++) ok = sink.writeBody(chunks[i] as Buffer);
    if (this.ended) {
      sink.endBody(this.trailers);
      return;
    }
    if (ok) this.resume();
    else this.pause();
  }

  detach(sink: BodySink): void {
    if (this.sink !== sink) return;
    this.sink = null;
    if (!this.ended && this.kept < MAX_REPLAY_BODY_BYTES) this.resume();
  }

  drained(): void {
    if (this.sink !== null) this.resume();
  }

  whenEnded(fn: () => void): void {
    if (this.ended) fn();
    else this.onEnded = fn;
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.source.pauseBody();
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.source.resumeBody();
  }
}

/** A copy of a kept, complete body for another exchange (a mirror): replays the same chunks. */
export function replayOf(body: RequestBody): RequestBody {
  if (body.received === 0 && body.ended) return NO_BODY;
  const chunks = body.chunks;
  const trailers = body.trailers;
  return {
    received: body.received,
    ended: true,
    intact: true,
    chunks,
    trailers,
    attach(sink: BodySink): void {
      for (let i = 0; i < chunks.length; i++) sink.writeBody(chunks[i] as Buffer);
      sink.endBody(trailers);
    },
    detach(): void {},
    drained(): void {},
    whenEnded(fn: () => void): void {
      fn();
    },
  };
}
