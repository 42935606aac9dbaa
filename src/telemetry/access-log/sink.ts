import { write } from 'node:fs';

/** Where batches of whole lines go. One write at a time: the batch writer waits for `done`. */
export interface AccessLogSink {
  /** Writes all of `chunk` and calls `done` exactly once, with the error if it could not. */
  write(chunk: Buffer, done: (err: Error | null) => void): void;
  /** After the last write finished. */
  close(): Promise<void>;
  /** Times the destination was rotated (file sinks). */
  readonly rotations: number;
}

/**
 * A file descriptor that is not ours to rotate or close (stdout). fs.write runs on libuv's
 * thread pool, so a slow reader of the pipe blocks a pool thread, never the event loop (Node
 * makes process.stdout.write synchronous for pipes and files on Linux).
 */
export class FdSink implements AccessLogSink {
  readonly rotations = 0;
  constructor(private readonly fd: number) {}

  write(chunk: Buffer, done: (err: Error | null) => void): void {
    const fd = this.fd;
    let offset = 0;
    let again = 0;
    const next = (): void =>
      write(fd, chunk, offset, chunk.length - offset, null, (err, n) => {
        if (err !== null) {
          // A non-blocking pipe that is full: try again shortly rather than lose the batch.
          if (err.code === 'EAGAIN' && again++ < 100) return void setTimeout(next, 10);
          return done(err);
        }
        offset += n;
        if (offset < chunk.length) next();
        else done(null);
      });
    next();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
