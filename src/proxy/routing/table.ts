import { PathKind } from './types.js';
import type { CompiledRule, RouteMatch } from './types.js';
import { firstHeader } from '../../util/flat-headers.js';

/**
 * The hot path: one linear scan over candidates sorted by Gateway API precedence at compile
 * time, so the first candidate that matches wins. A candidate is one match of one rule; its
 * `result` is built at compile time too, so `route()` returns a shared object and allocates
 * nothing for Exact / PathPrefix / method / exact header matches. Regex path matches and query
 * parameters cost one substring per request (taken lazily, once).
 */

export interface ValueMatcher {
  /** Header names lower-cased; query names as configured. */
  readonly name: string;
  readonly exact: string | undefined;
  readonly regex: RegExp | undefined;
}

export interface HttpCandidate {
  readonly result: RouteMatch;
  readonly pathKind: PathKind;
  /** Exact: the path; Prefix: normalised (no trailing slash, "/" -> ""). */
  readonly pathValue: string;
  readonly pathRegex: RegExp | undefined;
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

// Bounds of the path in the current target (module-level: route() is synchronous, no allocation).
let pStart = 0;
let pEnd = 0;
let pTarget = '';

/** Sets pTarget/pStart/pEnd to the path of `target` (origin- or absolute-form, query excluded). */
function locatePath(target: string): void {
  let start = 0;
  if (target.charCodeAt(0) !== 0x2f /* / */) {
    const scheme = target.indexOf('://');
    start = scheme < 0 ? target.length : target.indexOf('/', scheme + 3);
    if (start < 0) start = target.length;
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
  return m.exact !== undefined ? value === m.exact : (m.regex as RegExp).test(value);
}

/** Any field with the name whose value matches (repeated fields are not joined). */
function matchHeader(m: ValueMatcher, headers: readonly string[]): boolean {
  for (let i = 0; i + 1 < headers.length; i += 2) {
    if (headers[i] === m.name && matchValue(m, headers[i + 1] as string)) return true;
  }
  return false;
}

/** First occurrence of the query parameter (name compared as received), value percent-decoded. */
function matchQuery(m: ValueMatcher, target: string, qStart: number): boolean {
  let i = qStart;
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
      return (c.pathRegex as RegExp).test(pTarget.slice(pStart, pEnd));
  }
}

export class RouteTable {
  readonly rules: readonly CompiledRule[];
  private readonly http: readonly HttpCandidate[];
  private readonly grpc: readonly GrpcCandidate[];

  constructor(rules: readonly CompiledRule[], http: readonly HttpCandidate[], grpc: readonly GrpcCandidate[]) {
    this.rules = rules;
    this.http = http;
    this.grpc = grpc;
  }

  /**
   * The winning rule for a request, or null (no route matches: the caller answers 404).
   * `headers`: flat [name, value, ...] with lower-cased names, as `RequestInfo.headers`.
   * gRPC requests (content-type application/grpc*) try GRPCRoute rules first, then HTTPRoute
   * rules; other requests only HTTPRoute rules.
   */
  route(method: string, target: string, headers: readonly string[]): RouteMatch | null {
    locatePath(target);
    if (this.grpc.length > 0 && isGrpc(headers)) {
      const g = this.routeGrpc(headers);
      if (g !== null) return g;
    }
    const list = this.http;
    let qStart = -2; // -2: not looked up yet; -1: no query
    for (let i = 0; i < list.length; i++) {
      const c = list[i] as HttpCandidate;
      if (c.method !== undefined && c.method !== method) continue;
      if (!pathMatches(c)) continue;
      let ok = true;
      for (let h = 0; h < c.headers.length && ok; h++) ok = matchHeader(c.headers[h] as ValueMatcher, headers);
      if (!ok) continue;
      if (c.query.length > 0) {
        if (qStart === -2) {
          const q = target.indexOf('?');
          qStart = q < 0 ? -1 : q + 1;
        }
        if (qStart === -1) continue;
        for (let q = 0; q < c.query.length && ok; q++) ok = matchQuery(c.query[q] as ValueMatcher, target, qStart);
        if (!ok) continue;
      }
      return c.result;
    }
    return null;
  }

  private routeGrpc(headers: readonly string[]): RouteMatch | null {
    // gRPC path: /<service>/<method>, exactly two non-empty segments.
    if (pTarget.charCodeAt(pStart) !== 0x2f) return null;
    const slash = pTarget.indexOf('/', pStart + 1);
    if (slash < 0 || slash >= pEnd - 1 || slash === pStart + 1) return null;
    if (pTarget.indexOf('/', slash + 1) >= 0 && pTarget.indexOf('/', slash + 1) < pEnd) return null;
    let service: string | undefined;
    let method: string | undefined;
    const list = this.grpc;
    for (let i = 0; i < list.length; i++) {
      const c = list[i] as GrpcCandidate;
      if (c.service !== undefined) {
        const s = c.service;
        if (s.exact !== undefined) {
          if (slash - pStart - 1 !== s.exact.length || !pTarget.startsWith(s.exact, pStart + 1)) continue;
        } else {
          service ??= pTarget.slice(pStart + 1, slash);
          if (!(s.regex as RegExp).test(service)) continue;
        }
      }
      if (c.method !== undefined) {
        const m = c.method;
        if (m.exact !== undefined) {
          if (pEnd - slash - 1 !== m.exact.length || !pTarget.startsWith(m.exact, slash + 1)) continue;
        } else {
          method ??= pTarget.slice(slash + 1, pEnd);
          if (!(m.regex as RegExp).test(method)) continue;
        }
      }
      let ok = true;
      for (let h = 0; h < c.headers.length && ok; h++) ok = matchHeader(c.headers[h] as ValueMatcher, headers);
      if (ok) return c.result;
    }
    return null;
  }
}

function isGrpc(headers: readonly string[]): boolean {
  return firstHeader(headers, 'content-type')?.startsWith('application/grpc') === true;
}
