import { PathKind } from './types.js';
import type { CompiledRule, RouteMatch } from './types.js';
import { normalizeRequestHost, wildcardMatches } from './hosts.js';
import type { HostIndex } from './hosts.js';
import type { RouteRegex } from '../../util/route-regex.js';
import { firstHeader } from '../../util/flat-headers.js';

/**
 * The hot path: candidates sorted by Gateway API precedence at compile time and bucketed by
 * hostname (hosts.ts), so the first candidate that matches wins. A candidate is one match of
 * one rule; its `result` is built at compile time too, so routing returns a shared object and
 * allocates nothing for Exact / PathPrefix / method / exact header matches. A regex path match
 * through `route()` costs one substring (none through `routeNormalized()`), query parameters
 * one per compared value at most, and hostnames one substring when the Host has a port.
 */

export interface ValueMatcher {
  /** Header names lower-cased; query names as configured. */
  readonly name: string;
  readonly exact: string | undefined;
  readonly regex: RouteRegex | undefined;
}

export interface HttpCandidate {
  readonly result: RouteMatch;
  readonly pathKind: PathKind;
  /** Exact: the path; Prefix: normalised (no trailing slash, "/" -> ""). */
  readonly pathValue: string;
  readonly pathRegex: RouteRegex | undefined;
  readonly method: string | undefined;
  readonly headers: readonly ValueMatcher[];
  readonly query: readonly ValueMatcher[];
}

export interface GrpcCandidate {
  readonly result: RouteMatch;
  readonly service: ValueMatcher | undefined;
  readonly method: ValueMatcher | undefined;
  readonly headers: readonly ValueMatcher[];
}

// The request being routed (module-level: routing is synchronous, so no per-request object).
// Path: pTarget[pStart, pEnd). Query: qText from qStart to its end; qStart -1 = no query,
// -2 = not looked up yet (route(): the '?' is searched only if a candidate has query matches).
let pStart = 0;
let pEnd = 0;
let pTarget = '';
let qText = '';
let qStart = -1;

// Authority of an absolute-form target: target[aStart, aEnd), userinfo excluded; -1: none.
let aStart = -1;
let aEnd = 0;

/**
 * Sets pTarget/pStart/pEnd to the path of `target` (origin- or absolute-form, query and
 * fragment excluded; an empty path is "/") and aStart/aEnd to an absolute-form's authority.
 */
function locatePath(target: string): void {
  let start = 0;
  aStart = -1;
  if (target.charCodeAt(0) !== 0x2f /* / */) {
    const scheme = target.indexOf('://');
    if (scheme < 0) {
      start = target.length; // "*" or authority-form: no path
    } else {
      let e = scheme + 3;
      while (e < target.length) {
        const c = target.charCodeAt(e);
        if (c === 0x2f /* / */ || c === 0x3f /* ? */ || c === 0x23 /* # */) break;
        e++;
      }
      const at = target.lastIndexOf('@', e - 1);
      aStart = at >= scheme + 3 ? at + 1 : scheme + 3;
      aEnd = e;
      start = e;
    }
  }
  let end = target.indexOf('?', start);
  if (end < 0) end = target.length;
  const hash = target.indexOf('#', start);
  if (hash >= 0 && hash < end) end = hash;
  if (start === end) {
    // absolute-form without a path, or "*": match as "/"
    pTarget = '/';
    pStart = 0;
    pEnd = 1;
    return;
  }
  pTarget = target;
  pStart = start;
  pEnd = end;
}

function matchValue(m: ValueMatcher, value: string): boolean {
  return m.exact !== undefined ? value === m.exact : (m.regex as RouteRegex).test(value);
}

/** Any field with the name whose value matches (repeated fields are not joined). */
function matchHeader(m: ValueMatcher, headers: readonly string[]): boolean {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i] === m.name && matchValue(m, headers[i + 1] as string)) return true;
  }
  return false;
}

/** First occurrence of the query parameter (name compared as received), value percent-decoded. */
function matchQuery(m: ValueMatcher, target: string, from: number): boolean {
  let i = from;
  const n = m.name;
  while (i < target.length) {
    let amp = target.indexOf('&', i);
    if (amp < 0) amp = target.length;
    if (target.startsWith(n, i)) {
      const after = i + n.length;
      if (after === amp || target.charCodeAt(after) === 0x3d /* = */) {
        const raw = after === amp ? '' : target.slice(after + 1, amp);
        return matchValue(m, decodeQueryValue(raw));
      }
    }
    i = amp + 1;
  }
  return false;
}

function decodeQueryValue(raw: string): string {
  if (raw.indexOf('%') < 0 && raw.indexOf('+') < 0) return raw;
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return raw; // malformed escapes: compare as received rather than throw on the data path
  }
}

function pathMatches(c: HttpCandidate): boolean {
  const len = pEnd - pStart;
  switch (c.pathKind) {
    case PathKind.Exact:
      return len === c.pathValue.length && pTarget.startsWith(c.pathValue, pStart);
    case PathKind.Prefix: {
      const v = c.pathValue;
      if (v.length === 0) return true;
      if (len < v.length || !pTarget.startsWith(v, pStart)) return false;
      return len === v.length || pTarget.charCodeAt(pStart + v.length) === 0x2f;
    }
    default:
      return (c.pathRegex as RouteRegex).test(pStart === 0 && pEnd === pTarget.length ? pTarget : pTarget.slice(pStart, pEnd));
  }
}

export class RouteTable {
  readonly rules: readonly CompiledRule[];
  private readonly http: HostIndex<HttpCandidate>;
  private readonly grpc: HostIndex<GrpcCandidate>;
  private readonly hasGrpc: boolean;

  constructor(rules: readonly CompiledRule[], http: HostIndex<HttpCandidate>, grpc: HostIndex<GrpcCandidate>) {
    this.rules = rules;
    this.http = http;
    this.grpc = grpc;
    this.hasGrpc = grpc.any.length > 0 || grpc.byHost;
  }

  /** True when some route has hostnames: callers that must extract the host can skip it otherwise. */
  get matchesHosts(): boolean {
    return this.http.byHost || this.grpc.byHost;
  }

  /**
   * The winning rule for a request as received, or null (no route matches: the caller answers
   * 404 `no-route`). `target` is the request-target (origin- or absolute-form; the path is
   * compared as received, before `?` and `#`). `headers`: flat [name, value, ...] with
   * lower-cased names, as `RequestInfo.headers`; the host is the absolute-form target's
   * authority, else the `host` field (HTTP/2 callers map `:authority` to `host`).
   * gRPC requests (content-type application/grpc*) try GRPCRoute rules first, then HTTPRoute
   * rules; other requests only HTTPRoute rules.
   */
  route(method: string, target: string, headers: readonly string[]): RouteMatch | null {
    locatePath(target);
    qText = target;
    qStart = -2;
    let rawHost: string | undefined;
    if (this.http.byHost || this.grpc.byHost) rawHost = aStart >= 0 ? target.slice(aStart, aEnd) : firstHeader(headers, 'host');
    return this.dispatch(method, rawHost, headers);
  }

  /**
   * The winning rule for a request whose target the caller has already split and normalized
   * (the pipeline's path normalization), or null (answer 404 `no-route`).
   * - `path`: the decoded and normalized path, without the query (`/` when empty);
   * - `query`: the raw query without the leading `?`, '' when there is none;
   * - `host`: the request's host (Host, `:authority` or the absolute-form authority) as
   *   received, or undefined; port, a trailing dot and case are handled here;
   * - `headers`: flat [name, value, ...] with lower-cased names.
   * Same precedence and gRPC rules as `route()`.
   */
  routeNormalized(method: string, path: string, query: string, host: string | undefined, headers: readonly string[]): RouteMatch | null {
    if (path.length === 0) {
      pTarget = '/';
      pEnd = 1;
    } else {
      pTarget = path;
      pEnd = path.length;
    }
    pStart = 0;
    qText = query;
    qStart = query.length > 0 ? 0 : -1;
    return this.dispatch(method, host, headers);
  }

  private dispatch(method: string, rawHost: string | undefined, headers: readonly string[]): RouteMatch | null {
    const host = rawHost === undefined || !(this.http.byHost || this.grpc.byHost) ? undefined : normalizeRequestHost(rawHost);
    if (this.hasGrpc && isGrpc(headers)) {
      const g = this.byHostGrpc(host, headers);
      if (g !== null) return g;
    }
    return this.byHostHttp(host, method, headers);
  }

  private byHostHttp(host: string | undefined, method: string, headers: readonly string[]): RouteMatch | null {
    const idx = this.http;
    if (idx.byHost && host !== undefined) {
      const exact = idx.exact.get(host);
      if (exact !== undefined) {
        const r = scanHttp(exact, method, headers);
        if (r !== null) return r;
      }
      for (let i = 0; i < idx.wildcards.length; i++) {
        const w = idx.wildcards[i] as (typeof idx.wildcards)[number];
        if (!wildcardMatches(w.suffix, host)) continue;
        const r = scanHttp(w.list, method, headers);
        if (r !== null) return r;
      }
    }
    return scanHttp(idx.any, method, headers);
  }

  private byHostGrpc(host: string | undefined, headers: readonly string[]): RouteMatch | null {
    if (!locateGrpcMethod()) return null;
    const idx = this.grpc;
    if (idx.byHost && host !== undefined) {
      const exact = idx.exact.get(host);
      if (exact !== undefined) {
        const r = scanGrpc(exact, headers);
        if (r !== null) return r;
      }
      for (let i = 0; i < idx.wildcards.length; i++) {
        const w = idx.wildcards[i] as (typeof idx.wildcards)[number];
        if (!wildcardMatches(w.suffix, host)) continue;
        const r = scanGrpc(w.list, headers);
        if (r !== null) return r;
      }
    }
    return scanGrpc(idx.any, headers);
  }
}

function scanHttp(list: readonly HttpCandidate[], method: string, headers: readonly string[]): RouteMatch | null {
  for (let i = 0; i < list.length; i++) {
    const c = list[i] as HttpCandidate;
    if (c.method !== undefined && c.method !== method) continue;
    if (!pathMatches(c)) continue;
    let ok = true;
    for (let h = 0; h < c.headers.length && ok; h++) ok = matchHeader(c.headers[h] as ValueMatcher, headers);
    if (!ok) continue;
    if (c.query.length > 0) {
      if (qStart === -2) {
        const q = qText.indexOf('?');
        qStart = q < 0 ? -1 : q + 1;
      }
      if (qStart === -1) continue;
      for (let q = 0; q < c.query.length && ok; q++) ok = matchQuery(c.query[q] as ValueMatcher, qText, qStart);
      if (!ok) continue;
    }
    return c.result;
  }
  return null;
}

// The gRPC method of the current request: pTarget[pStart + 1, gSlash) is the service,
// pTarget[gSlash + 1, pEnd) the method; the strings are taken lazily, once per request.
let gSlash = 0;
let gService: string | undefined;
let gMethod: string | undefined;

/** gRPC path: /<service>/<method>, exactly two non-empty segments. */
function locateGrpcMethod(): boolean {
  if (pTarget.charCodeAt(pStart) !== 0x2f) return false;
  const slash = pTarget.indexOf('/', pStart + 1);
  if (slash < 0 || slash >= pEnd - 1 || slash === pStart + 1) return false;
  const extra = pTarget.indexOf('/', slash + 1);
  if (extra >= 0 && extra < pEnd) return false;
  gSlash = slash;
  gService = undefined;
  gMethod = undefined;
  return true;
}

function scanGrpc(list: readonly GrpcCandidate[], headers: readonly string[]): RouteMatch | null {
  const slash = gSlash;
  for (let i = 0; i < list.length; i++) {
    const c = list[i] as GrpcCandidate;
    if (c.service !== undefined) {
      const s = c.service;
      if (s.exact !== undefined) {
        if (slash - pStart - 1 !== s.exact.length || !pTarget.startsWith(s.exact, pStart + 1)) continue;
      } else {
        gService ??= pTarget.slice(pStart + 1, slash);
        if (!(s.regex as RouteRegex).test(gService)) continue;
      }
    }
    if (c.method !== undefined) {
      const m = c.method;
      if (m.exact !== undefined) {
        if (pEnd - slash - 1 !== m.exact.length || !pTarget.startsWith(m.exact, slash + 1)) continue;
      } else {
        gMethod ??= pTarget.slice(slash + 1, pEnd);
        if (!(m.regex as RouteRegex).test(gMethod)) continue;
      }
    }
    let ok = true;
    for (let h = 0; h < c.headers.length && ok; h++) ok = matchHeader(c.headers[h] as ValueMatcher, headers);
    if (ok) return c.result;
  }
  return null;
}

function isGrpc(headers: readonly string[]): boolean {
  return firstHeader(headers, 'content-type')?.startsWith('application/grpc') === true;
}
