import { Duplex } from 'node:stream';
import { HpackFieldScanner, ScanResult } from './hpack-scan.js';

/**
 * A Duplex set between a client's socket and the http2 server session. Every byte passes
 * through unchanged; on the way in, the frames are followed and each complete header block
 * (HEADERS plus CONTINUATIONs) is run through the shadow HPACK scanner *before* its bytes are
 * handed to nghttp2, so the verdict for a stream exists by the time Node emits 'stream' for it.
 *
 * Anything the tap cannot follow (a wrong preface, an HPACK error, a CONTINUATION out of
 * place, a header block over MAX_BLOCK) means its table may no longer match nghttp2's, so it
 * fails closed: `onBroken` is called and the connection is destroyed. nghttp2 treats all of
 * these as connection errors anyway.
 */

export interface TapEvents {
  /** The header block for `streamId` holds a field nghttp2 will drop silently. */
  onMalformed(streamId: number): void;
  /** The bytes could not be followed; the tap destroys the connection right after. */
  onBroken(reason: string): void;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const HEADERS = 0x1;
const CONTINUATION = 0x9;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;
/** Largest header block followed (nghttp2 allows 16 KiB frames and 8 CONTINUATIONs by default). */
export const MAX_BLOCK = 256 * 1024;

export class H2FrameTap extends Duplex {
  private readonly scanner: HpackFieldScanner;
  private prefaceSeen = 0;
  private readonly head = Buffer.alloc(9);
  private headFill = 0;
  // The frame being read.
  private remaining = 0;
  private type = 0;
  private flags = 0;
  private streamId = 0;
  private payload: Buffer | null = null; // only HEADERS/CONTINUATION payloads split across chunks
  private payloadFill = 0;
  // A header block waiting for its CONTINUATIONs.
  private blockStream = 0;
  private block: Buffer | null = null;
  private blockFill = 0;
  private broken = false;

  constructor(
    readonly socket: Duplex,
    private readonly events: TapEvents,
    headerTableSize = 4096,
  ) {
    super({ allowHalfOpen: true });
    this.scanner = new HpackFieldScanner(headerTableSize);
    socket.on('data', (chunk: Buffer) => this.onSocketData(chunk));
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
    socket.on('error', (err: Error) => this.destroy(err));
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }

  private onSocketData(chunk: Buffer): void {
    if (!this.broken) this.follow(chunk);
    if (this.broken) return;
    if (!this.push(chunk)) this.socket.pause();
  }

  private fail(reason: string): void {
    this.broken = true;
    this.events.onBroken(reason);
    this.destroy();
  }

  /** Walks `chunk` frame by frame; header block fragments are scanned, everything else skipped. */
  private follow(chunk: Buffer): void {
    let i = 0;
    if (this.prefaceSeen < PREFACE.length) {
      while (i < chunk.length && this.prefaceSeen < PREFACE.length) {
        if (chunk[i++] !== PREFACE[this.prefaceSeen++]) return this.fail('not an HTTP/2 client preface');
      }
    }
    while (i < chunk.length) {
      if (this.remaining === 0 && this.payload === null) {
        // Frame header (9 octets), possibly split across chunks.
        const take = Math.min(9 - this.headFill, chunk.length - i);
        chunk.copy(this.head, this.headFill, i, i + take);
        this.headFill += take;
        i += take;
        if (this.headFill < 9) return;
        this.headFill = 0;
        if (!this.beginFrame()) return;
        if (this.remaining === 0 && !this.isBlockFrame()) continue;
        if (this.remaining === 0) {
          this.onBlockPayload(Buffer.alloc(0));
          if (this.broken) return;
          continue;
        }
      }
      const take = Math.min(this.remaining, chunk.length - i);
      if (this.isBlockFrame()) {
        if (this.payload === null && take === this.remaining) {
          // The whole payload is in this chunk: scan it in place.
          this.remaining = 0;
          this.onBlockPayload(chunk.subarray(i, i + take));
        } else {
          if (this.payload === null) {
            this.payload = Buffer.allocUnsafe(this.remaining);
            this.payloadFill = 0;
          }
          chunk.copy(this.payload, this.payloadFill, i, i + take);
          this.payloadFill += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            const p = this.payload;
            this.payload = null;
            this.onBlockPayload(p);
          }
        }
        if (this.broken) return;
      } else {
        this.remaining -= take;
      }
      i += take;
    }
  }

  private isBlockFrame(): boolean {
    return this.type === HEADERS || this.type === CONTINUATION;
  }

  /** Reads the buffered frame header; false when the connection failed. */
  private beginFrame(): boolean {
    const length = (this.head[0]! << 16) | (this.head[1]! << 8) | this.head[2]!;
    this.type = this.head[3]!;
    this.flags = this.head[4]!;
    this.streamId = this.head.readUInt32BE(5) & 0x7fffffff;
    this.remaining = length;
    const inBlock = this.block !== null;
    if (inBlock && (this.type !== CONTINUATION || this.streamId !== this.blockStream)) {
      this.fail('a header block was interrupted');
      return false;
    }
    if (!inBlock && this.type === CONTINUATION) {
      this.fail('CONTINUATION without HEADERS');
      return false;
    }
    if (this.isBlockFrame() && length > MAX_BLOCK) {
      this.fail('header block too large');
      return false;
    }
    return true;
  }

  /** One complete HEADERS or CONTINUATION payload. */
  private onBlockPayload(p: Buffer): void {
    let start = 0;
    let end = p.length;
    if (this.type === HEADERS) {
      if ((this.flags & PADDED) !== 0) {
        if (p.length < 1) return this.fail('bad padding');
        end -= p[0]!;
        start = 1;
      }
      if ((this.flags & PRIORITY) !== 0) start += 5;
      if (start > end) return this.fail('bad padding');
    }
    const endHeaders = (this.flags & END_HEADERS) !== 0;
    if (this.block === null && endHeaders) {
      this.scan(this.streamId, p, start, end);
      return;
    }
    if (this.block === null) {
      this.block = Buffer.allocUnsafe(Math.max(1024, (end - start) * 2));
      this.blockFill = 0;
      this.blockStream = this.streamId;
    }
    const need = this.blockFill + (end - start);
    if (need > MAX_BLOCK) return this.fail('header block too large');
    if (need > this.block.length) {
      const grown = Buffer.allocUnsafe(Math.min(MAX_BLOCK, Math.max(need, this.block.length * 2)));
      this.block.copy(grown, 0, 0, this.blockFill);
      this.block = grown;
    }
    p.copy(this.block, this.blockFill, start, end);
    this.blockFill = need;
    if (endHeaders) {
      const block = this.block;
      this.block = null;
      this.scan(this.blockStream, block, 0, this.blockFill);
    }
  }

  private scan(streamId: number, buf: Buffer, start: number, end: number): void {
    const r = this.scanner.scanBlock(buf, start, end);
    if (r === ScanResult.Broken) return this.fail('HPACK decoding failed');
    if (r === ScanResult.Malformed) this.events.onMalformed(streamId);
  }
}
