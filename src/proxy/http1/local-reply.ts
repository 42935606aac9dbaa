/**
 * Responses a request plan makes the proxy give itself (redirects, fault aborts, no route,
 * timeouts): like serialize.ts's localResponse (`trellis-reason`, text/plain, a short body, a
 * correct content-length, no body for HEAD) plus the plan's extra fields (e.g. `location`) and
 * a reason phrase for any status a route may configure. Off the hot path: only planned requests
 * that are not forwarded come here.
 */
import { STATUS_CODES } from 'node:http';
import { REASON_HEADER } from '../../errors.js';
import type { ProxyReason } from '../../errors.js';

/** Framing and connection management are the proxy's own: never taken from the plan's fields. */
const OWN_FIELDS: ReadonlySet<string> = new Set([
  'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'content-type', REASON_HEADER,
]);

export function localReply(
  status: number,
  reason: ProxyReason,
  message: string,
  headers: readonly string[] | undefined,
  close: boolean,
  head: boolean,
): Buffer {
  const body = message + '\n';
  let out = 'HTTP/1.1 ' + status + ' ' + (STATUS_CODES[status] ?? 'Unknown') + '\r\n' +
    'content-type: text/plain\r\n' +
    'content-length: ' + Buffer.byteLength(body, 'latin1') + '\r\n' +
    REASON_HEADER + ': ' + reason + '\r\n';
  if (headers !== undefined) {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i] as string;
      if (!OWN_FIELDS.has(name)) out += name + ': ' + (headers[i + 1] as string) + '\r\n';
    }
  }
  if (close) out += 'connection: close\r\n';
  out += '\r\n';
  if (!head) out += body;
  return Buffer.from(out, 'latin1');
}
