/**
 * Incremental scanner for the chunked transfer coding (RFC 9112 §7.1). The proxy forwards
 * chunked bodies verbatim; this only walks the bytes to validate framing and to find the exact
 * byte where the message ends, whatever the split points. Chunk data is skipped by offset
 * arithmetic (never looked at, never copied).
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   chunk-ext    = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
 */
import { CHAR, COLON, CR, C_HEX, C_QDTEXT, C_TOKEN, C_VALUE, DQUOTE, BACKSLASH, EQUALS, HTAB, LF, SEMI, SP } from './chars.js';

/** At most 15 hex digits: 16^15 > 2^53 is caught below; leading zeros count too. */
const MAX_SIZE_DIGITS = 15;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const enum S {
  Size,
  SizeBws, // whitespace after size: only ';' may follow
  ExtNameStart,
  ExtName,
  ExtAfterName,
  ExtValueStart,
  ExtValueToken,
  ExtValueQuoted,
  ExtValueQuotedPair,
  ExtAfterValue,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerLineStart,
  TrailerName,
  TrailerValue,
  TrailerLf,
  EndLf,
  Done,
  Error,
}

export interface ChunkedLimits {
  /** Most bytes of chunk extensions on one chunk line. */
  maxExtensionBytes: number;
  /** Most bytes of the trailer section. */
  maxTrailerBytes: number;
  /** Most trailer fields. */
  maxTrailerCount: number;
}

export const DEFAULT_CHUNKED_LIMITS: ChunkedLimits = {
  maxExtensionBytes: 4096,
  maxTrailerBytes: 64 * 1024,
  maxTrailerCount: 128,
};

export class ChunkedScanner {
  private state: S = S.Size;
  private digits = 0;
  private size = 0;
  private remaining = 0;
  private extBytes = 0;
  private trailerBytes = 0;
  private trailerCount = 0;
  private readonly limits: ChunkedLimits;
  /** Chunk-data bytes seen (payload, without framing). */
  dataBytes = 0;
  /** Why the body was rejected, when it was. */
  error: string | undefined = undefined;

  constructor(limits: ChunkedLimits = DEFAULT_CHUNKED_LIMITS) {
    this.limits = limits;
  }

  get done(): boolean {
    return this.state === S.Done;
  }

  get failed(): boolean {
    return this.state === S.Error;
  }

  /** Ready for a new message. */
  reset(): void {
    this.state = S.Size;
    this.digits = 0;
    this.size = 0;
    this.remaining = 0;
    this.extBytes = 0;
    this.trailerBytes = 0;
    this.trailerCount = 0;
    this.dataBytes = 0;
    this.error = undefined;
  }

  private fail(msg: string): number {
    this.state = S.Error;
    this.error = msg;
    return -1;
  }

  /**
   * Scans buf[start..]. Returns the offset where scanning stopped: when `done`, the index just
   * past the message's final CRLF (bytes after it belong to the next message); otherwise
   * buf.length. Returns -1 on a framing error (see `error`).
   */
  push(buf: Buffer, start = 0): number {
    let i = start;
    const n = buf.length;
    let state = this.state;
    if (state === S.Done) return start;
    if (state === S.Error) return -1;
    while (i < n) {
      if (state === S.Data) {
        const avail = n - i;
        if (avail < this.remaining) {
          this.remaining -= avail;
          this.dataBytes += avail;
          i = n;
          break;
        }
        i += this.remaining;
        this.dataBytes += this.remaining;
        this.remaining = 0;
        state = S.DataCr;
        continue;
      }
      const c = buf[i]!;
      i++;
      switch (state) {
        case S.Size:
          if ((CHAR[c]! & C_HEX) !== 0) {
            if (++this.digits > MAX_SIZE_DIGITS) return this.fail('chunk size has too many digits');
            this.size = this.size * 16 + (c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x57);
            if (this.size > MAX_SAFE) return this.fail('chunk size too large');
          } else if (this.digits === 0) {
            return this.fail('invalid chunk size');
          } else if (c === CR) {
            state = S.SizeLf;
          } else if (c === SEMI) {
            state = S.ExtNameStart;
          } else if (c === SP || c === HTAB) {
            state = S.SizeBws;
          } else {
            return this.fail('invalid chunk size');
          }
          break;
        case S.SizeBws:
          if (c === SEMI) state = S.ExtNameStart;
          else if (c !== SP && c !== HTAB) return this.fail('invalid chunk size line');
          break;
        case S.ExtNameStart:
          if (++this.extBytes > this.limits.maxExtensionBytes) return this.fail('chunk extension too long');
          if ((CHAR[c]! & C_TOKEN) !== 0) state = S.ExtName;
          else if (c !== SP && c !== HTAB) return this.fail('invalid chunk extension');
          break;
        case S.ExtName:
          if (++this.extBytes > this.limits.maxExtensionBytes) return this.fail('chunk extension too long');
          if ((CHAR[c]! & C_TOKEN) !== 0) break;
          if (c === CR) state = S.SizeLf;
          else if (c === SEMI) state = S.ExtNameStart;
          else if (c === EQUALS) state = S.ExtValueStart;
          else if (c === SP || c === HTAB) state = S.ExtAfterName;
          else return this.fail('invalid chunk extension');
          break;
        case S.ExtAfterName:
          if (++this.extBytes > this.limits.maxExtensionBytes) return this.fail('chunk extension too long');
          if (c === EQUALS) state = S.ExtValueStart;
          else if (c === SEMI) state = S.ExtNameStart;
          else if (c !== SP && c !== HTAB) return this.fail('invalid chunk extension');
          break;
        case S.ExtValueStart:
          if (++this.extBytes > this.limits.maxExtensionBytes) return this.fail('chunk extension too long');
          if ((CHAR[c]! & C_TOKEN) !== 0) state = S.ExtValueToken;
          else if (c === DQUOTE) state = S.ExtValueQuoted;
          else if (c !== SP && c !== HTAB) return this.fail('invalid chunk extension value');
          break;
        case S.ExtValueToken:
          if (++this.extBytes > this.limits.maxExtensionBytes) return this.fail('chunk extension too long');
          if ((CHAR[c]! & C_TOKEN) !== 0) break;
          if (c === CR) state = S.SizeLf;
          else if (c === SEMI) state = S.ExtNameStart;
          else if (c === SP || c === HTAB) state = S.ExtAfterValue;
          else return this.fail('invalid chunk extension value');
          break;
        case S.ExtValueQuoted:
          if (++this.extBytes > this.limits.maxExtensionBytes) return this.fail('chunk extension too long');
          if (c === DQUOTE) state = S.ExtAfterValue;
          else if (c === BACKSLASH) state = S.ExtValueQuotedPair;
          else if ((CHAR[c]! & C_QDTEXT) === 0) return this.fail('invalid quoted chunk extension');
          break;
        case S.ExtValueQuotedPair:
          if (++this.extBytes > this.limits.maxExtensionBytes) return this.fail('chunk extension too long');
          if (c === HTAB || c === SP || (c >= 0x21 && c !== 0x7f)) state = S.ExtValueQuoted;
          else return this.fail('invalid quoted-pair in chunk extension');
          break;
        case S.ExtAfterValue:
          if (++this.extBytes > this.limits.maxExtensionBytes) return this.fail('chunk extension too long');
          if (c === CR) state = S.SizeLf;
          else if (c === SEMI) state = S.ExtNameStart;
          else if (c !== SP && c !== HTAB) return this.fail('invalid chunk extension');
          break;
        case S.SizeLf:
          if (c !== LF) return this.fail('bare CR in chunk size line');
          this.extBytes = 0;
          this.digits = 0;
          if (this.size === 0) {
            state = S.TrailerLineStart;
          } else {
            this.remaining = this.size;
            this.size = 0;
            state = S.Data;
          }
          break;
        case S.DataCr:
          if (c !== CR) return this.fail('chunk data not followed by CRLF');
          state = S.DataLf;
          break;
        case S.DataLf:
          if (c !== LF) return this.fail('chunk data not followed by CRLF');
          state = S.Size;
          break;
        case S.TrailerLineStart:
          if (c === CR) {
            state = S.EndLf;
            break;
          }
          if (++this.trailerCount > this.limits.maxTrailerCount) return this.fail('too many trailer fields');
          if ((CHAR[c]! & C_TOKEN) === 0) {
            return this.fail(c === SP || c === HTAB ? 'obsolete line folding in trailer' : 'invalid trailer field name');
          }
          state = S.TrailerName;
          break;
        case S.TrailerName:
          if ((CHAR[c]! & C_TOKEN) !== 0) break;
          if (c !== COLON) return this.fail('invalid trailer field name');
          state = S.TrailerValue;
          break;
        case S.TrailerValue:
          if ((CHAR[c]! & C_VALUE) !== 0) break;
          if (c !== CR) return this.fail('invalid character in trailer field value');
          state = S.TrailerLf;
          break;
        case S.TrailerLf:
          if (c !== LF) return this.fail('bare CR in trailer');
          state = S.TrailerLineStart;
          break;
        case S.EndLf:
          if (c !== LF) return this.fail('bare CR at end of chunked body');
          this.state = S.Done;
          return i;
      }
      if (state >= S.TrailerLineStart && ++this.trailerBytes > this.limits.maxTrailerBytes) {
        return this.fail('trailer section too large');
      }
    }
    this.state = state;
    return n;
  }
}
