import { z } from 'zod';
import { parseSpiffeUri } from '../../identity/spiffe.js';
import { headerNameProblem, methodProblem, pathPatternProblem, portNameProblem, rateProblem, valuePatternProblem } from '../../proxy/policy/patterns.js';

/**
 * AuthorizationPolicy and RateLimitPolicy (trellis.dev/v1alpha1): the fields follow Istio's
 * AuthorizationPolicy (`rules[].from[].source`, `to[].operation`, `when[]`) so its users can
 * bring what they know; the values are checked by the same functions every proxy uses
 * (src/proxy/policy/patterns.ts), so a policy `trellis apply` accepts is one proxies accept.
 * What differs from Istio is on purpose: an explicit `defaultAction` (the first ALLOW never
 * turns a service to deny-all), `/x/*` also covers `/x`, and principals are whole SPIFFE IDs.
 */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const objectName = z.string().min(1).max(253).regex(DNS_SUBDOMAIN, { error: 'expected a lower-case DNS name (a-z, 0-9, -, .)' });
const GATEWAY_GROUP = 'gateway.networking.k8s.io';
const TRELLIS_GROUP = 'trellis.dev';

/** A check as a zod refinement on a string. */
function checked(problem: (s: string) => string | undefined, max = 1024): z.ZodType<string> {
  return z
    .string()
    .min(1)
    .max(max)
    .superRefine((s, ctx) => {
      const p = problem(s);
      if (p !== undefined) ctx.addIssue({ code: 'custom', message: p });
    });
}
const list = <T extends z.ZodType>(item: T) => z.array(item).min(1, { error: 'expected at least one value (leave the field out to match any)' }).max(64);

/** SPIFFE IDs: whole (`spiffe://td/ns/shop/sa/web`), a prefix (`spiffe://td/ns/shop/` then `*`), a suffix (`*` then `/sa/web`) or `*`. */
export function principalProblem(p: string): string | undefined {
  const g = valuePatternProblem(p);
  if (g !== undefined) return g;
  if (p.startsWith('*')) return undefined;
  if (!p.startsWith('spiffe://')) return 'expected a SPIFFE ID such as spiffe://<trust domain>/ns/<namespace>/sa/<account> (Istio\'s <td>/ns/... form needs the spiffe:// scheme here), or a glob with a leading or trailing *';
  if (p.endsWith('*')) return undefined;
  return parseSpiffeUri(p) === null ? 'not a valid SPIFFE ID' : undefined;
}

/** A namespace or service account pattern: a DNS label, with a leading or trailing `*`. */
function segmentProblem(s: string): string | undefined {
  const g = valuePatternProblem(s);
  if (g !== undefined) return g;
  const fixed = s.replace(/^\*|\*$/g, '');
  return fixed === '' || /^[a-zA-Z0-9._-]+$/.test(fixed) ? undefined : 'expected a name of the SPIFFE ID (letters, digits, . _ -), with a leading or trailing *';
}

const principal = checked(principalProblem, 2048);
const segment = checked(segmentProblem, 253);
const source = z
  .strictObject({
    principals: list(principal).optional(),
    notPrincipals: list(principal).optional(),
    namespaces: list(segment).optional(),
    notNamespaces: list(segment).optional(),
    serviceAccounts: list(segment).optional(),
    notServiceAccounts: list(segment).optional(),
  })
  .superRefine((s, ctx) => {
    if (Object.keys(s).length === 0) ctx.addIssue({ code: 'custom', message: 'needs at least one field (leave `from` out to match any caller)' });
  });

const operation = z
  .strictObject({
    methods: list(checked(methodProblem, 64)).optional(),
    notMethods: list(checked(methodProblem, 64)).optional(),
    paths: list(checked(pathPatternProblem)).optional(),
    notPaths: list(checked(pathPatternProblem)).optional(),
    ports: list(checked(portNameProblem, 63)).optional(),
    notPorts: list(checked(portNameProblem, 63)).optional(),
    grpcServices: list(checked(valuePatternProblem)).optional(),
    grpcMethods: list(checked(valuePatternProblem)).optional(),
  })
  .superRefine((o, ctx) => {
    if (Object.keys(o).length === 0) ctx.addIssue({ code: 'custom', message: 'needs at least one field (leave `to` out to match any request)' });
  });

/** Istio's `key: request.headers[<name>]`; the only attribute Trellis conditions read. */
const HEADER_KEY = /^request\.headers\[([^\]]+)\]$/;

/** The header name of a `when` key (lower-cased), or undefined when the key is not a header. */
export function headerOfKey(key: string): string | undefined {
  const m = HEADER_KEY.exec(key);
  return m === null ? undefined : (m[1] as string).toLowerCase();
}

const condition = z
  .strictObject({
    key: z.string().min(1).max(300),
    values: list(checked(valuePatternProblem, 4096)).optional(),
    notValues: list(checked(valuePatternProblem, 4096)).optional(),
  })
  .superRefine((c, ctx) => {
    const h = headerOfKey(c.key);
    if (h === undefined) ctx.addIssue({ code: 'custom', path: ['key'], message: 'expected request.headers[<name>] (conditions read request headers; callers are matched with from.source)' });
    else {
      const p = headerNameProblem(h);
      if (p !== undefined) ctx.addIssue({ code: 'custom', path: ['key'], message: p });
    }
    if (c.values === undefined && c.notValues === undefined) ctx.addIssue({ code: 'custom', message: 'needs values or notValues' });
  });

const rule = z.strictObject({
  from: list(z.strictObject({ source })).optional(),
  to: list(z.strictObject({ operation })).optional(),
  when: list(condition).optional(),
});

/**
 * What a policy applies to: a Service of the policy's namespace (all its ports, or the one
 * `sectionName` names), or an HTTPRoute / GRPCRoute there (the requests its rules select, on
 * the services they send to), or an ExternalService there (group trellis.dev: enforced on the
 * callers' side, by the egress listeners of every workload that uses it). Policy attachment
 * (GEP-713): local references, no namespace.
 */
export const policyTargetRef = z
  .strictObject({
    group: z.string().max(253).default(''),
    kind: z.enum(['Service', 'HTTPRoute', 'GRPCRoute', 'ExternalService']).default('Service'),
    name: objectName,
    /** Service targets: the port's name in the mesh file. */
    sectionName: z.string().max(63).regex(DNS_LABEL, { error: 'expected a port name (a lower-case DNS label)' }).optional(),
  })
  .superRefine((t, ctx) => {
    if (t.kind === 'Service' && t.group !== '') ctx.addIssue({ code: 'custom', path: ['group'], message: 'expected "" (the core group) for a Service' });
    if (t.kind === 'ExternalService' && t.group !== TRELLIS_GROUP) ctx.addIssue({ code: 'custom', path: ['group'], message: `expected ${TRELLIS_GROUP} for an ExternalService` });
    if ((t.kind === 'HTTPRoute' || t.kind === 'GRPCRoute') && t.group !== GATEWAY_GROUP) ctx.addIssue({ code: 'custom', path: ['group'], message: `expected ${GATEWAY_GROUP} for a ${t.kind}` });
    if (t.kind !== 'Service' && t.sectionName !== undefined) ctx.addIssue({ code: 'custom', path: ['sectionName'], message: 'only a Service target names a port' });
  });

export const DEFAULT_ACTIONS = ['allow', 'deny', 'authenticated'] as const;

export const authorizationPolicySpec = z
  .strictObject({
    targetRef: policyTargetRef,
    action: z.enum(['ALLOW', 'DENY', 'AUDIT']).optional(),
    /** ORed. Absent: the policy matches no request (it may still set defaultAction). */
    rules: z.array(rule).max(64).optional(),
    /**
     * What the target gets when no DENY and no ALLOW matches. Absent: the mesh file's
     * `spec.authorization.defaultAction`.
     */
    defaultAction: z.enum(DEFAULT_ACTIONS).optional(),
  })
  .superRefine((p, ctx) => {
    if (p.rules !== undefined && p.action === undefined) ctx.addIssue({ code: 'custom', path: ['action'], message: 'required with rules: ALLOW, DENY or AUDIT' });
    if (p.rules === undefined && p.defaultAction === undefined) ctx.addIssue({ code: 'custom', message: 'needs rules (with an action) or a defaultAction' });
    if (p.rules === undefined && p.action !== undefined) ctx.addIssue({ code: 'custom', path: ['rules'], message: `required with action ${p.action}: without rules the policy matches nothing (use rules: [{}] to match every request)` });
    if (p.defaultAction !== undefined && p.targetRef.kind !== 'Service' && p.targetRef.kind !== 'ExternalService') {
      ctx.addIssue({ code: 'custom', path: ['defaultAction'], message: 'only a policy that targets a Service or an ExternalService sets its default' });
    }
  });

/** Default burst: one second's worth of requests (at least 1). */
export function defaultBurst(requestsPerSecond: number): number {
  return Math.max(1, Math.ceil(requestsPerSecond));
}

const rateFields = {
  requestsPerSecond: z.number(),
  /** Requests admitted at once from a full bucket; default one second's worth. */
  burst: z.number().optional(),
};

function checkRate(r: { requestsPerSecond: number; burst?: number | undefined }, ctx: z.core.$RefinementCtx): void {
  const p = rateProblem(r.requestsPerSecond, r.burst ?? defaultBurst(r.requestsPerSecond));
  if (p !== undefined) ctx.addIssue({ code: 'custom', path: [p.field], message: p.message });
}

export const rateLimitPolicySpec = z
  .strictObject({
    targetRef: policyTargetRef,
    mode: z.enum(['enforce', 'shadow']).default('enforce'),
    /** All callers together; `global: true` splits it over the target's ready replicas. */
    total: z.strictObject({ ...rateFields, global: z.boolean().default(false) }).superRefine(checkRate).optional(),
    /** Each caller identity its own bucket; callers without one share a bucket. */
    perIdentity: z.strictObject(rateFields).superRefine(checkRate).optional(),
    /** Named identities with their own per-identity rate. */
    overrides: z
      .array(
        z.strictObject({ principal: checked((p) => (parseSpiffeUri(p)?.segments.length === 4 ? undefined : 'expected a whole workload SPIFFE ID (spiffe://<td>/ns/<ns>/sa/<account>)'), 2048), ...rateFields }).superRefine(checkRate),
      )
      .min(1)
      .max(256)
      .optional(),
  })
  .superRefine((p, ctx) => {
    if (p.total === undefined && p.perIdentity === undefined && p.overrides === undefined) ctx.addIssue({ code: 'custom', message: 'needs total, perIdentity or overrides' });
    if (p.targetRef.kind === 'ExternalService' && p.total?.global === true) {
      ctx.addIssue({ code: 'custom', path: ['total', 'global'], message: "not supported for an ExternalService: each caller's proxy limits its own calls to it" });
    }
    const seen = new Set<string>();
    p.overrides?.forEach((o, i) => {
      if (seen.has(o.principal)) ctx.addIssue({ code: 'custom', path: ['overrides', i, 'principal'], message: `duplicate principal ${o.principal}` });
      seen.add(o.principal);
    });
  });

export type AuthorizationPolicySpec = z.output<typeof authorizationPolicySpec>;
export type RateLimitPolicySpec = z.output<typeof rateLimitPolicySpec>;
export type PolicyTargetRef = z.output<typeof policyTargetRef>;
