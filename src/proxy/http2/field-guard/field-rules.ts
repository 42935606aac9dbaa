import type { StringFacts } from './huffman.js';

/**
 * Which request fields nghttp2 (under Node 20) drops without a word, so the guard can reset
 * those streams instead (RFC 9113 §8.2.1 and §8.1.1: such a request is malformed).
 *
 * nghttp2's `nghttp2_http_on_header` is strict with pseudo-header fields and with upper-case
 * names (it resets the stream itself), but "forgiving" with other regular fields: a name that
 * is not a lower-case token, or a value with a control character, leading/trailing white space
 * (its RFC 9113 check) or, for `host`, a character outside an authority, is ignored and the
 * request goes on without it. Node adds one more silent drop: a zero-length name. These rules
 * mirror exactly that set; field-guard.test.ts checks them octet by octet against the real
 * nghttp2 over a socket.
 */

/** Octet classes, OR-ed over a string by the scanners in huffman.ts. */
export const C_NAME_BAD = 1; // not a lower-case tchar
export const C_UPPER = 2; // 'A'..'Z'
export const C_COLON = 4; // ':'
export const C_VALUE_BAD = 8; // CTL other than HTAB, or DEL
export const C_WS = 16; // SP or HTAB
export const C_NOT_AUTHORITY = 32; // outside RFC 3986 authority characters (as nghttp2_check_authority)

export const OCTET_CLASSES: Uint8Array = buildClasses();

function buildClasses(): Uint8Array {
  const t = new Uint8Array(256);
  const tchar = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz";
  const authority = "-._~!$&'()*+,;=:@[]%0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (let o = 0; o < 256; o++) {
    const ch = String.fromCharCode(o);
    let c = 0;
    if (!tchar.includes(ch)) c |= C_NAME_BAD;
    if (o >= 0x41 && o <= 0x5a) c |= C_UPPER;
    if (o === 0x3a) c |= C_COLON;
    if ((o < 0x20 && o !== 0x09) || o === 0x7f) c |= C_VALUE_BAD;
    if (o === 0x20 || o === 0x09) c |= C_WS;
    if (!authority.includes(ch)) c |= C_NOT_AUTHORITY;
    t[o] = c;
  }
  return t;
}

/** How nghttp2 treats a field name. */
export const NameKind = {
  /** A lower-case token: the value decides. */
  Regular: 0,
  /** `host`: its value must be authority characters. */
  Host: 1,
  /** Starts with ':': nghttp2 checks pseudo-header fields strictly and resets the stream itself. */
  Pseudo: 2,
  /** Contains upper case: nghttp2 resets the stream itself. */
  Upper: 3,
  /** Empty, or a character outside tchar: dropped silently. */
  Bad: 4,
} as const;
export type NameKind = (typeof NameKind)[keyof typeof NameKind];

const HOST_HEAD4 = 0x686f7374; // "host"

export function nameKindOf(f: StringFacts): NameKind {
  if (f.length === 0) return NameKind.Bad;
  if ((f.firstClass & C_COLON) !== 0) return NameKind.Pseudo;
  const all = f.firstClass | f.restClass;
  if ((all & C_UPPER) !== 0) return NameKind.Upper;
  if ((all & C_NAME_BAD) !== 0) return NameKind.Bad;
  if (f.length === 4 && f.head4 === HOST_HEAD4) return NameKind.Host;
  return NameKind.Regular;
}

/** True when nghttp2 would drop the field `kind: value` silently (and forward the request). */
export function isSilentlyDropped(kind: NameKind, value: StringFacts): boolean {
  switch (kind) {
    case NameKind.Bad:
      return true;
    case NameKind.Regular: {
      if (((value.firstClass | value.restClass) & C_VALUE_BAD) !== 0) return true;
      return value.length > 0 && ((value.firstClass | value.lastClass) & C_WS) !== 0;
    }
    case NameKind.Host:
      return ((value.firstClass | value.restClass) & C_NOT_AUTHORITY) !== 0;
    default:
      return false;
  }
}
