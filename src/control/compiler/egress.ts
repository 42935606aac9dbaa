import type { Resource } from '../../api/resources.js';
import type { AuthorizationPolicyConfig, DefaultAction, ExternalServiceConfig, InboundPolicyConfig, RateConfig, RateLimitConfig } from '../../api/snapshot.js';
import { defaultBurst } from '../../config/resources/policy-schema.js';
import type { AuthorizationPolicySpec, ExternalServiceSpec, RateLimitPolicySpec } from '../../config/resources/schema.js';
import { ruleConfig } from '../policy/inbound-policy.js';

/** What a policy's defaultAction may make of an ExternalService: the most restrictive wins. */
const RESTRICTIVENESS: Record<DefaultAction, number> = { allow: 0, authenticated: 1, deny: 2 };

/**
 * Every ExternalService, as every proxy's egress listeners need it (the same list for all
 * proxies: who may use a service is decided by each caller's proxy, with its own identity, from
 * the AuthorizationPolicies compiled in here). Sorted, so equal content hashes equally.
 *
 * An ExternalService without policies may be used by every workload. With policies, the
 * order is the inbound one (DENY, then ALLOW, then the default), and the default is the most
 * restrictive `defaultAction` among them, else `allow`: the mesh file's inbound default does
 * not apply here (the outbound mode is egress's default).
 */
export function compileEgress(resources: readonly Resource[]): ExternalServiceConfig[] {
  const services = resources.filter((r) => r.kind === 'ExternalService').sort(byName);
  if (services.length === 0) return [];
  const policies = resources.filter((r) => r.kind === 'AuthorizationPolicy' || r.kind === 'RateLimitPolicy').sort(byName);
  return services.map((r) => {
    const spec = r.spec as ExternalServiceSpec;
    const { namespace, name } = r.metadata;
    const out: ExternalServiceConfig = {
      namespace,
      name,
      hostname: spec.hostname,
      port: spec.port,
      protocol: spec.protocol === 'HTTP' ? 'http' : 'tls',
    };
    if (spec.endpoints !== undefined) out.endpoints = spec.endpoints.map((e) => ({ host: e.address, port: e.port ?? spec.port }));
    const mine = policies.filter((p) => {
      const t = (p.spec as AuthorizationPolicySpec | RateLimitPolicySpec).targetRef;
      return p.metadata.namespace === namespace && t.kind === 'ExternalService' && t.name === name;
    });
    // `port` must be a port-name label for the shared validator: one fixed name, one policy per entry.
    if (mine.length > 0) out.policy = egressPolicy('egress', mine);
    return out;
  });
}

function egressPolicy(key: string, list: Resource[]): InboundPolicyConfig {
  let defaultAction: DefaultAction = 'allow';
  let defaultFrom = 'egress';
  const authorization: AuthorizationPolicyConfig[] = [];
  const rateLimits: RateLimitConfig[] = [];
  for (const r of list) {
    if (r.kind === 'RateLimitPolicy') {
      rateLimits.push(rateLimit(r));
      continue;
    }
    const spec = r.spec as AuthorizationPolicySpec;
    const label = `${r.metadata.namespace}/${r.metadata.name}`;
    if (spec.defaultAction !== undefined && RESTRICTIVENESS[spec.defaultAction] > RESTRICTIVENESS[defaultAction]) {
      defaultAction = spec.defaultAction;
      defaultFrom = label;
    }
    if (spec.action === undefined || spec.rules === undefined) continue;
    authorization.push({ namespace: r.metadata.namespace, name: r.metadata.name, action: spec.action, rules: spec.rules.map(ruleConfig) });
  }
  return { port: key, defaultAction, defaultFrom, authorization, rateLimits };
}

/**
 * A RateLimitPolicy on an ExternalService, enforced by each caller's proxy on its own calls
 * (requests, or TLS connections): `total` is per calling replica (no `global`: the schema
 * refuses it), `perIdentity` the same for a proxy with one identity, `overrides` by caller.
 */
function rateLimit(r: Resource): RateLimitConfig {
  const s = r.spec as RateLimitPolicySpec;
  const rate = (x: { requestsPerSecond: number; burst?: number | undefined }): RateConfig => ({ requestsPerSecond: x.requestsPerSecond, burst: x.burst ?? defaultBurst(x.requestsPerSecond) });
  const out: RateLimitConfig = { namespace: r.metadata.namespace, name: r.metadata.name, mode: s.mode };
  if (s.total !== undefined) out.total = rate(s.total);
  if (s.perIdentity !== undefined) out.perIdentity = rate(s.perIdentity);
  if (s.overrides !== undefined) out.overrides = s.overrides.map((o) => ({ principal: o.principal, ...rate(o) }));
  return out;
}

function byName(a: Resource, b: Resource): number {
  return cmp(a.metadata.namespace, b.metadata.namespace) || cmp(a.metadata.name, b.metadata.name);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
