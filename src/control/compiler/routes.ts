import type { PortSpec } from '../../api/registry.js';
import type { Resource } from '../../api/resources.js';
import type {
  GrpcRouteConfig,
  GrpcRouteMatchConfig,
  GrpcRouteRuleConfig,
  HttpRouteConfig,
  HttpRouteMatchConfig,
  HttpRouteRuleConfig,
  PathModifierConfig,
  RouteConfig,
  RouteFilterConfig,
  RouteRetryConfig,
  RouteTimeoutsConfig,
  WeightedBackendConfig,
} from '../../api/snapshot.js';
import { DEFAULT_RETRY_ATTEMPTS, DEFAULT_RETRY_BACKOFF_MS, grpcRouteSettings } from '../../config/resources/grpc-annotations.js';
import { durationMs, type FaultInjectionSpec, type GRPCRouteSpec, type HTTPRouteSpec } from '../../config/resources/schema.js';
import { backendCluster, createdAt, type ServicePorts, type ServiceRef } from '../resources/refs.js';

/** What a route's references resolve against. */
export interface RouteInputs {
  services: ServicePorts;
  /** `namespace/name` -> FaultInjection spec. */
  faults: ReadonlyMap<string, FaultInjectionSpec>;
}

type HttpRule = HTTPRouteSpec['rules'][number];
type GrpcRule = GRPCRouteSpec['rules'][number];
type AnyFilter = NonNullable<HttpRule['filters']>[number] | NonNullable<GrpcRule['filters']>[number];

/** Gateway API: a filter that cannot be resolved must not be skipped; its requests get a 500. */
const UNRESOLVED_FILTER: RouteFilterConfig = { type: 'Fault', fault: { abort: { status: 500, percent: 100 } } };

/**
 * One stored HTTPRoute or GRPCRoute as the proxy's RouteConfig for one parent port. Backend and
 * mirror clusters that resolve are added to `referenced` (the node needs those clusters too).
 */
export function compileRoute(r: Resource, parentCluster: string, parentPort: PortSpec, inp: RouteInputs, referenced: Set<string>): RouteConfig {
  const ns = r.metadata.namespace;
  const hostnames = (r.spec as { hostnames?: string[] }).hostnames;
  const meta = { namespace: ns, name: r.metadata.name, createdAt: createdAt(r), ...(hostnames !== undefined && hostnames.length > 0 ? { hostnames: [...hostnames] } : {}) };
  const ctx: RuleContext = { ns, parentCluster, parentPort, inp, referenced };
  if (r.kind === 'GRPCRoute') {
    const spec = r.spec as GRPCRouteSpec;
    // Validated at apply time; a stored route from before that check just gets no settings.
    const g = grpcRouteSettings(r.metadata.annotations);
    const settings = g.ok ? g.settings : {};
    const route: GrpcRouteConfig = { kind: 'GRPCRoute', ...meta, rules: spec.rules.map((rule) => grpcRule(rule, ctx, settings.timeouts, settings.retry)) };
    return route;
  }
  const spec = r.spec as HTTPRouteSpec;
  const route: HttpRouteConfig = { kind: 'HTTPRoute', ...meta, rules: spec.rules.map((rule) => httpRule(rule, ctx)) };
  return route;
}

interface RuleContext {
  ns: string;
  parentCluster: string;
  parentPort: PortSpec;
  inp: RouteInputs;
  referenced: Set<string>;
}

function httpRule(rule: HttpRule, ctx: RuleContext): HttpRouteRuleConfig {
  const filters = compileFilters(rule.filters, ctx);
  const out: HttpRouteRuleConfig = {
    ...(rule.name !== undefined ? { name: rule.name } : {}),
    matches: rule.matches.map(httpMatch),
    ...(filters.length > 0 ? { filters } : {}),
    backends: compileBackends(rule.backendRefs, filters, ctx),
  };
  if (rule.timeouts !== undefined) out.timeouts = timeoutsOf(rule.timeouts.request, rule.timeouts.backendRequest);
  if (rule.retry !== undefined) {
    out.retry = {
      codes: [...(rule.retry.codes ?? [])],
      attempts: rule.retry.attempts ?? DEFAULT_RETRY_ATTEMPTS,
      backoffMs: rule.retry.backoff !== undefined ? durationMs(rule.retry.backoff) : DEFAULT_RETRY_BACKOFF_MS,
    };
  }
  return out;
}

function grpcRule(rule: GrpcRule, ctx: RuleContext, timeouts: RouteTimeoutsConfig | undefined, retry: RouteRetryConfig | undefined): GrpcRouteRuleConfig {
  const filters = compileFilters(rule.filters, ctx);
  return {
    ...(rule.name !== undefined ? { name: rule.name } : {}),
    ...(rule.matches !== undefined ? { matches: rule.matches.map(grpcMatch) } : {}),
    ...(filters.length > 0 ? { filters } : {}),
    backends: compileBackends(rule.backendRefs, filters, ctx),
    ...(timeouts !== undefined ? { timeouts: { ...timeouts } } : {}),
    ...(retry !== undefined ? { retry: { ...retry, codes: [...retry.codes], ...(retry.grpcCodes !== undefined ? { grpcCodes: [...retry.grpcCodes] } : {}) } } : {}),
  };
}

function timeoutsOf(request: string | undefined, backendRequest: string | undefined): RouteTimeoutsConfig {
  return {
    ...(request !== undefined ? { requestMs: durationMs(request) } : {}),
    ...(backendRequest !== undefined ? { backendRequestMs: durationMs(backendRequest) } : {}),
  };
}

function httpMatch(m: HttpRule['matches'][number]): HttpRouteMatchConfig {
  return {
    path: { type: m.path.type, value: m.path.value },
    ...(m.headers !== undefined ? { headers: m.headers.map((h) => ({ type: h.type, name: h.name, value: h.value })) } : {}),
    ...(m.queryParams !== undefined ? { queryParams: m.queryParams.map((q) => ({ type: q.type, name: q.name, value: q.value })) } : {}),
    ...(m.method !== undefined ? { method: m.method } : {}),
  };
}

function grpcMatch(m: NonNullable<GrpcRule['matches']>[number]): GrpcRouteMatchConfig {
  const method = m.method;
  return {
    ...(method !== undefined
      ? { method: { type: method.type, ...(method.service !== undefined ? { service: method.service } : {}), ...(method.method !== undefined ? { method: method.method } : {}) } }
      : {}),
    ...(m.headers !== undefined ? { headers: m.headers.map((h) => ({ type: h.type, name: h.name, value: h.value })) } : {}),
  };
}

/**
 * A rule without backends and without a redirect must answer 500 (Gateway API); the proxy wants
 * at least one backend, so such a rule gets its parent cluster with weight 0 (never picked: 500).
 */
function compileBackends(refs: (ServiceRef & { weight: number })[] | undefined, filters: RouteFilterConfig[], ctx: RuleContext): WeightedBackendConfig[] {
  const out = (refs ?? []).map((b) => {
    const resolved = backendCluster(b, ctx.ns, ctx.parentPort, ctx.inp.services);
    if (resolved.found) ctx.referenced.add(resolved.cluster);
    return { cluster: resolved.cluster, weight: b.weight };
  });
  if (out.length === 0 && !filters.some((f) => f.type === 'RequestRedirect')) out.push({ cluster: ctx.parentCluster, weight: 0 });
  return out;
}

function compileFilters(filters: AnyFilter[] | undefined, ctx: RuleContext): RouteFilterConfig[] {
  const out: RouteFilterConfig[] = [];
  let fault = false;
  for (const f of filters ?? []) {
    if (f.type === 'RequestHeaderModifier' && f.requestHeaderModifier !== undefined) out.push({ type: f.type, requestHeaderModifier: f.requestHeaderModifier });
    else if (f.type === 'ResponseHeaderModifier' && f.responseHeaderModifier !== undefined) out.push({ type: f.type, responseHeaderModifier: f.responseHeaderModifier });
    else if (f.type === 'RequestRedirect' && 'requestRedirect' in f && f.requestRedirect !== undefined) {
      const { path, ...rest } = f.requestRedirect;
      out.push({ type: f.type, requestRedirect: { ...rest, ...(path !== undefined ? { path: pathModifier(path) } : {}) } });
    } else if (f.type === 'URLRewrite' && 'urlRewrite' in f && f.urlRewrite !== undefined) {
      const { path, ...rest } = f.urlRewrite;
      out.push({ type: f.type, urlRewrite: { ...rest, ...(path !== undefined ? { path: pathModifier(path) } : {}) } });
    }
    else if (f.type === 'RequestMirror' && f.requestMirror !== undefined) {
      const m = f.requestMirror;
      const resolved = backendCluster(m.backendRef, ctx.ns, ctx.parentPort, ctx.inp.services);
      // A mirror copy never shapes the response, so an unresolved one is left out (status says so).
      if (!resolved.found) continue;
      ctx.referenced.add(resolved.cluster);
      const percent = m.percent ?? (m.fraction !== undefined ? (m.fraction.numerator * 100) / m.fraction.denominator : 100);
      out.push({ type: 'RequestMirror', requestMirror: { cluster: resolved.cluster, percent } });
    } else if (f.type === 'ExtensionRef' && f.extensionRef !== undefined) {
      // The proxy applies one fault per rule (the schema allows one ExtensionRef per rule).
      if (fault) continue;
      fault = true;
      const ref = f.extensionRef as { group: string; kind: string; name: string };
      const spec = ref.group === 'trellis.dev' && ref.kind === 'FaultInjection' ? ctx.inp.faults.get(`${ctx.ns}/${ref.name}`) : undefined;
      out.push(spec === undefined ? UNRESOLVED_FILTER : faultFilter(spec));
    }
  }
  return out;
}

/** The schema guarantees the field named by `type` is set. */
function pathModifier(p: { type: 'ReplaceFullPath' | 'ReplacePrefixMatch'; replaceFullPath?: string | undefined; replacePrefixMatch?: string | undefined }): PathModifierConfig {
  return p.type === 'ReplaceFullPath' ? { type: p.type, replaceFullPath: p.replaceFullPath ?? '' } : { type: p.type, replacePrefixMatch: p.replacePrefixMatch ?? '' };
}

function faultFilter(spec: FaultInjectionSpec): RouteFilterConfig {
  return {
    type: 'Fault',
    fault: {
      ...(spec.delay !== undefined ? { delay: { ms: durationMs(spec.delay.fixedDelay), percent: spec.delay.percentage } } : {}),
      ...(spec.abort !== undefined ? { abort: { status: spec.abort.httpStatus, percent: spec.abort.percentage } } : {}),
    },
  };
}
