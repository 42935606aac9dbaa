/**
 * Strict RFC 9112 head parser (pure: no sockets). Hand-written because it is the proxy's hot
 * path (see README.md for the figures) and because request smuggling lives exactly here: every
 * ambiguity a lenient parser would resolve one way and the upstream another is rejected.
 *
 * The caller finds the end of a head with HeadReader (head-reader.ts), then calls
 * parseRequestHead / parseResponseHead on the bytes [0, end). Results are values, never throws.
 */
import { ProxyReason } from '../../errors.js';
import {
  CHAR, COLON, COMMA, CR, C_HOST, C_TARGET, C_TOKEN, C_VALUE, HTAB, LF, SEMI, SP,
} from './chars.js';
import type { Http1Limits } from './types.js';

/** How a message body is delimited (RFC 9112 §6.3). */
export type BodyFraming =
  | 'none' // no body
  | 'length' // Content-Length bytes (may be 0)
  | 'chunked' // chunked transfer coding, final coding
  | 'close'; // response read until the connection closes

export interface ParseFailure {
  readonly kind: 'error';
  readonly status: number;
  readonly reason: ProxyReason;
  readonly message: string;
}

export interface Incomplete {
  readonly kind: 'incomplete';
}

export const INCOMPLETE: Incomplete = Object.freeze({ kind: 'incomplete' });

/** Fields common to request and response heads. */
interface HeadBase {
  /** HTTP/1.<minor> */
  versionMinor: 0 | 1;
  /** Start line as received, without CRLF. */
  startLine: string;
  /** Flat [name, value, ...]: names lower-cased, values OWS-trimmed, in order received. */
  headers: string[];
  framing: BodyFraming;
  /** Content-Length value when framing is 'length' (or when present on a bodiless response), else -1. */
  contentLength: number;
  /** Transfer-Encoding field values joined with ", " when present. */
  transferEncoding: string | undefined;
  /** Connection tokens, lower-cased (hop-by-hop field names among them). */
  connectionTokens: string[];
  /** Upgrade field value if present. */
  upgradeValue: string | undefined;
  /** Whether the sender allows the connection to persist after this message. */
  keepAlive: boolean;
  /** Bytes of the head including the final CRLF CRLF. */
  headBytes: number;
}

export interface RequestHead extends HeadBase {
  readonly kind: 'request';
  method: string;
  target: string;
  /** The single Host field value (HTTP/1.1 requires exactly one). */
  host: string | undefined;
  /** Upgrade present and named in Connection. */
  upgrade: boolean;
  /** Expect: 100-continue */
  expectContinue: boolean;
  /** Value of TE when it is exactly "trailers" (the only TE the proxy passes on). */
  teTrailers: boolean;
}

export interface ResponseHead extends HeadBase {
  readonly kind: 'response';
  status: number;
  reasonPhrase: string;
}

export type RequestParse = RequestHead | ParseFailure;
export type ResponseParse = ResponseHead | ParseFailure;

/**
 * Longest request line accepted, its CRLF included: 8 KiB, as nginx (one 8 KiB
 * `large_client_header_buffers` buffer) and Apache (`LimitRequestLine` 8190). Longer: 414
 * `uri-too-long` (RFC 9112 §3: a server that receives a request-target longer than it wishes
 * to parse answers 414), apart from the 64 KiB head limit (431), so that a huge URL is told
 * apart from huge headers and refused as soon as 8 KiB arrive without a line end.
 */
export const MAX_REQUEST_LINE_BYTES = 8 * 1024;

export const URI_TOO_LONG: ParseFailure = Object.freeze({
  kind: 'error', status: 414, reason: ProxyReason.UriTooLong, message: 'request line too long',
});

/**
 * True when buf (a request head, or the start of one, from its first byte) has no LF within
 * its first MAX_REQUEST_LINE_BYTES bytes, although it holds at least that many: the request line
 * cannot fit. Called only for heads that long, so the common head pays nothing.
 */
export function requestLineTooLong(buf: Buffer, length: number): boolean {
  if (length < MAX_REQUEST_LINE_BYTES) return false;
  const lf = buf.indexOf(LF);
  return lf === -1 || lf >= MAX_REQUEST_LINE_BYTES;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** Module-local alias: V8 optimises a local typed array better than an imported binding. */
const CT: Uint8Array = CHAR;

function reqFail(message: string, status = 400, reason: ProxyReason = ProxyReason.BadRequest): ParseFailure {
  return { kind: 'error', status, reason, message };
}

function respFail(message: string): ParseFailure {
  return { kind: 'error', status: 502, reason: ProxyReason.UpstreamBadResponse, message };
}

/** Scratch filled by parseFields; one per parse. */
interface FieldInfo {
  headers: string[];
  host: string | undefined;
  hostCount: number;
  contentLength: number; // -1 none, -2 invalid / mismatched, -3 too large
  transferEncoding: string | undefined;
  connection: string | undefined;
  upgrade: string | undefined;
  expect: string | undefined;
  te: string | undefined;
  tooMany: boolean;
  error: string | undefined;
}

function newFieldInfo(): FieldInfo {
  return {
    headers: [], host: undefined, hostCount: 0, contentLength: -1, transferEncoding: undefined,
    connection: undefined, upgrade: undefined, expect: undefined, te: undefined, tooMany: false, error: undefined,
  };
}

function join(prev: string | undefined, v: string): string {
  return prev === undefined ? v : prev + ', ' + v;
}

/**
 * Parses field lines from `pos` to `end` (which ends with the empty line's CRLF).
 * Returns false with info.error / info.tooMany set on failure.
 */
function parseFields(b: Buffer, s: string, pos: number, end: number, maxCount: number, info: FieldInfo): boolean {
  const headers = info.headers;
  let count = 0;
  for (;;) {
    let c = b[pos]!;
    if (c === CR) {
      if (b[pos + 1]! === LF && pos + 2 === end) return true;
      info.error = 'bare CR in head';
      return false;
    }
    if (c === SP || c === HTAB) {
      info.error = 'obsolete line folding';
      return false;
    }
    const ns = pos;
    while ((CT[c]! & C_TOKEN) !== 0) c = b[++pos]!;
    if (pos === ns) {
      info.error = c === LF ? 'bare LF in head' : 'invalid field name';
      return false;
    }
    if (c !== COLON) {
      info.error = c === SP || c === HTAB ? 'whitespace before colon' : c === LF ? 'bare LF in head' : 'invalid field name';
      return false;
    }
    const name = s.slice(ns, pos).toLowerCase();
    c = b[++pos]!;
    while (c === SP || c === HTAB) c = b[++pos]!;
    const vs = pos;
    let ve = pos;
    while ((CT[c]! & C_VALUE) !== 0) {
      pos++;
      if (c !== SP && c !== HTAB) ve = pos;
      c = b[pos]!;
    }
    if (c !== CR || b[pos + 1]! !== LF) {
      info.error = c === LF ? 'bare LF in head' : c === CR ? 'bare CR in head' : 'invalid character in field value';
      return false;
    }
    pos += 2;
    if (++count > maxCount) {
      info.tooMany = true;
      return false;
    }
    const value = s.slice(vs, ve);
    headers.push(name, value);
    switch (name.length) {
      case 4:
        if (name === 'host') {
          info.host = value;
          info.hostCount++;
        }
        break;
      case 14:
        if (name === 'content-length') {
          if (info.contentLength !== -2 && info.contentLength !== -3) {
            const n = parseContentLength(value);
            if (n < 0) info.contentLength = n === -3 ? -3 : -2;
            else if (info.contentLength >= 0 && info.contentLength !== n) info.contentLength = -2;
            else info.contentLength = n;
          }
        }
        break;
      case 17:
        if (name === 'transfer-encoding') info.transferEncoding = join(info.transferEncoding, value);
        break;
      case 10:
        if (name === 'connection') info.connection = join(info.connection, value);
        break;
      case 7:
        if (name === 'upgrade') info.upgrade = join(info.upgrade, value);
        break;
      case 6:
        if (name === 'expect') info.expect = join(info.expect, value);
        break;
      case 2:
        if (name === 'te') info.te = join(info.te, value);
        break;
    }
  }
}

/**
 * Content-Length value: 1*DIGIT, or a list of identical 1*DIGIT values (RFC 9110 §8.6).
 * Returns the length, -2 when malformed or the list values differ, -3 when over MAX_SAFE_INTEGER.
 */
export function parseContentLength(v: string): number {
  const n = v.length;
  let result = -1;
  let i = 0;
  for (;;) {
    let c = i < n ? v.charCodeAt(i) : 0;
    while (c === SP || c === HTAB) c = (++i < n ? v.charCodeAt(i) : 0);
    const start = i;
    let val = 0;
    while (c >= 0x30 && c <= 0x39) {
      val = val * 10 + (c - 0x30);
      if (val > MAX_SAFE) return -3;
      c = (++i < n ? v.charCodeAt(i) : 0);
    }
    if (i === start) return -2;
    while (c === SP || c === HTAB) c = (++i < n ? v.charCodeAt(i) : 0);
    if (result !== -1 && result !== val) return -2;
    result = val;
    if (i >= n) return result;
    if (c !== COMMA) return -2;
    i++;
  }
}

/** Transfer-Encoding verdicts. */
export const enum TeVerdict {
  /** chunked is the final coding, applied once. */
  Chunked,
  /** Only known codings, chunked not final (request: 400; response: read until close). */
  NotChunked,
  /** An unknown coding appears and chunked is not final (request: 501; response: read until close). */
  Unknown,
  /** An unknown coding appears and chunked is final (request: 501; response: chunked). */
  UnknownChunked,
  /** Malformed list, empty element, chunked twice or with parameters. */
  Malformed,
}

const KNOWN_CODINGS = new Set(['chunked', 'gzip', 'x-gzip', 'deflate', 'compress', 'x-compress']);

/** Classifies a (joined) Transfer-Encoding value. */
export function classifyTransferEncoding(v: string): TeVerdict {
  const n = v.length;
  let i = 0;
  let unknown = false;
  let chunkedSeen = false;
  let lastChunked = false;
  for (;;) {
    let c = i < n ? v.charCodeAt(i) : 0;
    while (c === SP || c === HTAB) c = (++i < n ? v.charCodeAt(i) : 0);
    const start = i;
    while ((CT[c]! & C_TOKEN) !== 0) c = (++i < n ? v.charCodeAt(i) : 0);
    if (i === start) return TeVerdict.Malformed;
    const coding = v.slice(start, i).toLowerCase();
    const isChunked = coding === 'chunked';
    if (isChunked) {
      if (chunkedSeen) return TeVerdict.Malformed;
      chunkedSeen = true;
    } else if (!KNOWN_CODINGS.has(coding)) {
      unknown = true;
    }
    while (c === SP || c === HTAB) c = (++i < n ? v.charCodeAt(i) : 0);
    if (c === SEMI) {
      if (isChunked) return TeVerdict.Malformed;
      // Parameters of another coding: skip to the next comma (the value was already
      // checked to hold only field-value characters). Quoted commas are not expected here.
      while (i < n && v.charCodeAt(i) !== COMMA) i++;
      c = i < n ? v.charCodeAt(i) : 0;
    }
    lastChunked = isChunked;
    if (i >= n) break;
    if (c !== COMMA) return TeVerdict.Malformed;
    i++;
  }
  if (chunkedSeen && !lastChunked) return unknown ? TeVerdict.Unknown : TeVerdict.Malformed;
  if (lastChunked) return unknown ? TeVerdict.UnknownChunked : TeVerdict.Chunked;
  return unknown ? TeVerdict.Unknown : TeVerdict.NotChunked;
}

/** Comma-separated tokens, lower-cased; empty elements skipped. null when an element is not a token. */
export function parseTokenList(v: string): string[] | null {
  const out: string[] = [];
  const n = v.length;
  let i = 0;
  while (i < n) {
    let c = i < n ? v.charCodeAt(i) : 0;
    while (c === SP || c === HTAB || c === COMMA) c = (++i < n ? v.charCodeAt(i) : 0);
    if (i >= n) break;
    const start = i;
    while ((CT[c]! & C_TOKEN) !== 0) c = (++i < n ? v.charCodeAt(i) : 0);
    if (i === start) return null;
    out.push(v.slice(start, i).toLowerCase());
    while (c === SP || c === HTAB) c = (++i < n ? v.charCodeAt(i) : 0);
    if (i < n && c !== COMMA) return null;
  }
  return out;
}

const EMPTY_TOKENS: string[] = [];

/**
 * HTTP-version at s[i..i+8): returns 1 or 0 for HTTP/1.1 and HTTP/1.0, -2 for another
 * well-formed HTTP/d.d, -1 otherwise.
 */
function parseVersion(s: string, i: number): number {
  if (!s.startsWith('HTTP/', i)) return -1;
  const major = s.charCodeAt(i + 5);
  const dot = s.charCodeAt(i + 6);
  const minor = s.charCodeAt(i + 7);
  if (major < 0x30 || major > 0x39 || dot !== 0x2e || minor < 0x30 || minor > 0x39) return -1;
  if (major !== 0x31) return -2;
  if (minor === 0x31) return 1;
  if (minor === 0x30) return 0;
  return -2;
}

function isAuthorityForm(t: string): boolean {
  // uri-host ":" port, no userinfo. Port 1*DIGIT.
  const colon = t.lastIndexOf(':');
  if (colon <= 0 || colon === t.length - 1) return false;
  for (let i = 0; i < colon; i++) {
    const c = t.charCodeAt(i);
    if ((CT[c]! & C_HOST) === 0 || c === 0x2f || c === 0x40) return false;
  }
  for (let i = colon + 1; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function isAbsoluteForm(t: string): boolean {
  // scheme "://" ...; scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  let i = 0;
  const n = t.length;
  let c = t.charCodeAt(0);
  if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a))) return false;
  for (i = 1; i < n; i++) {
    c = t.charCodeAt(i);
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e) continue;
    break;
  }
  // Require "://" (an authority): keeps absolute-form apart from authority-form.
  return c === COLON && t.charCodeAt(i + 1) === 0x2f && t.charCodeAt(i + 2) === 0x2f && i + 3 < n;
}

function isValidHost(h: string): boolean {
  for (let i = 0; i < h.length; i++) {
    if ((CT[h.charCodeAt(i)]! & C_HOST) === 0) return false;
  }
  return true;
}

/** Parses a complete request head held in buf[0, end) (end is just after CRLF CRLF). */
export function parseRequestHead(buf: Buffer, end: number, limits: Http1Limits): RequestParse {
  if (end > MAX_REQUEST_LINE_BYTES && requestLineTooLong(buf, end)) return URI_TOO_LONG;
  if (end > limits.maxHeadBytes) return reqFail('request head too large', 431, ProxyReason.HeadTooLarge);
  const s = buf.toString('latin1', 0, end);
  const b = buf;
  let i = 0;
  let c = b[0]!;
  while ((CT[c]! & C_TOKEN) !== 0) c = b[++i]!;
  if (i === 0 || c !== SP) return reqFail('invalid method');
  const method = s.slice(0, i);
  const ts = ++i;
  c = b[i]!;
  while ((CT[c]! & C_TARGET) !== 0) c = b[++i]!;
  if (i === ts || c !== SP) return reqFail('invalid request-target');
  const target = s.slice(ts, i);
  i++;
  const minor = parseVersion(s, i);
  if (minor === -2) return reqFail('HTTP version not supported', 505);
  if (minor < 0) return reqFail('invalid HTTP version');
  const lineEnd = i + 8;
  if (b[lineEnd]! !== CR || b[lineEnd + 1]! !== LF) return reqFail('invalid request line ending');

  // Request-target form (RFC 9112 §3.2).
  const t0 = target.charCodeAt(0);
  if (method === 'CONNECT') {
    if (!isAuthorityForm(target)) return reqFail('CONNECT needs authority-form target');
  } else if (t0 === 0x2f) {
    if (target.indexOf('#') !== -1) return reqFail('fragment in request-target');
  } else if (t0 === 0x2a && target.length === 1) {
    if (method !== 'OPTIONS') return reqFail('asterisk-form only for OPTIONS');
  } else if (!isAbsoluteForm(target) || target.indexOf('#') !== -1) {
    return reqFail('invalid request-target form');
  }

  const info = newFieldInfo();
  if (!parseFields(b, s, lineEnd + 2, end, limits.maxHeaderCount, info)) {
    if (info.tooMany) return reqFail('too many header fields', 431, ProxyReason.HeadTooLarge);
    return reqFail(info.error ?? 'malformed head');
  }

  // Host (RFC 9112 §3.2).
  if (info.hostCount > 1) return reqFail('duplicate Host');
  if (info.hostCount === 0 && minor === 1) return reqFail('missing Host');
  if (info.host !== undefined && !isValidHost(info.host)) return reqFail('invalid Host');

  // Framing (RFC 9112 §6).
  let framing: BodyFraming = 'none';
  let contentLength = -1;
  if (info.transferEncoding !== undefined) {
    if (info.contentLength !== -1) return reqFail('both Transfer-Encoding and Content-Length');
    if (minor === 0) return reqFail('Transfer-Encoding in HTTP/1.0 request');
    const v = classifyTransferEncoding(info.transferEncoding);
    if (v === TeVerdict.Unknown || v === TeVerdict.UnknownChunked) return reqFail('unsupported transfer coding', 501, ProxyReason.UnsupportedTransferEncoding);
    if (v !== TeVerdict.Chunked) return reqFail('chunked is not the final transfer coding');
    framing = 'chunked';
  } else if (info.contentLength !== -1) {
    if (info.contentLength === -3) return reqFail('Content-Length too large');
    if (info.contentLength < 0) return reqFail('invalid Content-Length');
    framing = 'length';
    contentLength = info.contentLength;
  }

  let connectionTokens = EMPTY_TOKENS;
  let close = false;
  let keepAliveToken = false;
  let upgradeToken = false;
  if (info.connection !== undefined) {
    const toks = parseTokenList(info.connection);
    if (toks === null) return reqFail('invalid Connection');
    connectionTokens = toks;
    close = toks.includes('close');
    keepAliveToken = toks.includes('keep-alive');
    upgradeToken = toks.includes('upgrade');
  }
  const keepAlive = !close && (minor === 1 || keepAliveToken);
  // h2c is never passed on: a backend switching to cleartext HTTP/2 behind us would take the
  // rest of the connection out of the proxy's hands (h2c smuggling). Such a request is
  // forwarded as a plain request (Upgrade is hop-by-hop and dropped).
  const upgrade = upgradeToken && info.upgrade !== undefined && minor === 1 &&
    !info.upgrade.toLowerCase().includes('h2c');
  const expectContinue = info.expect !== undefined && info.expect.toLowerCase() === '100-continue';

  return {
    kind: 'request',
    method,
    target,
    versionMinor: minor as 0 | 1,
    startLine: s.slice(0, lineEnd),
    headers: info.headers,
    framing,
    contentLength,
    transferEncoding: info.transferEncoding,
    connectionTokens,
    upgradeValue: info.upgrade,
    keepAlive,
    headBytes: end,
    host: info.host,
    upgrade,
    expectContinue,
    teTrailers: info.te !== undefined && info.te.toLowerCase() === 'trailers',
  };
}

/**
 * Parses a complete response head held in buf[0, end). `requestMethod` decides framing
 * (responses to HEAD have no body; 2xx to CONNECT opens a tunnel, reported as framing 'close').
 */
export function parseResponseHead(buf: Buffer, end: number, limits: Http1Limits, requestMethod: string): ResponseParse {
  if (end > limits.maxHeadBytes) return respFail('response head too large');
  const s = buf.toString('latin1', 0, end);
  const b = buf;
  const minor = parseVersion(s, 0);
  if (minor < 0) return respFail('invalid HTTP version in status line');
  if (b[8]! !== SP) return respFail('invalid status line');
  const d1 = b[9]! - 0x30;
  const d2 = b[10]! - 0x30;
  const d3 = b[11]! - 0x30;
  if (d1 < 1 || d1 > 5 || d2 < 0 || d2 > 9 || d3 < 0 || d3 > 9) return respFail('invalid status code');
  const status = d1 * 100 + d2 * 10 + d3;
  let i = 12;
  let c = b[i]!;
  let reasonPhrase = '';
  if (c === SP) {
    const rs = ++i;
    c = b[i]!;
    while ((CT[c]! & C_VALUE) !== 0) c = b[++i]!;
    reasonPhrase = s.slice(rs, i);
  }
  // A missing SP before an empty reason is tolerated: it changes no framing.
  if (c !== CR || b[i + 1]! !== LF) return respFail('invalid status line');
  const lineEnd = i;

  const info = newFieldInfo();
  if (!parseFields(b, s, lineEnd + 2, end, limits.maxHeaderCount, info)) {
    return respFail(info.tooMany ? 'too many header fields in response' : (info.error ?? 'malformed response head'));
  }

  let connectionTokens = EMPTY_TOKENS;
  let close = false;
  let keepAliveToken = false;
  if (info.connection !== undefined) {
    const toks = parseTokenList(info.connection);
    if (toks === null) return respFail('invalid Connection in response');
    connectionTokens = toks;
    close = toks.includes('close');
    keepAliveToken = toks.includes('keep-alive');
  }
  let keepAlive = !close && (minor === 1 || keepAliveToken);

  if (info.contentLength === -3) return respFail('Content-Length too large in response');
  if (info.contentLength === -2) return respFail('invalid Content-Length in response');
  if (info.transferEncoding !== undefined && info.contentLength !== -1) {
    return respFail('both Transfer-Encoding and Content-Length in response');
  }
  if (info.transferEncoding !== undefined && minor === 0) return respFail('Transfer-Encoding in HTTP/1.0 response');

  let framing: BodyFraming;
  let contentLength = info.contentLength;
  if (status < 200 || status === 204 || status === 304 || requestMethod === 'HEAD') {
    framing = 'none';
  } else if (requestMethod === 'CONNECT' && status < 300) {
    framing = 'close';
    contentLength = -1;
  } else if (info.transferEncoding !== undefined) {
    const v = classifyTransferEncoding(info.transferEncoding);
    if (v === TeVerdict.Malformed) return respFail('malformed Transfer-Encoding in response');
    if (v === TeVerdict.Chunked || v === TeVerdict.UnknownChunked) {
      framing = 'chunked';
    } else {
      framing = 'close';
      keepAlive = false;
    }
  } else if (info.contentLength >= 0) {
    framing = 'length';
  } else {
    framing = 'close';
    keepAlive = false;
  }

  return {
    kind: 'response',
    status,
    reasonPhrase,
    versionMinor: minor as 0 | 1,
    startLine: s.slice(0, lineEnd),
    headers: info.headers,
    framing,
    contentLength,
    transferEncoding: info.transferEncoding,
    connectionTokens,
    upgradeValue: info.upgrade,
    keepAlive,
    headBytes: end,
  };
}
