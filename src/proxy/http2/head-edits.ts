import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { rewritePath, splitTarget } from '../routing/rewrite.js';
import type { CompiledHeaderModifier, CompiledUrlRewrite } from '../routing/types.js';
import { TRACE_HEADERS } from '../../telemetry/tracing/context.js';

/**
 * Route filters applied to HTTP/2 heads, which node holds as objects rather than the flat
 * arrays of the HTTP/1 forwarder. Run only for plans that carry the filter.
 */

/**
 * The request fields a planner looks at: flat [name, value, ...] without pseudo-headers, with
 * `host` taken from `:authority` (what HTTP/1 routes match on).
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

/**
 * Applies a RequestHeaderModifier/ResponseHeaderModifier in place: remove, then set (replaces
 * every field of the name), then add. `host` means `:authority` in HTTP/2; other
 * pseudo-headers are never touched.
 */
export function modifyHead(head: OutgoingHttpHeaders, mod: CompiledHeaderModifier): void {
  for (const name of mod.remove) if (name.charCodeAt(0) !== 58) delete head[name];
  for (const [name, value] of mod.set) {
    if (name === 'host') head[':authority'] = value;
    else if (name.charCodeAt(0) !== 58) head[name] = value;
  }
  for (const [name, value] of mod.add) {
    if (name === 'host') head[':authority'] = value;
    else if (name.charCodeAt(0) !== 58) appendField(head, name, value);
  }
}

/** Appends flat [name, value, ...] fields (e.g. a lease's sticky-session cookie). */
export function appendFields(head: OutgoingHttpHeaders, fields: readonly string[]): void {
  for (let i = 0; i + 1 < fields.length; i += 2) appendField(head, fields[i] as string, fields[i + 1] as string);
}

/**
 * A traced request's head: the caller's trace fields (TRACE_HEADERS) removed and this hop's
 * (`hopHeaders`, flat [name, value, ...], one of each name) set, in place. Only while tracing is on.
 */
export function replaceTraceFields(head: OutgoingHttpHeaders, fields: readonly string[]): void {
  for (const name of TRACE_HEADERS) if (head[name] !== undefined) delete head[name];
  for (let i = 0; i + 1 < fields.length; i += 2) head[fields[i] as string] = fields[i + 1] as string;
}

/** Applies a URLRewrite in place: `:path` (query kept) and `:authority`. */
export function rewriteHead(head: OutgoingHttpHeaders, rewrite: CompiledUrlRewrite, matchedPrefix: string | undefined): void {
  const target = head[':path'];
  if (rewrite.path !== undefined && typeof target === 'string') {
    const { path, rest } = splitTarget(target);
    head[':path'] = rewritePath(path, rewrite.path, matchedPrefix) + rest;
  }
  if (rewrite.hostname !== undefined) head[':authority'] = rewrite.hostname;
}

/**
 * The authority a mirrored request carries: the host with `-shadow` appended, before any port
 * (as Envoy does), so the mirror can tell shadow traffic apart and the port stays valid.
 */
export function shadowAuthority(authority: string): string {
  const colon = authority.lastIndexOf(':');
  const bracket = authority.lastIndexOf(']');
  if (colon > bracket && /^\d+$/.test(authority.slice(colon + 1))) {
    return `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
  }
  return `${authority}-shadow`;
}
