import { ChunkedScanner } from './chunked.js';
import type { RequestHead } from './parser.js';

/**
 * Finds where one request's body ends in the bytes that follow its head (RFC 9112 §6.3), so
 * exactly the body goes to the exchange and what follows waits for the next request. A chunked
 * body is validated as it passes (framing only; chunk data is never looked at or copied).
 */
export class BodyFramer {
  private readonly scanner = new ChunkedScanner();
  private chunked = false;
  private remaining = 0;
  /** Bytes of the last chunk that belong to the body. */
  used = 0;
  /** The body is complete. */
  done = true;
  /** Why the last chunk was refused (a malformed chunked body). */
  error: string | undefined = undefined;

  /** Starts the body of `req`; false when it has none. */
  begin(req: RequestHead): boolean {
    this.chunked = req.framing === 'chunked';
    this.remaining = req.contentLength;
    this.done = !(this.chunked || (req.framing === 'length' && req.contentLength > 0));
    if (this.chunked) this.scanner.reset();
    return !this.done;
  }

  /** Frames the next chunk: sets `used` and `done`; false when the body is malformed (`error`). */
  push(chunk: Buffer): boolean {
    if (!this.chunked) {
      const used = chunk.length < this.remaining ? chunk.length : this.remaining;
      this.remaining -= used;
      this.used = used;
      this.done = this.remaining === 0;
      return true;
    }
    const r = this.scanner.push(chunk, 0);
    if (r < 0) {
      this.error = this.scanner.error ?? 'bad chunked body';
      return false;
    }
    this.used = r;
    this.done = this.scanner.done;
    return true;
  }
}
