/**
 * The server name (SNI, RFC 6066 §3) of a TLS ClientHello, read from the first bytes a client
 * sends, without decrypting anything: what the egress TLS listener routes by. Hand-written
 * because it is the data path and needs only this one field; every length is checked against
 * what was received, and nothing here throws on any input.
 *
 * Reads one handshake message that may span several TLS records (a ClientHello with a large
 * key share can), up to MAX_CLIENT_HELLO bytes.
 */

/** Bytes of ClientHello the listener waits for at most before giving up. */
export const MAX_CLIENT_HELLO = 16 * 1024;

export type SniResult =
  /** Not enough bytes yet: read more and call again with everything received. */
  | { kind: 'more' }
  /** A complete ClientHello with a host_name (lower case, no trailing dot). */
  | { kind: 'sni'; name: string }
  /** A complete ClientHello without a server_name extension. */
  | { kind: 'none' }
  /** Not a TLS ClientHello, or malformed (a reason for logs). */
  | { kind: 'invalid'; reason: string };

const MORE: SniResult = { kind: 'more' };
const NONE: SniResult = { kind: 'none' };
const invalid = (reason: string): SniResult => ({ kind: 'invalid', reason });

/** Parses the ClientHello at the start of `buf` (everything received so far). */
export function readClientHelloSni(buf: Buffer): SniResult {
  // Gather the handshake message out of its records (content type 22).
  const hs: Buffer[] = [];
  let have = 0;
  let need = -1;
  let at = 0;
  while (need < 0 || have < need) {
    if (buf.length < at + 5) return buf.length > MAX_CLIENT_HELLO ? invalid('ClientHello too large') : MORE;
    if (buf[at] !== 22) return invalid('not a TLS handshake record');
    if (buf[at + 1] !== 3) return invalid('not a TLS record version');
    const len = buf.readUInt16BE(at + 3);
    if (len === 0 || len > 16384 + 2048) return invalid('bad TLS record length');
    if (buf.length < at + 5 + len) return at + 5 + len > MAX_CLIENT_HELLO ? invalid('ClientHello too large') : MORE;
    hs.push(buf.subarray(at + 5, at + 5 + len));
    have += len;
    at += 5 + len;
    if (need < 0) {
      const first = hs.length === 1 ? (hs[0] as Buffer) : Buffer.concat(hs);
      if (first.length < 4) continue;
      if (first[0] !== 1) return invalid('not a ClientHello');
      need = 4 + ((first[1] as number) << 16) + ((first[2] as number) << 8) + (first[3] as number);
      if (need > MAX_CLIENT_HELLO) return invalid('ClientHello too large');
    }
  }
  const m = (hs.length === 1 ? (hs[0] as Buffer) : Buffer.concat(hs)).subarray(0, need);
  return parseClientHello(m);
}

/** `m`: the whole handshake message (type, 3-byte length, body). */
function parseClientHello(m: Buffer): SniResult {
  let p = 4 + 2 + 32; // header, legacy_version, random
  if (m.length < p + 1) return invalid('ClientHello truncated');
  p += 1 + (m[p] as number); // session id
  if (m.length < p + 2) return invalid('ClientHello truncated');
  p += 2 + m.readUInt16BE(p); // cipher suites
  if (m.length < p + 1) return invalid('ClientHello truncated');
  p += 1 + (m[p] as number); // compression methods
  if (p === m.length) return NONE; // no extensions at all
  if (m.length < p + 2) return invalid('ClientHello truncated');
  const end = p + 2 + m.readUInt16BE(p);
  if (end > m.length) return invalid('extensions overrun the ClientHello');
  p += 2;
  while (p + 4 <= end) {
    const type = m.readUInt16BE(p);
    const len = m.readUInt16BE(p + 2);
    p += 4;
    if (p + len > end) return invalid('extension overruns the extensions');
    if (type === 0) return serverName(m.subarray(p, p + len));
    p += len;
  }
  return p === end ? NONE : invalid('trailing bytes in the extensions');
}

/** The server_name extension's body: a list of (type, name); the host_name (type 0) counts. */
function serverName(e: Buffer): SniResult {
  if (e.length < 2) return invalid('server_name truncated');
  const end = 2 + e.readUInt16BE(0);
  if (end > e.length) return invalid('server_name list overruns its extension');
  let p = 2;
  while (p + 3 <= end) {
    const type = e[p] as number;
    const len = e.readUInt16BE(p + 1);
    p += 3;
    if (p + len > end) return invalid('server name overruns its list');
    if (type === 0) return hostName(e.subarray(p, p + len));
    p += len;
  }
  return NONE;
}

/** RFC 6066: ASCII, no trailing dot; anything else a hostname cannot hold is refused here. */
function hostName(b: Buffer): SniResult {
  if (b.length === 0 || b.length > 253) return invalid('bad host_name length');
  for (let i = 0; i < b.length; i++) {
    const c = b[i] as number;
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f;
    if (!ok) return invalid('host_name has a character no hostname has');
  }
  let name = b.toString('latin1').toLowerCase();
  if (name.endsWith('.')) name = name.slice(0, -1);
  return name === '' ? invalid('empty host_name') : { kind: 'sni', name };
}
