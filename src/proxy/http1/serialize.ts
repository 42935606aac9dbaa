/**
 * Builds forwarded heads: the original start line, the fields minus hop-by-hop ones (RFC 9110
 * §7.6.1), framing re-emitted only as the framing we forward. One string, one Buffer per head.
 * Field names go out lower-cased (as parsed); field names are case-insensitive.
 */
import { REASON_HEADER } from '../../errors.js';
import type { ProxyReason } from '../../errors.js';
import type { RequestHead, ResponseHead } from './parser.js';

/** Always dropped; framing and Connection/Upgrade are re-emitted by the serializer itself. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'upgrade',
  'transfer-encoding',
  'content-length',
]);

function named(tokens: readonly string[], name: string): boolean {
  // Connection may not remove Host: the upstream must always see it.
  return tokens.length !== 0 && name !== 'host' && tokens.includes(name);
}

export interface RequestSerializeOptions {
  stripRequestHeaders?: ReadonlySet<string> | undefined;
  addRequestHeaders?: readonly string[] | undefined;
  /** Forward Upgrade + `Connection: upgrade` (the request asks for a protocol switch). */
  upgrade: boolean;
}

export function serializeRequestHead(head: RequestHead, opts: RequestSerializeOptions): Buffer {
  let out = head.startLine + '\r\n';
  const h = head.headers;
  const conn = head.connectionTokens;
  const strip = opts.stripRequestHeaders;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (HOP_BY_HOP.has(name) || named(conn, name) || (strip !== undefined && strip.has(name))) continue;
    out += name + ': ' + h[i + 1]! + '\r\n';
  }
  if (head.framing === 'chunked') out += 'transfer-encoding: ' + head.transferEncoding! + '\r\n';
  else if (head.framing === 'length') out += 'content-length: ' + head.contentLength + '\r\n';
  if (head.teTrailers) out += 'te: trailers\r\n';
  if (opts.upgrade && head.upgradeValue !== undefined) {
    out += 'connection: upgrade\r\nupgrade: ' + head.upgradeValue + '\r\n';
  }
  const add = opts.addRequestHeaders;
  if (add !== undefined) {
    for (let i = 0; i + 1 < add.length; i += 2) out += add[i]! + ': ' + add[i + 1]! + '\r\n';
  }
  out += '\r\n';
  return Buffer.from(out, 'latin1');
}

export interface ResponseSerializeOptions {
  /** The proxy closes the downstream connection after this response. */
  close: boolean;
  /** Downstream is HTTP/1.0 with keep-alive: say so explicitly. */
  keepAliveHeader: boolean;
  /** Forwarding a 101 for an upgrade: keep Upgrade and `Connection: upgrade`. */
  upgrade: boolean;
}

export function serializeResponseHead(head: ResponseHead, opts: ResponseSerializeOptions): Buffer {
  return Buffer.from(serializeResponseHeadString(head, opts), 'latin1');
}

/** The forwarded response head as a latin1 string (one char per byte), for a caller that adds the body. */
export function serializeResponseHeadString(head: ResponseHead, opts: ResponseSerializeOptions): string {
  let out = head.startLine + '\r\n';
  const h = head.headers;
  const conn = head.connectionTokens;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    if (HOP_BY_HOP.has(name) || named(conn, name)) continue;
    out += name + ': ' + h[i + 1]! + '\r\n';
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
