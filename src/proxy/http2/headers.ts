import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';

/** Connection-specific fields: illegal in HTTP/2 (RFC 9113 8.2.2), never forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  'host',
]);

const REQUEST_PSEUDO = new Set([':method', ':path', ':authority', ':scheme', ':protocol']);

/**
 * Request fields for the next hop: the request pseudo-headers, the regular fields minus
 * hop-by-hop and `strip`, `te` only as `trailers` (gRPC needs it), then `add`.
 */
export function forwardRequestHeaders(
  headers: IncomingHttpHeaders,
  strip: ReadonlySet<string> | undefined,
  add: readonly string[] | undefined,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (REQUEST_PSEUDO.has(name)) out[name] = value;
      continue;
    }
    if (HOP_BY_HOP.has(name) || strip?.has(name) === true) continue;
    if (name === 'te' && value !== 'trailers') continue;
    out[name] = value;
  }
  if (out[':authority'] === undefined && typeof headers.host === 'string') out[':authority'] = headers.host;
  if (add !== undefined) for (let i = 0; i + 1 < add.length; i += 2) out[add[i] as string] = add[i + 1] as string;
  return out;
}

/** Response head or trailers for the previous hop: `:status` kept, other pseudo and hop-by-hop dropped. */
export function forwardResponseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    if (name.charCodeAt(0) === 58) {
      if (name === ':status') out[name] = value;
      continue;
    }
    if (HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}

export function isGrpc(headers: IncomingHttpHeaders): boolean {
  const ct = headers['content-type'];
  return typeof ct === 'string' && ct.startsWith('application/grpc');
}
