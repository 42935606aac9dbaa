import { z } from 'zod';
import { hostnameProblem } from '../../util/hostname.js';
import { compileRouteRegex } from '../../util/route-regex.js';
import { externalServiceSpec } from './external-service-schema.js';
import { authorizationPolicySpec, rateLimitPolicySpec } from './policy-schema.js';

/**
 * Strict zod schemas for mesh resources (docs/configuration.md): Gateway API HTTPRoute and
 * GRPCRoute (GAMMA mesh profile: parents are Services) and Trellis' DestinationPolicy and
 * FaultInjection. Unknown fields are rejected. Cross-field rules of the Gateway API (its CEL
 * validations) are in superRefine, each issue on the path it is about.
 */

/** Gateway API Duration: 1 to 4 `<number><unit>` groups, units h, m, s, ms (GEP-2257). */
export const DURATION_RE = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
export const duration = z.string().regex(DURATION_RE, { error: 'expected a Gateway API duration such as 500ms, 10s, 1m30s' });

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
/** `1m30s` -> 90000. Only for strings that matched DURATION_RE. */
export function durationMs(d: string): number {
  let ms = 0;
  for (const m of d.matchAll(/([0-9]+)(ms|h|m|s)/g)) ms += Number(m[1]) * (UNIT_MS[m[2] ?? 's'] ?? 0);
  return ms;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const objectName = z.string().min(1).max(253).regex(DNS_SUBDOMAIN, { error: 'expected a lower-case DNS name (a-z, 0-9, -, .)' });
const namespaceName = z.string().min(1).max(63).regex(DNS_LABEL, { error: 'expected a lower-case DNS label (a-z, 0-9, -)' });
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;
const headerName = z.string().min(1).max(256).regex(HEADER_NAME, { error: 'expected an HTTP header name (RFC 7230 token)' });
/** Gateway API Hostname / PreciseHostname, checked by the same code as in every proxy (src/util/hostname.ts). */
function hostnameSchema(wildcard: boolean): z.ZodType<string> {
  return z.string().superRefine((h, ctx) => {
    const problem = hostnameProblem(h, { wildcard });
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
  });
}
/** Route `hostnames`: a precise name or a `*.`-prefixed wildcard. */
const routeHostname = hostnameSchema(true);
/** Redirect and rewrite hostnames: precise names only. */
const preciseHostname = hostnameSchema(false);
const port = z.number().int().min(1).max(65535);
const percentage = z.number().min(0).max(100);

export const metadataSchema = z.strictObject({
  name: objectName,
  namespace: namespaceName.default('default'),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  // Accepted from `get -o yaml` output and ignored: the control plane owns these.
  resourceVersion: z.string().optional(),
  generation: z.number().int().optional(),
  creationTimestamp: z.string().optional(),
});

/** GAMMA: a route's parent is a Service (core group ""). */
const parentRef = z.strictObject({
  group: z.literal('', { error: 'expected "" (the core group: parents are Services in the mesh profile)' }).default(''),
  kind: z.literal('Service', { error: 'expected Service (GAMMA mesh profile)' }).default('Service'),
  name: objectName,
  namespace: namespaceName.optional(),
  port: port.optional(),
  sectionName: z.string().min(1).max(253).optional(),
});

const serviceRefFields = {
  group: z.literal('', { error: 'expected "" (backends are Services)' }).default(''),
  kind: z.literal('Service', { error: 'expected Service' }).default('Service'),
  name: objectName,
  namespace: namespaceName.optional(),
  port: port.optional(),
};


const headerMatch = z.strictObject({
  type: z.enum(['Exact', 'RegularExpression']).default('Exact'),
  name: headerName,
  value: z.string().min(1).max(4096),
});
/**
 * Route regexes are RE2 syntax, compiled by the same function every proxy uses
 * (src/util/route-regex.ts): a pattern accepted at apply is one they compile.
 */
function checkRegex(value: string, ctx: z.core.$RefinementCtx, path: PropertyKey[]): void {
  const r = compileRouteRegex(value);
  if (!r.ok) ctx.addIssue({ code: 'custom', path, message: r.message });
}
function checkHeaderRegex(h: { type: string; value: string }, ctx: z.core.$RefinementCtx): void {
  if (h.type === 'RegularExpression') checkRegex(h.value, ctx, ['value']);
}
const headerMatchChecked = headerMatch.superRefine(checkHeaderRegex);

function uniqueNames(list: { name: string }[] | undefined, ctx: z.core.$RefinementCtx, path: PropertyKey[], caseInsensitive = true): void {
  const seen = new Set<string>();
  (list ?? []).forEach((e, i) => {
    const k = caseInsensitive ? e.name.toLowerCase() : e.name;
    if (seen.has(k)) ctx.addIssue({ code: 'custom', path: [...path, i, 'name'], message: `duplicate name "${e.name}"` });
    seen.add(k);
  });
}

const pathMatch = z
  .strictObject({
    type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).default('PathPrefix'),
    value: z.string().min(1).max(1024).default('/'),
  })
  .superRefine((p, ctx) => {
    if (p.type === 'RegularExpression') {
      checkRegex(p.value, ctx, ['value']);
      return;
    }
    // Gateway API CEL rules for Exact and PathPrefix.
    if (!p.value.startsWith('/')) ctx.addIssue({ code: 'custom', path: ['value'], message: 'must be an absolute path (start with /)' });
    else if (p.value.includes('//')) ctx.addIssue({ code: 'custom', path: ['value'], message: 'must not contain //' });
    else if (/(^|\/)\.\.?(\/|$)/.test(p.value)) ctx.addIssue({ code: 'custom', path: ['value'], message: 'must not contain /./ or /../ segments' });
    else if (/[?#%]/.test(p.value) && !/%[0-9A-Fa-f]{2}/.test(p.value)) ctx.addIssue({ code: 'custom', path: ['value'], message: 'must not contain ? or # (match query parameters with queryParams)' });
  });

const httpRouteMatch = z.strictObject({
  path: pathMatch.default({ type: 'PathPrefix', value: '/' }),
  headers: z.array(headerMatchChecked).max(16).optional(),
  queryParams: z
    .array(
      z
        .strictObject({ type: z.enum(['Exact', 'RegularExpression']).default('Exact'), name: z.string().min(1).max(256).regex(/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/, { error: 'expected a query parameter name' }), value: z.string().min(1).max(1024) })
        .superRefine(checkHeaderRegex),
    )
    .max(16)
    .optional(),
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']).optional(),
});

const headerValue = z.strictObject({ name: headerName, value: z.string().max(4096) });
const headerModifier = z
  .strictObject({
    set: z.array(headerValue).max(16).optional(),
    add: z.array(headerValue).max(16).optional(),
    remove: z.array(headerName).max(16).optional(),
  })
  .superRefine((m, ctx) => {
    uniqueNames(m.set, ctx, ['set']);
    uniqueNames(m.add, ctx, ['add']);
    uniqueNames(
      m.remove?.map((name) => ({ name })),
      ctx,
      ['remove'],
    );
    if ((m.set?.length ?? 0) + (m.add?.length ?? 0) + (m.remove?.length ?? 0) === 0) ctx.addIssue({ code: 'custom', message: 'needs at least one of set, add, remove' });
  });

const pathModifier = z
  .strictObject({
    type: z.enum(['ReplaceFullPath', 'ReplacePrefixMatch']),
    replaceFullPath: z.string().max(1024).optional(),
    replacePrefixMatch: z.string().max(1024).optional(),
  })
  .superRefine((p, ctx) => {
    // Gateway API CEL: the field named by type must be set, the other must not.
    if (p.type === 'ReplaceFullPath') {
      if (p.replaceFullPath === undefined) ctx.addIssue({ code: 'custom', path: ['replaceFullPath'], message: 'required when type is ReplaceFullPath' });
      if (p.replacePrefixMatch !== undefined) ctx.addIssue({ code: 'custom', path: ['replacePrefixMatch'], message: 'must not be set when type is ReplaceFullPath' });
    } else {
      if (p.replacePrefixMatch === undefined) ctx.addIssue({ code: 'custom', path: ['replacePrefixMatch'], message: 'required when type is ReplacePrefixMatch' });
      if (p.replaceFullPath !== undefined) ctx.addIssue({ code: 'custom', path: ['replaceFullPath'], message: 'must not be set when type is ReplacePrefixMatch' });
    }
    const v = p.replaceFullPath ?? p.replacePrefixMatch;
    if (v !== undefined && v !== '' && !v.startsWith('/')) ctx.addIssue({ code: 'custom', path: [p.type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch'], message: 'must start with /' });
  });

const requestRedirect = z.strictObject({
  scheme: z.enum(['http', 'https']).optional(),
  hostname: preciseHostname.optional(),
  path: pathModifier.optional(),
  port: port.optional(),
  statusCode: z.union([z.literal(301), z.literal(302)], { error: 'expected 301 or 302' }).default(302),
});

const urlRewrite = z
  .strictObject({ hostname: preciseHostname.optional(), path: pathModifier.optional() })
  .superRefine((u, ctx) => {
    if (u.hostname === undefined && u.path === undefined) ctx.addIssue({ code: 'custom', message: 'needs hostname or path' });
  });

/**
 * The Gateway API requires `port` for a Kubernetes Service. Trellis ports are named and have no
 * numbers, so a backend's port is derived from the parent port instead (refs.ts, by name) and
 * `port` is optional: kept when given, so the same file stays valid on Kubernetes, and unused.
 */
const backendObjectRef = z.strictObject(serviceRefFields);

const requestMirror = z
  .strictObject({
    backendRef: backendObjectRef,
    percent: z.number().int().min(0).max(100).optional(),
    fraction: z
      .strictObject({ numerator: z.number().int().min(0), denominator: z.number().int().min(1).default(100) })
      .superRefine((f, ctx) => {
        if (f.numerator > f.denominator) ctx.addIssue({ code: 'custom', path: ['numerator'], message: 'must be at most denominator' });
      })
      .optional(),
  })
  .superRefine((m, ctx) => {
    if (m.percent !== undefined && m.fraction !== undefined) ctx.addIssue({ code: 'custom', path: ['fraction'], message: 'only one of percent and fraction may be set' });
  });

const extensionRef = z.strictObject({
  group: z.literal('trellis.dev', { error: 'expected trellis.dev' }),
  kind: z.literal('FaultInjection', { error: 'expected FaultInjection' }),
  name: objectName,
});

const FILTER_FIELDS = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  RequestMirror: 'requestMirror',
  ExtensionRef: 'extensionRef',
} as const;
type FilterType = keyof typeof FILTER_FIELDS;

/** Gateway API CEL: the config field for `type` must be set and no other one. */
function checkFilterFields(f: Record<string, unknown> & { type: FilterType }, ctx: z.core.$RefinementCtx): void {
  const want = FILTER_FIELDS[f.type];
  if (f[want] === undefined) ctx.addIssue({ code: 'custom', path: [want], message: `required when type is ${f.type}` });
  for (const field of Object.values(FILTER_FIELDS)) {
    if (field !== want && f[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `must not be set when type is ${f.type}` });
  }
}

const httpFilter = z
  .strictObject({
    type: z.enum(['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror', 'ExtensionRef']),
    requestHeaderModifier: headerModifier.optional(),
    responseHeaderModifier: headerModifier.optional(),
    requestRedirect: requestRedirect.optional(),
    urlRewrite: urlRewrite.optional(),
    requestMirror: requestMirror.optional(),
    extensionRef: extensionRef.optional(),
  })
  .superRefine(checkFilterFields);

const grpcFilter = z
  .strictObject({
    type: z.enum(['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror', 'ExtensionRef']),
    requestHeaderModifier: headerModifier.optional(),
    responseHeaderModifier: headerModifier.optional(),
    requestMirror: requestMirror.optional(),
    extensionRef: extensionRef.optional(),
  })
  .superRefine(checkFilterFields);

type AnyFilter = { type: string; requestRedirect?: unknown; urlRewrite?: unknown };

/** Gateway API CEL on a rule's filter list: each of these types at most once; not both redirect and rewrite. */
function checkFilterList(filters: AnyFilter[] | undefined, ctx: z.core.$RefinementCtx, path: PropertyKey[]): void {
  if (filters === undefined) return;
  // ExtensionRef too: its only kind is FaultInjection, and a rule applies one fault.
  const once = new Set(['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'ExtensionRef']);
  const seen = new Set<string>();
  filters.forEach((f, i) => {
    if (once.has(f.type) && seen.has(f.type)) ctx.addIssue({ code: 'custom', path: [...path, i, 'type'], message: `${f.type} may appear at most once per rule` });
    seen.add(f.type);
  });
  if (seen.has('RequestRedirect') && seen.has('URLRewrite')) {
    const i = filters.findIndex((f) => f.type === 'URLRewrite');
    ctx.addIssue({ code: 'custom', path: [...path, i, 'type'], message: 'RequestRedirect and URLRewrite cannot be used together' });
  }
}

const weight = z.number().int().min(0).max(1_000_000);

/**
 * Gateway API allows filters per backendRef; Trellis' data plane applies filters per rule only,
 * so they are refused here rather than stored and silently ignored.
 */
function noBackendFilters(v: { filters?: unknown[] | undefined }, ctx: z.core.$RefinementCtx): void {
  if ((v.filters?.length ?? 0) > 0) {
    ctx.addIssue({ code: 'custom', path: ['filters'], message: 'per-backend filters are not supported by the Trellis data plane; put the filter on the rule (rules[].filters)' });
  }
}

const httpBackendRef = z
  .strictObject({ ...serviceRefFields, weight: weight.default(1), filters: z.array(httpFilter).max(16).optional() })
  .superRefine(noBackendFilters);
const grpcBackendRef = z
  .strictObject({ ...serviceRefFields, weight: weight.default(1), filters: z.array(grpcFilter).max(16).optional() })
  .superRefine(noBackendFilters);

const retry = z.strictObject({
  codes: z.array(z.number().int().min(400).max(599)).max(32).optional(),
  attempts: z.number().int().min(0).max(100).optional(),
  backoff: duration.optional(),
});

const httpRule = z
  .strictObject({
    name: z.string().min(1).max(253).regex(DNS_LABEL, { error: 'expected a lower-case DNS label' }).optional(),
    matches: z.array(httpRouteMatch).max(64).default([{ path: { type: 'PathPrefix', value: '/' } }]),
    filters: z.array(httpFilter).max(16).optional(),
    backendRefs: z.array(httpBackendRef).max(16).optional(),
    timeouts: z.strictObject({ request: duration.optional(), backendRequest: duration.optional() }).optional(),
    retry: retry.optional(),
  })
  .superRefine((r, ctx) => {
    checkFilterList(r.filters, ctx, ['filters']);
    r.matches.forEach((m, i) => {
      uniqueNames(m.headers, ctx, ['matches', i, 'headers']);
      uniqueNames(m.queryParams, ctx, ['matches', i, 'queryParams'], false);
    });
    r.backendRefs?.forEach((b, i) => checkFilterList(b.filters, ctx, ['backendRefs', i, 'filters']));
    // Gateway API CEL: backendRequest must not exceed request (request 0s means no timeout).
    const t = r.timeouts;
    if (t?.request !== undefined && t.backendRequest !== undefined) {
      const req = durationMs(t.request);
      if (req !== 0 && durationMs(t.backendRequest) > req) ctx.addIssue({ code: 'custom', path: ['timeouts', 'backendRequest'], message: 'must not be greater than timeouts.request' });
    }
    // Gateway API CEL: ReplacePrefixMatch needs exactly one match, with a PathPrefix path.
    const usesPrefix = (r.filters ?? []).some((f) => (f.requestRedirect?.path ?? f.urlRewrite?.path)?.type === 'ReplacePrefixMatch');
    if (usesPrefix && (r.matches.length !== 1 || r.matches[0]?.path.type !== 'PathPrefix')) {
      ctx.addIssue({ code: 'custom', path: ['filters'], message: 'ReplacePrefixMatch needs exactly one match, with path type PathPrefix' });
    }
  });

const routeCommon = {
  parentRefs: z.array(parentRef).min(1).max(32),
  // Matched against the request's Host (src/proxy/routing/hosts.ts); absent or empty: any host.
  hostnames: z.array(routeHostname).max(16).optional(),
};

export const httpRouteSpec = z.strictObject({ ...routeCommon, rules: z.array(httpRule).min(1).max(16) });

const grpcMethodMatch = z
  .strictObject({
    type: z.enum(['Exact', 'RegularExpression']).default('Exact'),
    service: z.string().min(1).max(1024).optional(),
    method: z.string().min(1).max(1024).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.service === undefined && m.method === undefined) ctx.addIssue({ code: 'custom', message: 'needs service or method (or both)' });
    for (const field of ['service', 'method'] as const) {
      const v = m[field];
      if (v === undefined) continue;
      if (m.type === 'Exact') {
        const re = field === 'service' ? /^\.?[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*$/ : /^[A-Za-z_][A-Za-z_0-9]*$/;
        if (!re.test(v)) ctx.addIssue({ code: 'custom', path: [field], message: field === 'service' ? 'expected a fully qualified gRPC service name such as pkg.Service' : 'expected a gRPC method name' });
      } else {
        checkRegex(v, ctx, [field]);
      }
    }
  });

const grpcRule = z
  .strictObject({
    name: z.string().min(1).max(253).regex(DNS_LABEL, { error: 'expected a lower-case DNS label' }).optional(),
    matches: z.array(z.strictObject({ method: grpcMethodMatch.optional(), headers: z.array(headerMatchChecked).max(16).optional() })).max(64).optional(),
    filters: z.array(grpcFilter).max(16).optional(),
    backendRefs: z.array(grpcBackendRef).max(16).optional(),
  })
  .superRefine((r, ctx) => {
    checkFilterList(r.filters, ctx, ['filters']);
    r.matches?.forEach((m, i) => uniqueNames(m.headers, ctx, ['matches', i, 'headers']));
  });

export const grpcRouteSpec = z.strictObject({ ...routeCommon, rules: z.array(grpcRule).min(1).max(16) });

const serviceTarget = z.strictObject({
  group: z.literal('', { error: 'expected "" (the core group)' }).default(''),
  kind: z.literal('Service', { error: 'expected Service' }).default('Service'),
  name: objectName,
});

const loadBalancer = z
  .strictObject({
    type: z.enum(['peak-ewma', 'round-robin', 'least-request', 'consistent-hash']).default('peak-ewma'),
    hashOn: z
      .union([z.strictObject({ header: headerName }), z.strictObject({ cookie: z.strictObject({ name: z.string().min(1).max(256).regex(HEADER_NAME, { error: 'expected a cookie name' }), ttl: duration.optional() }) })], {
        error: 'expected {header: NAME} or {cookie: {name, ttl}}',
      })
      .optional(),
  })
  .superRefine((lb, ctx) => {
    if (lb.type === 'consistent-hash' && lb.hashOn === undefined) ctx.addIssue({ code: 'custom', path: ['hashOn'], message: 'required when type is consistent-hash' });
    if (lb.type !== 'consistent-hash' && lb.hashOn !== undefined) ctx.addIssue({ code: 'custom', path: ['hashOn'], message: 'only valid when type is consistent-hash' });
  });

const positiveInt = z.number().int().min(1);

export const destinationPolicySpec = z.strictObject({
  targetRef: serviceTarget,
  loadBalancer: loadBalancer.optional(),
  connectionPool: z.strictObject({ maxConnections: positiveInt.optional(), maxPendingRequests: positiveInt.optional(), maxConcurrentRequests: positiveInt.optional() }).optional(),
  outlierDetection: z
    .strictObject({
      consecutive5xx: positiveInt.default(5),
      consecutiveConnectFailures: positiveInt.default(5),
      interval: duration.default('10s'),
      baseEjectionTime: duration.default('30s'),
      maxEjectionPercent: z.number().int().min(0).max(100).default(50),
    })
    .optional(),
  retryBudget: z.strictObject({ percent: percentage.default(20), minRetriesPerSecond: z.number().int().min(0).default(10) }).optional(),
  healthCheck: z
    .strictObject({
      http: z.strictObject({ path: z.string().startsWith('/', { error: 'must start with /' }).max(1024) }).optional(),
      grpc: z.strictObject({ service: z.string().max(1024).default('') }).optional(),
      interval: duration.default('10s'),
      timeout: duration.default('1s'),
      healthyThreshold: positiveInt.default(1),
      unhealthyThreshold: positiveInt.default(3),
    })
    .superRefine((h, ctx) => {
      if ((h.http === undefined) === (h.grpc === undefined)) ctx.addIssue({ code: 'custom', message: 'needs exactly one of http and grpc' });
      if (durationMs(h.timeout) > durationMs(h.interval)) ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'must not be greater than interval' });
    })
    .optional(),
});

export const faultInjectionSpec = z
  .strictObject({
    delay: z.strictObject({ fixedDelay: duration, percentage: percentage.default(100) }).optional(),
    abort: z.strictObject({ httpStatus: z.number().int().min(200).max(599), percentage: percentage.default(100) }).optional(),
  })
  .superRefine((f, ctx) => {
    if (f.delay === undefined && f.abort === undefined) ctx.addIssue({ code: 'custom', message: 'needs delay or abort (or both)' });
  });

export const SPEC_SCHEMAS = {
  HTTPRoute: httpRouteSpec,
  GRPCRoute: grpcRouteSpec,
  DestinationPolicy: destinationPolicySpec,
  FaultInjection: faultInjectionSpec,
  AuthorizationPolicy: authorizationPolicySpec,
  RateLimitPolicy: rateLimitPolicySpec,
  ExternalService: externalServiceSpec,
} as const;

export type HTTPRouteSpec = z.output<typeof httpRouteSpec>;
export type GRPCRouteSpec = z.output<typeof grpcRouteSpec>;
export type DestinationPolicySpec = z.output<typeof destinationPolicySpec>;
export type FaultInjectionSpec = z.output<typeof faultInjectionSpec>;
export type { AuthorizationPolicySpec, RateLimitPolicySpec, PolicyTargetRef } from './policy-schema.js';
export type { ExternalServiceSpec } from './external-service-schema.js';
