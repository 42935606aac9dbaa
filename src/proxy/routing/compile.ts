import type {
  GrpcRouteConfig,
  GrpcRouteRuleConfig,
  HeaderModifierConfig,
  HttpRouteConfig,
  HttpRouteRuleConfig,
  PathModifierConfig,
  RouteConfig,
  RouteFilterConfig,
  RouteTableConfig,
  ValueMatchConfig,
  WeightedBackendConfig,
} from '../../api/snapshot.js';
import { compileRouteRegex } from './regex.js';
import type { RouteRegex } from './regex.js';
import { buildHostIndex } from './hosts.js';
import { RouteTable } from './table.js';
import type { GrpcCandidate, HttpCandidate, ValueMatcher } from './table.js';
import { PathKind } from './types.js';
import { hostnameProblem } from '../../util/hostname.js';
import type {
  CompiledBackend,
  CompiledFault,
  CompiledFilters,
  CompiledHeaderModifier,
  CompiledMirror,
  CompiledPathModifier,
  CompiledRedirect,
  CompiledRule,
  CompiledUrlRewrite,
  RouteConfigError,
  RouteMatch,
} from './types.js';

export type CompileResult = { ok: true; table: RouteTable } | { ok: false; errors: RouteConfigError[] };

export interface CompileOptions {
  /**
   * Cluster names this proxy knows. When given, a backend naming another cluster is kept but
   * marked invalid: the share of requests it would get is answered 500 (Gateway API).
   */
  knownClusters?: ReadonlySet<string>;
}

/** Gateway API limit for backendRef weights. */
export const MAX_WEIGHT = 1_000_000;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Validates a route table and compiles it for `route()`. Never throws on bad input: every
 * problem comes back with its field path. Precedence (Gateway API, HTTPRoute), computed here by
 * bucketing by hostname (hosts.ts: an exact hostname match, then the longest wildcard, then
 * routes without hostnames) and sorting every match of every rule of every route:
 *   1. Exact path over PathPrefix over RegularExpression;
 *   2. the longest path (Exact/PathPrefix characters);
 *   3. a method match;
 *   4. the most header matches;
 *   5. the most query-parameter matches;
 *   6. the oldest route (createdAt), then `<namespace>/<name>` alphabetically;
 *   7. within a route, the first rule in list order (then the first match).
 * GRPCRoute: most characters of an exact service, then of an exact method, then most header
 * matches, then 6 and 7.
 */
export function compileRouteTable(config: RouteTableConfig, options: CompileOptions = {}): CompileResult {
  try {
    return compile(config, options);
  } catch (err) {
    // Input of the wrong shape (e.g. null where an object belongs) that the checks below missed.
    return { ok: false, errors: [{ path: 'routes', message: `malformed route table: ${(err as Error).message}` }] };
  }
}

function compile(config: RouteTableConfig, options: CompileOptions): CompileResult {
  const errors: RouteConfigError[] = [];
  const err = (path: string, message: string): void => {
    errors.push({ path, message });
  };
  const rules: CompiledRule[] = [];
  const http: (HttpCandidate & Keys)[] = [];
  const grpc: (GrpcCandidate & Keys)[] = [];
  const seen = new Set<string>();

  if (!Array.isArray(config.routes)) {
    return { ok: false, errors: [{ path: 'routes', message: 'must be an array' }] };
  }
  config.routes.forEach((route: RouteConfig, ri) => {
    const rp = `routes[${ri}]`;
    const key = `${route.namespace}/${route.name}`;
    if (typeof route.name !== 'string' || route.name === '') err(`${rp}.name`, 'must be a non-empty string');
    if (seen.has(`${route.kind}:${key}`)) err(`${rp}.name`, `duplicate ${route.kind} "${key}"`);
    seen.add(`${route.kind}:${key}`);
    if (!Number.isFinite(route.createdAt)) err(`${rp}.createdAt`, 'must be a number (epoch ms)');
    if (route.hostnames !== undefined) {
      if (!Array.isArray(route.hostnames)) err(`${rp}.hostnames`, 'must be an array');
      else {
        route.hostnames.forEach((h, hi) => {
          const problem = hostnameProblem(h, { wildcard: true });
          if (problem !== undefined) err(`${rp}.hostnames[${hi}]`, problem);
        });
      }
    }
    if (route.kind !== 'HTTPRoute' && route.kind !== 'GRPCRoute') {
      err(`${rp}.kind`, 'must be HTTPRoute or GRPCRoute');
      return;
    }
    if (!Array.isArray(route.rules) || route.rules.length === 0) {
      err(`${rp}.rules`, 'must have at least one rule');
      return;
    }
    route.rules.forEach((ruleCfg, ii) => {
      const p = `${rp}.rules[${ii}]`;
      const filters = compileFilters(ruleCfg.filters ?? [], `${p}.filters`, route.kind, err);
      const backends = compileBackends(ruleCfg.backends ?? [], `${p}.backends`, options, err);
      if (backends.all.length === 0 && filters.redirect === undefined) {
        err(`${p}.backends`, 'a rule needs at least one backend or a RequestRedirect filter');
      }
      const requestMs = ruleCfg.timeouts?.requestMs ?? 0;
      const backendRequestMs = ruleCfg.timeouts?.backendRequestMs ?? 0;
      if (!isNonNegInt(requestMs)) err(`${p}.timeouts.requestMs`, 'must be a non-negative integer');
      if (!isNonNegInt(backendRequestMs)) err(`${p}.timeouts.backendRequestMs`, 'must be a non-negative integer');
      if (requestMs > 0 && backendRequestMs > requestMs) {
        err(`${p}.timeouts.backendRequestMs`, 'must not exceed requestMs');
      }
      const retry = ruleCfg.retry;
      if (retry !== undefined) {
        if (!Array.isArray(retry.codes) || retry.codes.some((c) => !Number.isInteger(c) || c < 400 || c > 599)) {
          err(`${p}.retry.codes`, 'must be HTTP statuses 400..599');
        }
        if (retry.grpcCodes !== undefined && (!Array.isArray(retry.grpcCodes) || retry.grpcCodes.some((c) => !Number.isInteger(c) || c < 1 || c > 16))) {
          err(`${p}.retry.grpcCodes`, 'must be gRPC status codes 1..16');
        }
        if (!isNonNegInt(retry.attempts)) err(`${p}.retry.attempts`, 'must be a non-negative integer');
        if (!isNonNegInt(retry.backoffMs)) err(`${p}.retry.backoffMs`, 'must be a non-negative integer');
      }
      const cumulative = new Float64Array(backends.positive.length);
      let total = 0;
      backends.positive.forEach((b, i) => {
        total += b.weight;
        cumulative[i] = total;
      });
      const rule: CompiledRule = {
        kind: route.kind,
        route: key,
        index: ii,
        name: ruleCfg.name,
        filters,
        backends: backends.positive,
        cumulative,
        totalWeight: total,
        timeouts: { requestMs, backendRequestMs },
        retry:
          retry === undefined
            ? undefined
            : { codes: [...retry.codes], ...(retry.grpcCodes !== undefined ? { grpcCodes: [...retry.grpcCodes] } : {}), attempts: retry.attempts, backoffMs: retry.backoffMs },
      };
      rules.push(rule);
      if (route.kind === 'HTTPRoute') {
        compileHttpMatches(route, (ruleCfg as HttpRouteRuleConfig).matches ?? [], rule, ri, ii, p, err, http);
      } else {
        compileGrpcMatches(route, (ruleCfg as GrpcRouteRuleConfig).matches ?? [], rule, ri, ii, p, err, grpc);
      }
    });
  });
  if (errors.length > 0) return { ok: false, errors };
  http.sort(compareHttp);
  grpc.sort(compareGrpc);
  const hostnamesOf = (c: Keys): readonly string[] | undefined => c.hostnames;
  return {
    ok: true,
    table: new RouteTable(rules, buildHostIndex(http, hostnamesOf, stripKeys), buildHostIndex(grpc, hostnamesOf, stripKeys)),
  };
}

type Err = (path: string, message: string) => void;

/** Tie-breakers shared by both kinds (not used after sorting). */
interface Keys {
  /** The route's hostnames (absent or empty: any host); used to bucket, not to sort. */
  hostnames: readonly string[] | undefined;
  createdAt: number;
  routeKey: string;
  ruleIndex: number;
  matchIndex: number;
  // GRPC only
  serviceChars?: number;
  methodChars?: number;
}

function stripKeys<T extends Keys>(c: T): Omit<T, keyof Keys> {
  const { hostnames: _h, createdAt: _a, routeKey: _b, ruleIndex: _c, matchIndex: _d, serviceChars: _e, methodChars: _f, ...rest } = c;
  return rest;
}

function compareTail(a: Keys, b: Keys): number {
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  if (a.routeKey !== b.routeKey) return a.routeKey < b.routeKey ? -1 : 1;
  if (a.ruleIndex !== b.ruleIndex) return a.ruleIndex - b.ruleIndex;
  return a.matchIndex - b.matchIndex;
}

export function compareHttp(a: HttpCandidate & Keys, b: HttpCandidate & Keys): number {
  if (a.pathKind !== b.pathKind) return a.pathKind - b.pathKind;
  if (a.pathValue.length !== b.pathValue.length) return b.pathValue.length - a.pathValue.length;
  const am = a.method !== undefined ? 1 : 0;
  const bm = b.method !== undefined ? 1 : 0;
  if (am !== bm) return bm - am;
  if (a.headers.length !== b.headers.length) return b.headers.length - a.headers.length;
  if (a.query.length !== b.query.length) return b.query.length - a.query.length;
  return compareTail(a, b);
}

function compareGrpc(a: GrpcCandidate & Keys, b: GrpcCandidate & Keys): number {
  const s = (b.serviceChars ?? 0) - (a.serviceChars ?? 0);
  if (s !== 0) return s;
  const m = (b.methodChars ?? 0) - (a.methodChars ?? 0);
  if (m !== 0) return m;
  if (a.headers.length !== b.headers.length) return b.headers.length - a.headers.length;
  return compareTail(a, b);
}

function makeResult(rule: CompiledRule, matchedPrefix: string | undefined, method?: string): RouteMatch {
  return Object.freeze({ rule, route: rule.route, filters: rule.filters, matchedPrefix, method });
}

function compileHttpMatches(
  route: HttpRouteConfig,
  matches: NonNullable<HttpRouteConfig['rules'][number]['matches']>,
  rule: CompiledRule,
  _ri: number,
  ii: number,
  p: string,
  err: Err,
  out: (HttpCandidate & Keys)[],
): void {
  const list = matches.length === 0 ? [{}] : matches;
  const f = rule.filters;
  const prefixRewrite =
    f.rewrite?.path?.type === 'ReplacePrefixMatch' || f.redirect?.path?.type === 'ReplacePrefixMatch';
  list.forEach((m, mi) => {
    const mp = `${p}.matches[${mi}]`;
    let pathKind: PathKind = PathKind.Prefix;
    let pathValue = '';
    let pathRegex: RouteRegex | undefined;
    if (m.path !== undefined) {
      const v = m.path.value;
      if (typeof v !== 'string') err(`${mp}.path.value`, 'must be a string');
      else if (m.path.type === 'Exact' || m.path.type === 'PathPrefix') {
        if (!v.startsWith('/')) err(`${mp}.path.value`, 'must start with "/"');
        else if (/[?#\s]/.test(v)) err(`${mp}.path.value`, 'must not contain "?", "#" or whitespace');
        pathKind = m.path.type === 'Exact' ? PathKind.Exact : PathKind.Prefix;
        pathValue = m.path.type === 'Exact' ? v : v.replace(/\/+$/, '');
      } else if (m.path.type === 'RegularExpression') {
        const r = compileRouteRegex(v);
        if (r.ok) pathRegex = r.regex;
        else err(`${mp}.path.value`, r.message);
        pathKind = PathKind.Regex;
        pathValue = v;
      } else err(`${mp}.path.type`, 'must be Exact, PathPrefix or RegularExpression');
    }
    if (prefixRewrite && pathKind !== PathKind.Prefix) {
      err(`${mp}.path.type`, 'ReplacePrefixMatch needs a PathPrefix match');
    }
    if (m.method !== undefined && (typeof m.method !== 'string' || !/^[A-Z]+$/.test(m.method))) {
      err(`${mp}.method`, 'must be an upper-case HTTP method');
    }
    const headers = compileValueMatchers(m.headers ?? [], `${mp}.headers`, true, err);
    const query = compileValueMatchers(m.queryParams ?? [], `${mp}.queryParams`, false, err);
    out.push({
      result: makeResult(rule, pathKind === PathKind.Prefix ? pathValue : undefined, m.method),
      pathKind,
      pathValue,
      pathRegex,
      method: m.method,
      headers,
      query,
      hostnames: route.hostnames,
      createdAt: route.createdAt,
      routeKey: `${route.namespace}/${route.name}`,
      ruleIndex: ii,
      matchIndex: mi,
    });
  });
}

function compileGrpcMatches(
  route: GrpcRouteConfig,
  matches: NonNullable<GrpcRouteConfig['rules'][number]['matches']>,
  rule: CompiledRule,
  _ri: number,
  ii: number,
  p: string,
  err: Err,
  out: (GrpcCandidate & Keys)[],
): void {
  const list = matches.length === 0 ? [{}] : matches;
  list.forEach((m, mi) => {
    const mp = `${p}.matches[${mi}]`;
    let service: ValueMatcher | undefined;
    let method: ValueMatcher | undefined;
    let serviceChars = 0;
    let methodChars = 0;
    if (m.method !== undefined) {
      const type = m.method.type ?? 'Exact';
      if (m.method.service === undefined && m.method.method === undefined) {
        err(`${mp}.method`, 'needs service, method or both');
      }
      if (type !== 'Exact' && type !== 'RegularExpression') err(`${mp}.method.type`, 'must be Exact or RegularExpression');
      for (const field of ['service', 'method'] as const) {
        const v = m.method[field];
        if (v === undefined) continue;
        const fp = `${mp}.method.${field}`;
        if (typeof v !== 'string' || v === '') {
          err(fp, 'must be a non-empty string');
          continue;
        }
        let vm: ValueMatcher;
        if (type === 'Exact') {
          if (v.includes('/')) err(fp, 'must not contain "/"');
          vm = { name: field, exact: v, regex: undefined };
          if (field === 'service') serviceChars = v.length;
          else methodChars = v.length;
        } else {
          const r = compileRouteRegex(v);
          if (!r.ok) err(fp, r.message);
          vm = { name: field, exact: undefined, regex: r.ok ? r.regex : undefined };
        }
        if (field === 'service') service = vm;
        else method = vm;
      }
    }
    const headers = compileValueMatchers(m.headers ?? [], `${mp}.headers`, true, err);
    out.push({
      result: makeResult(rule, undefined),
      service,
      method,
      headers,
      hostnames: route.hostnames,
      createdAt: route.createdAt,
      routeKey: `${route.namespace}/${route.name}`,
      ruleIndex: ii,
      matchIndex: mi,
      serviceChars,
      methodChars,
    });
  });
}

function compileValueMatchers(list: ValueMatchConfig[], p: string, header: boolean, err: Err): ValueMatcher[] {
  const out: ValueMatcher[] = [];
  const names = new Set<string>();
  list.forEach((m, i) => {
    const mp = `${p}[${i}]`;
    if (typeof m.name !== 'string' || m.name === '' || (header && !HEADER_NAME.test(m.name))) {
      err(`${mp}.name`, header ? 'must be a valid header name' : 'must be a non-empty string');
      return;
    }
    const name = header ? m.name.toLowerCase() : m.name;
    // Gateway API: only the first entry with an equivalent name counts.
    if (names.has(name)) return;
    names.add(name);
    if (typeof m.value !== 'string') {
      err(`${mp}.value`, 'must be a string');
      return;
    }
    const type = m.type ?? 'Exact';
    if (type === 'Exact') out.push({ name, exact: m.value, regex: undefined });
    else if (type === 'RegularExpression') {
      const r = compileRouteRegex(m.value);
      if (r.ok) out.push({ name, exact: undefined, regex: r.regex });
      else err(`${mp}.value`, r.message);
    } else err(`${mp}.type`, 'must be Exact or RegularExpression');
  });
  return out;
}

function compileBackends(
  list: WeightedBackendConfig[],
  p: string,
  options: CompileOptions,
  err: Err,
): { all: CompiledBackend[]; positive: CompiledBackend[] } {
  const all: CompiledBackend[] = [];
  if (!Array.isArray(list)) {
    err(p, 'must be an array');
    return { all, positive: [] };
  }
  list.forEach((b, i) => {
    const weight = b.weight ?? 1;
    if (!Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT) {
      err(`${p}[${i}].weight`, `must be an integer 0..${MAX_WEIGHT}`);
    }
    if (typeof b.cluster !== 'string' || b.cluster === '') err(`${p}[${i}].cluster`, 'must be a cluster name');
    const valid = options.knownClusters === undefined || options.knownClusters.has(b.cluster);
    all.push(Object.freeze({ cluster: b.cluster, weight, valid }));
  });
  return { all, positive: all.filter((b) => b.weight > 0) };
}

function compileFilters(list: RouteFilterConfig[], p: string, kind: RouteConfig['kind'], err: Err): CompiledFilters {
  let requestHeaders: CompiledHeaderModifier | undefined;
  let responseHeaders: CompiledHeaderModifier | undefined;
  let redirect: CompiledRedirect | undefined;
  let rewrite: CompiledUrlRewrite | undefined;
  let fault: CompiledFault | undefined;
  const mirrors: CompiledMirror[] = [];
  const once = (fp: string, prev: unknown): boolean => {
    if (prev !== undefined) err(fp, 'this filter type may appear only once per rule');
    return prev === undefined;
  };
  if (!Array.isArray(list)) {
    err(p, 'must be an array');
    list = [];
  }
  list.forEach((f, i) => {
    const fp = `${p}[${i}]`;
    switch (f.type) {
      case 'RequestHeaderModifier':
        if (once(fp, requestHeaders)) requestHeaders = compileHeaderModifier(f.requestHeaderModifier, `${fp}.requestHeaderModifier`, err);
        break;
      case 'ResponseHeaderModifier':
        if (once(fp, responseHeaders)) responseHeaders = compileHeaderModifier(f.responseHeaderModifier, `${fp}.responseHeaderModifier`, err);
        break;
      case 'RequestRedirect': {
        if (!once(fp, redirect)) break;
        if (kind === 'GRPCRoute') err(fp, 'GRPCRoute has no RequestRedirect');
        const r = f.requestRedirect ?? {};
        const statusCode = r.statusCode ?? 302;
        if (statusCode !== 301 && statusCode !== 302) err(`${fp}.requestRedirect.statusCode`, 'must be 301 or 302');
        if (r.port !== undefined && (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535)) {
          err(`${fp}.requestRedirect.port`, 'must be 1..65535');
        }
        if (r.scheme !== undefined && r.scheme !== 'http' && r.scheme !== 'https') {
          err(`${fp}.requestRedirect.scheme`, 'must be http or https');
        }
        if (r.hostname !== undefined) checkHostname(r.hostname, `${fp}.requestRedirect.hostname`, err);
        redirect = Object.freeze({
          scheme: r.scheme,
          hostname: r.hostname,
          path: compilePathModifier(r.path, `${fp}.requestRedirect.path`, err),
          port: r.port,
          statusCode,
        });
        break;
      }
      case 'URLRewrite': {
        if (!once(fp, rewrite)) break;
        if (kind === 'GRPCRoute') err(fp, 'GRPCRoute has no URLRewrite');
        const r = f.urlRewrite ?? {};
        if (r.hostname !== undefined) checkHostname(r.hostname, `${fp}.urlRewrite.hostname`, err);
        rewrite = Object.freeze({ hostname: r.hostname, path: compilePathModifier(r.path, `${fp}.urlRewrite.path`, err) });
        break;
      }
      case 'RequestMirror': {
        const m = f.requestMirror;
        const percent = m?.percent ?? 100;
        if (typeof m?.cluster !== 'string' || m.cluster === '') err(`${fp}.requestMirror.cluster`, 'must be a cluster name');
        if (!isPercent(percent)) err(`${fp}.requestMirror.percent`, 'must be 0..100');
        mirrors.push(Object.freeze({ cluster: m?.cluster ?? '', percent }));
        break;
      }
      case 'Fault': {
        if (!once(fp, fault)) break;
        const d = f.fault?.delay;
        const a = f.fault?.abort;
        if (d !== undefined) {
          if (!isNonNegInt(d.ms)) err(`${fp}.fault.delay.ms`, 'must be a non-negative integer');
          if (!isPercent(d.percent)) err(`${fp}.fault.delay.percent`, 'must be 0..100');
        }
        if (a !== undefined) {
          if (!Number.isInteger(a.status) || a.status < 200 || a.status > 599) err(`${fp}.fault.abort.status`, 'must be 200..599');
          if (!isPercent(a.percent)) err(`${fp}.fault.abort.percent`, 'must be 0..100');
        }
        if (d === undefined && a === undefined) err(`${fp}.fault`, 'needs delay, abort or both');
        fault = Object.freeze({
          delay: d === undefined ? undefined : Object.freeze({ ms: d.ms, percent: d.percent }),
          abort: a === undefined ? undefined : Object.freeze({ status: a.status, percent: a.percent }),
        });
        break;
      }
      default:
        err(`${fp}.type`, `unknown filter type "${String((f as { type?: unknown }).type)}"`);
    }
  });
  if (redirect !== undefined && rewrite !== undefined) err(p, 'RequestRedirect and URLRewrite cannot be used together');
  return Object.freeze({ requestHeaders, responseHeaders, redirect, rewrite, mirrors: Object.freeze(mirrors), fault });
}

function compileHeaderModifier(m: HeaderModifierConfig | undefined, p: string, err: Err): CompiledHeaderModifier {
  const owner = new Map<string, string>();
  const claim = (name: string, where: string): string => {
    const lower = typeof name === 'string' ? name.toLowerCase() : '';
    if (!HEADER_NAME.test(lower)) err(where, 'must be a valid header name');
    const prev = owner.get(lower);
    if (prev !== undefined) err(where, `header "${lower}" already named in ${prev}`);
    owner.set(lower, where);
    return lower;
  };
  const pairs = (list: { name: string; value: string }[] | undefined, field: string): [string, string][] =>
    (list ?? []).map((h, i) => {
      if (typeof h.value !== 'string' || !HEADER_VALUE.test(h.value)) err(`${p}.${field}[${i}].value`, 'must be a valid header value');
      return [claim(h.name, `${p}.${field}[${i}].name`), h.value];
    });
  const set = pairs(m?.set, 'set');
  const add = pairs(m?.add, 'add');
  const remove = new Set((m?.remove ?? []).map((n, i) => claim(n, `${p}.remove[${i}]`)));
  if (set.length + add.length + remove.size === 0) err(p, 'needs set, add or remove');
  return Object.freeze({ set, add, remove });
}

function compilePathModifier(m: PathModifierConfig | undefined, p: string, err: Err): CompiledPathModifier | undefined {
  if (m === undefined) return undefined;
  if (m.type === 'ReplaceFullPath') {
    if (typeof m.replaceFullPath !== 'string' || !m.replaceFullPath.startsWith('/')) {
      err(`${p}.replaceFullPath`, 'must start with "/"');
    }
    return Object.freeze({ type: 'ReplaceFullPath', value: m.replaceFullPath });
  }
  if (m.type === 'ReplacePrefixMatch') {
    const v = m.replacePrefixMatch;
    if (typeof v !== 'string' || (v !== '' && !v.startsWith('/'))) err(`${p}.replacePrefixMatch`, 'must be empty or start with "/"');
    return Object.freeze({ type: 'ReplacePrefixMatch', value: typeof v === 'string' ? v.replace(/\/+$/, '') : '' });
  }
  err(`${p}.type`, 'must be ReplaceFullPath or ReplacePrefixMatch');
  return undefined;
}

function checkHostname(h: string, p: string, err: Err): void {
  const problem = hostnameProblem(h, { wildcard: false });
  if (problem !== undefined) err(p, problem);
}

function isNonNegInt(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0;
}

function isPercent(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 && n <= 100;
}
