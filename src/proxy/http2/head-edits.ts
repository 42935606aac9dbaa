import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { HeadEdits } from '../pipeline/head-edits.js';

/**
 * The stages' HeadEdits applied to HTTP/2 heads, which node holds as objects rather than flat
 * arrays. Pseudo-headers are never touched except `:path` and `:authority` (request edits'
 * target and authority).
 */

/**
 * The request fields stages look at: flat [name, value, ...] without pseudo-headers, with
 * `host` taken from `:authority` (what HTTP/1 requests carry), so routes and policies read one
 * form whatever the protocol.
 */
export function flatRequestHeaders(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 58 /* ':' */ || name === 'host') continue;
    const value = headers[name];
    if (typeof value === 'string') out.push(name, value);
    else if (Array.isArray(value)) for (const v of value) out.push(name, v);
  }
  const authority = headers[':authority'] ?? headers.host;
  if (typeof authority === 'string') out.push('host', authority);
  return out;
}

/** Appends one field, turning an existing one into a list (HTTP/2 sends one field line each). */
function appendField(head: OutgoingHttpHeaders, name: string, value: string): void {
  const cur = head[name];
  if (cur === undefined) head[name] = value;
  else if (Array.isArray(cur)) head[name] = [...cur, value];
  else head[name] = [String(cur), value];
}

/** Applies `edits` in place: removed and set names first, then set and added fields. */
export function applyEdits(head: OutgoingHttpHeaders, edits: HeadEdits, isRequest: boolean): void {
  if (isRequest) {
    if (edits.target !== undefined) head[':path'] = edits.target;
    if (edits.authority !== undefined) head[':authority'] = edits.authority;
  }
  if (edits.remove !== null) for (const name of edits.remove) if (name.charCodeAt(0) !== 58) delete head[name];
  const set = edits.set;
  if (set !== null) {
    for (let i = 0; i + 1 < set.length; i += 2) {
      const name = set[i] as string;
      if (name.charCodeAt(0) !== 58 && name !== 'host') head[name] = set[i + 1] as string;
    }
  }
  const add = edits.add;
  if (add !== null) {
    for (let i = 0; i + 1 < add.length; i += 2) {
      const name = add[i] as string;
      if (name.charCodeAt(0) !== 58 && name !== 'host') appendField(head, name, add[i + 1] as string);
    }
  }
}
