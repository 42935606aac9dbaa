import type { CompiledHeaderModifier, CompiledPathModifier, CompiledRedirect, CompiledUrlRewrite, RouteMatch } from './types.js';

/**
 * Request/response edits on the flat [name, value, ...] header arrays of the HTTP/1 forwarder
 * (lower-cased names) and on request targets. Run only for rules that have the filter.
 */

/**
 * Applies a header modifier and returns a new array (the input is not changed):
 * - set: the first field with the name takes the value in place, later ones are dropped;
 *   absent -> appended (in `set` order);
 * - add: appended as new fields after everything else (in `add` order);
 * - remove: every field with the name is dropped.
 * A name appears in at most one of set/add/remove (validated at compile time).
 */
export function applyHeaderModifier(headers: readonly string[], mod: CompiledHeaderModifier): string[] {
  const out: string[] = [];
  let done: boolean[] | undefined;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    const name = headers[i] as string;
    if (mod.remove.has(name)) continue;
    const s = indexOfSet(mod, name);
    if (s >= 0) {
      done ??= new Array<boolean>(mod.set.length).fill(false);
      if (done[s] === true) continue;
      done[s] = true;
      out.push(name, (mod.set[s] as readonly [string, string])[1]);
      continue;
    }
    out.push(name, headers[i + 1] as string);
  }
  for (let s = 0; s < mod.set.length; s++) {
    if (done?.[s] !== true) {
      const [n, v] = mod.set[s] as readonly [string, string];
      out.push(n, v);
    }
  }
  for (const [n, v] of mod.add) out.push(n, v);
  return out;
}

function indexOfSet(mod: CompiledHeaderModifier, name: string): number {
  for (let i = 0; i < mod.set.length; i++) if ((mod.set[i] as readonly [string, string])[0] === name) return i;
  return -1;
}

/** Splits a target into path and the rest (`?query`, kept as is). Absolute-form keeps only its path. */
export function splitTarget(target: string): { path: string; rest: string } {
  let start = 0;
  if (!target.startsWith('/')) {
    const scheme = target.indexOf('://');
    start = scheme < 0 ? target.length : target.indexOf('/', scheme + 3);
    if (start < 0) start = target.length;
  }
  let end = target.indexOf('?', start);
  if (end < 0) end = target.length;
  const path = start === end ? '/' : target.slice(start, end);
  return { path, rest: target.slice(end) };
}

/**
 * The new path for a path modifier. ReplacePrefixMatch follows the Gateway API table:
 * the matched prefix (compared without its trailing slash) is replaced by the replacement
 * (without its trailing slash), the remainder keeps its leading "/", and "" becomes "/".
 * E.g. prefix /foo, replacement /bar: /foo -> /bar, /foo/ -> /bar/, /foo/x -> /bar/x;
 * replacement "" or "/": /foo/x -> /x, /foo -> /.
 */
export function rewritePath(path: string, mod: CompiledPathModifier, matchedPrefix: string | undefined): string {
  if (mod.type === 'ReplaceFullPath') return mod.value;
  const prefix = matchedPrefix ?? '';
  const rest = path.startsWith(prefix) ? path.slice(prefix.length) : path;
  const out = mod.value + rest;
  return out === '' ? '/' : out;
}

export interface RewrittenRequest {
  /** Origin-form target: rewritten path + original query. */
  target: string;
  /** Headers with `host` replaced when the rewrite sets a hostname (else the input array). */
  headers: readonly string[];
  host: string | undefined;
}

/** Applies a URLRewrite filter to a request as the HTTP/1 forwarder holds it. */
export function applyUrlRewrite(
  target: string,
  host: string | undefined,
  headers: readonly string[],
  rewrite: CompiledUrlRewrite,
  match: RouteMatch,
): RewrittenRequest {
  let outTarget = target;
  if (rewrite.path !== undefined) {
    const { path, rest } = splitTarget(target);
    outTarget = rewritePath(path, rewrite.path, match.matchedPrefix) + rest;
  }
  if (rewrite.hostname === undefined) return { target: outTarget, headers, host };
  const out: string[] = [];
  let replaced = false;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i] === 'host') {
      if (replaced) continue;
      replaced = true;
      out.push('host', rewrite.hostname);
    } else out.push(headers[i] as string, headers[i + 1] as string);
  }
  if (!replaced) out.push('host', rewrite.hostname);
  return { target: outTarget, headers: out, host: rewrite.hostname };
}

/**
 * The Location for a RequestRedirect. Unset parts come from the request: scheme (`requestScheme`,
 * "http" in the mesh), host (without its port), path; the port is omitted when it is the
 * scheme's default; a scheme change without a port drops the request's port (Gateway API).
 */
export function redirectLocation(
  target: string,
  host: string | undefined,
  redirect: CompiledRedirect,
  match: RouteMatch,
  requestScheme: 'http' | 'https' = 'http',
): string {
  const scheme = redirect.scheme ?? requestScheme;
  const { hostname: reqHost, port: reqPort } = splitHost(host ?? '');
  const hostname = redirect.hostname ?? reqHost;
  let port = redirect.port;
  if (port === undefined && redirect.scheme === undefined && reqPort !== undefined) port = reqPort;
  const defaultPort = scheme === 'https' ? 443 : 80;
  const portPart = port === undefined || port === defaultPort ? '' : `:${port}`;
  const { path, rest } = splitTarget(target);
  const newPath = redirect.path === undefined ? path : rewritePath(path, redirect.path, match.matchedPrefix);
  return `${scheme}://${hostname}${portPart}${newPath}${rest}`;
}

function splitHost(host: string): { hostname: string; port: number | undefined } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host);
  if (m === null) return { hostname: host, port: undefined };
  return { hostname: m[1] as string, port: m[2] === undefined ? undefined : Number(m[2]) };
}
