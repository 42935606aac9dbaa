/**
 * Character classes for the HTTP/1 codec (RFC 9110 §5.6.2, RFC 9112), as one lookup table
 * indexed by byte value. Hand-written because the codec is the proxy's hot path: a table
 * lookup per byte is far cheaper than a regular expression per field.
 */
export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;
export const SEMI = 0x3b;
export const COMMA = 0x2c;
export const DQUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const EQUALS = 0x3d;

/** tchar: "!#$%&'*+-.^_`|~" DIGIT ALPHA */
export const C_TOKEN = 1;
/** field-vchar / SP / HTAB / obs-text: what a field value may hold after OWS trimming. */
export const C_VALUE = 2;
/** VCHAR: what a request-target may hold (no CTL, no SP, no non-ASCII). */
export const C_TARGET = 4;
/** HEXDIG */
export const C_HEX = 8;
/** Characters of uri-host [":" port] (reg-name, IP-literal, IPv4, port). */
export const C_HOST = 16;
/** qdtext / quoted-pair second byte (HTAB, SP, VCHAR except DQUOTE and BACKSLASH, obs-text). */
export const C_QDTEXT = 32;

function buildTable(): Uint8Array {
  const t = new Uint8Array(256);
  const add = (chars: string, flag: number): void => {
    for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)]! |= flag;
  };
  const range = (from: number, to: number, flag: number): void => {
    for (let c = from; c <= to; c++) t[c]! |= flag;
  };
  const alpha = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const digit = '0123456789';
  add(alpha + digit + "!#$%&'*+-.^_`|~", C_TOKEN);
  range(0x21, 0x7e, C_VALUE);
  range(0x80, 0xff, C_VALUE);
  add(' \t', C_VALUE);
  range(0x21, 0x7e, C_TARGET);
  add(digit + 'abcdefABCDEF', C_HEX);
  add(alpha + digit + "-._~!$&'()*+,;=%:[]", C_HOST);
  add(' \t', C_QDTEXT);
  range(0x21, 0x7e, C_QDTEXT);
  range(0x80, 0xff, C_QDTEXT);
  t[DQUOTE]! &= ~C_QDTEXT;
  t[BACKSLASH]! &= ~C_QDTEXT;
  return t;
}

/** Byte -> class flags. Index with a char code 0..255; other indexes read undefined (no class). */
export const CHAR = buildTable();

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff || (CHAR[c]! & C_TOKEN) === 0) return false;
  }
  return true;
}
