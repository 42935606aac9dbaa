/**
 * Builds forwarded heads: the original start line, the fields minus hop-by-hop ones (RFC 9110
 * §7.6.1), framing re-emitted only as the framing we forward. One string, one Buffer per head.
 * Field names go out lower-cased (as parsed); field names are case-insensitive.
 */
import { REASON_HEADER } from '../../errors.js';
import type { ProxyReason } from '../../errors.js';
import type { HeadEdits } from '../pipeline/head-edits.js';
import type { RequestHead, ResponseHead } from './parser.js';

/**
 * Always dropped; framing and Connection/Upgrade are re-emitted by the serializer itself. A
 * switch on the length before one comparison: this runs for every field of every head.
 */
function isHopByHop(name: string): boolean {
  switch (name.length) {
    case 2:
      return name === 'te';
    case 7:
      return name === 'upgrade';
    case 10:
      return name === 'connection' || name === 'keep-alive';
    case 14:
      return name === 'content-length';
    case 16:
      return name === 'proxy-connection';
    case 17:
      return name === 'transfer-encoding';
    default:
      return false;
  }
}

function named(tokens: readonly string[], name: string): boolean {
  // Connection may not remove Host: the upstream must always see it.
  return tokens.length !== 0 && name !== 'host' && tokens.includes(name);
}

/**
 * The forwarded request head: `req` as received with the stages' edits (target, authority,
 * removed, set and added fields), minus hop-by-hop fields, with framing re-emitted as the
 * framing we forward. `Upgrade` and `Connection: upgrade` go on when the request asks for a
 * protocol switch.
 */
export function serializeForwardedRequest(req: RequestHead, edits: HeadEdits | null): Buffer {
  let out = edits === null || edits.target === undefined
    ? req.startLine + '\r\n'
    : req.method + ' ' + edits.target + (req.versionMinor === 1 ? ' HTTP/1.1\r\n' : ' HTTP/1.0\r\n');
  const h = req.headers;
  const conn = req.connectionTokens;
  const authority = edits === null ? undefined : edits.authority;
  let hostDone = false;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (isHopByHop(name) || named(conn, name)) continue;
    if (name === 'host') {
      // Exactly one Host goes on: the edited authority, else the one received.
      if (hostDone) continue;
      hostDone = true;
      out += 'host: ' + (authority ?? h[i + 1]!) + '\r\n';
      continue;
    }
    if (edits !== null && edits.drops(name)) continue;
    out += name + ': ' + h[i + 1]! + '\r\n';
  }
  if (!hostDone && authority !== undefined) out += 'host: ' + authority + '\r\n';
  if (req.framing === 'chunked') out += 'transfer-encoding: ' + req.transferEncoding! + '\r\n';
  else if (req.framing === 'length') out += 'content-length: ' + req.contentLength + '\r\n';
  if (req.teTrailers) out += 'te: trailers\r\n';
  if (req.upgrade && req.upgradeValue !== undefined) out += 'connection: upgrade\r\nupgrade: ' + req.upgradeValue + '\r\n';
  if (edits !== null) {
    out = appendFields(out, edits.set);
    out = appendFields(out, edits.add);
  }
  out += '\r\n';
  return Buffer.from(out, 'latin1');
}

function appendFields(out: string, fields: readonly string[] | null): string {
  if (fields === null) return out;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!;
    // Framing and connection management are the codec's own: never taken from an edit.
    if (isHopByHop(name) || name === 'host') continue;
    out += name + ': ' + fields[i + 1]! + '\r\n';
  }
  return out;
}

export interface ResponseSerializeOptions {
  /** The proxy closes the downstream connection after this response. */
  close: boolean;
  /** Downstream is HTTP/1.0 with keep-alive: say so explicitly. */
  keepAliveHeader: boolean;
  /** Forwarding a 101 for an upgrade: keep Upgrade and `Connection: upgrade`. */
  upgrade: boolean;
}

export function serializeResponseHead(head: ResponseHead, opts: ResponseSerializeOptions, edits: HeadEdits | null = null): Buffer {
  return Buffer.from(serializeResponseHeadString(head, opts, edits), 'latin1');
}

/** The forwarded response head as a latin1 string (one char per byte), for a caller that adds the body. */
export function serializeResponseHeadString(head: ResponseHead, opts: ResponseSerializeOptions, edits: HeadEdits | null = null): string {
  let out = head.startLine + '\r\n';
  const h = head.headers;
  const conn = head.connectionTokens;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (isHopByHop(name) || named(conn, name) || (edits !== null && edits.drops(name))) continue;
    out += name + ': ' + h[i + 1]! + '\r\n';
  }
  if (edits !== null) {
    out = appendFields(out, edits.set);
    out = appendFields(out, edits.add);
  }
  const status = head.status;
  if (status >= 200 && status !== 204) {
    if (head.transferEncoding !== undefined) out += 'transfer-encoding: ' + head.transferEncoding + '\r\n';
    else if (head.contentLength >= 0) out += 'content-length: ' + head.contentLength + '\r\n';
  }
  if (opts.upgrade) {
    out += 'connection: upgrade\r\n';
    if (head.upgradeValue !== undefined) out += 'upgrade: ' + head.upgradeValue + '\r\n';
  } else if (status >= 200) {
    if (opts.close) out += 'connection: close\r\n';
    else if (opts.keepAliveHeader) out += 'connection: keep-alive\r\n';
  }
  out += '\r\n';
  return out;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  414: 'URI Too Long',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/**
 * A response the proxy makes itself: `trellis-reason`, text/plain, a short body, a correct
 * content-length (also for HEAD, which gets no body).
 */
export function localResponse(status: number, reason: ProxyReason, message: string, close: boolean, head: boolean): Buffer {
  const body = message + '\n';
  const len = Buffer.byteLength(body, 'latin1');
  let out = 'HTTP/1.1 ' + status + ' ' + (STATUS_TEXT[status] ?? 'Error') + '\r\n' +
    'content-type: text/plain\r\n' +
    'content-length: ' + len + '\r\n' +
    REASON_HEADER + ': ' + reason + '\r\n';
  if (close) out += 'connection: close\r\n';
  out += '\r\n';
  if (!head) out += body;
  return Buffer.from(out, 'latin1');
}
