/**
 * Collects bytes until a full HTTP/1 head (…CRLF CRLF) is present, without quadratic rescans:
 * each search starts 3 bytes before where the previous one stopped, and a head split across
 * chunks is gathered in a buffer that grows by doubling (amortised linear copying). A head in
 * one chunk (the common case) is never copied.
 *
 * Bytes handed out by take() are never overwritten later: after a take the backing store is
 * dropped, so leftover bytes (a body, the next pipelined request) can be forwarded as they are.
 */
import { ProxyReason } from '../../errors.js';
import { INCOMPLETE, parseRequestHead, parseResponseHead, requestLineTooLong, URI_TOO_LONG } from './parser.js';
import type { Incomplete, ParseFailure, RequestParse, ResponseParse } from './parser.js';
import type { Http1Limits } from './types.js';

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const LFLF = Buffer.from('\n\n', 'latin1');
const EMPTY = Buffer.alloc(0);

export class HeadReader {
  /** Unconsumed bytes (a view of a received chunk or of `store`). */
  private buf: Buffer = EMPTY;
  /** Backing store when bytes had to be gathered; buf starts at store[0] while set. */
  private store: Buffer | null = null;
  /** Bytes of buf already searched without finding the terminator. */
  private searched = 0;

  get length(): number {
    return this.buf.length;
  }

  /** The unconsumed bytes. */
  get bytes(): Buffer {
    return this.buf;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    const held = this.buf.length;
    if (held === 0) {
      this.buf = chunk;
      this.store = null;
      this.searched = 0;
      return;
    }
    const need = held + chunk.length;
    let store = this.store;
    if (store === null || store.length < need) {
      let cap = store === null ? 1024 : store.length;
      while (cap < need) cap *= 2;
      const fresh = Buffer.allocUnsafe(cap);
      this.buf.copy(fresh, 0);
      store = fresh;
      this.store = fresh;
    }
    chunk.copy(store, held);
    this.buf = store.subarray(0, need);
  }

  /**
   * Index just past the head's CRLF CRLF, or -1 when not yet complete, or -2 when an empty
   * line made of bare LFs appears first (a strict parser rejects it; waiting would only hang).
   */
  findHeadEnd(): number {
    const from = this.searched > 3 ? this.searched - 3 : 0;
    const i = this.buf.indexOf(CRLFCRLF, from);
    if (i !== -1) return i + 4;
    const lf = this.buf.indexOf(LFLF, from > 0 ? from - 1 : 0);
    this.searched = this.buf.length;
    return lf !== -1 ? -2 : -1;
  }

  /** Drops leading empty lines (CRLF) before a request line (RFC 9112 §2.2). */
  skipLeadingEmptyLines(): void {
    let i = 0;
    const b = this.buf;
    while (i + 1 < b.length && b[i] === 0x0d && b[i + 1] === 0x0a) i += 2;
    if (i > 0) this.consume(i);
  }

  /** Consumes n bytes from the front and returns a view of them. */
  take(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.consume(n);
    return out;
  }

  /** Consumes n bytes from the front. */
  skip(n: number): void {
    this.consume(n);
  }

  /** Consumes and returns everything held. */
  takeAll(): Buffer {
    const out = this.buf;
    this.buf = EMPTY;
    this.store = null;
    this.searched = 0;
    return out;
  }

  private consume(n: number): void {
    this.buf = n >= this.buf.length ? EMPTY : this.buf.subarray(n);
    this.store = null;
    this.searched = 0;
  }
}

const REQ_TOO_LARGE: ParseFailure = Object.freeze({
  kind: 'error', status: 431, reason: ProxyReason.HeadTooLarge, message: 'request head too large',
});
const REQ_BARE_LF: ParseFailure = Object.freeze({
  kind: 'error', status: 400, reason: ProxyReason.BadRequest, message: 'bare LF in head',
});
const RESP_TOO_LARGE: ParseFailure = Object.freeze({
  kind: 'error', status: 502, reason: ProxyReason.UpstreamBadResponse, message: 'response head too large',
});
const RESP_BARE_LF: ParseFailure = Object.freeze({
  kind: 'error', status: 502, reason: ProxyReason.UpstreamBadResponse, message: 'bare LF in response head',
});

/**
 * Finds and parses the next request head held by `reader`; on success the head's bytes are
 * consumed and reader holds what follows (body, next request).
 */
export function readRequestHead(reader: HeadReader, limits: Http1Limits): RequestParse | Incomplete {
  reader.skipLeadingEmptyLines();
  const end = reader.findHeadEnd();
  if (end === -1) {
    // A request line over its limit is refused as soon as that many bytes came without a line
    // end, not when the whole head limit (64 KiB) has been read.
    if (requestLineTooLong(reader.bytes, reader.length)) return URI_TOO_LONG;
    return reader.length > limits.maxHeadBytes ? REQ_TOO_LARGE : INCOMPLETE;
  }
  if (end === -2) return REQ_BARE_LF;
  const r = parseRequestHead(reader.bytes, end, limits);
  reader.skip(end);
  return r;
}

/** Same for a response head; `requestMethod` decides the response's framing. */
export function readResponseHead(reader: HeadReader, limits: Http1Limits, requestMethod: string): ResponseParse | Incomplete {
  const end = reader.findHeadEnd();
  if (end === -1) return reader.length > limits.maxHeadBytes ? RESP_TOO_LARGE : INCOMPLETE;
  if (end === -2) return RESP_BARE_LF;
  const r = parseResponseHead(reader.bytes, end, limits, requestMethod);
  reader.skip(end);
  return r;
}
