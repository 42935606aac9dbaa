import assert from 'node:assert/strict';
import type { AuthorizationPolicyConfig, InboundPolicyConfig, RateLimitConfig } from '../../api/snapshot.js';
import { compileInboundPolicies } from './compile.js';
import type { PolicyCompileDeps } from './compile.js';
import type { InboundPolicy } from './inbound-policy.js';
import type { AuthzVerdict, PolicyCounter, PolicyCounters, PolicyRequest } from './types.js';

export const TD = 'spiffe://test.local';
export const who = (sa: string, ns = 'shop'): string => `${TD}/ns/${ns}/sa/${sa}`;

/** A port's config: `defaultAction` allow unless given. */
export function inbound(over: Partial<InboundPolicyConfig> = {}): InboundPolicyConfig {
  return { port: 'http', defaultAction: 'allow', defaultFrom: 'mesh', authorization: [], rateLimits: [], ...over };
}

export function authz(name: string, action: AuthorizationPolicyConfig['action'], rules: AuthorizationPolicyConfig['rules'], extra: Partial<AuthorizationPolicyConfig> = {}): AuthorizationPolicyConfig {
  return { namespace: 'shop', name, action, rules, ...extra };
}

export function limit(name: string, over: Partial<RateLimitConfig>): RateLimitConfig {
  return { namespace: 'shop', name, mode: 'enforce', ...over };
}

/** Compiles one port's config (fails the test when refused). */
export function compileOne(c: InboundPolicyConfig, deps: PolicyCompileDeps = {}): InboundPolicy {
  const r = compileInboundPolicies([c], deps);
  if (!r.ok) assert.fail(`refused: ${r.problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  const p = r.byPort.get(c.port);
  assert.ok(p !== undefined);
  return p;
}

/** A request: GET / from `peer` (shop/web unless given; null = no identity). */
export function req(over: Partial<PolicyRequest> = {}): PolicyRequest {
  return { peer: who('web'), method: 'GET', path: '/', query: '', host: 'api', headers: ['host', 'api'], grpc: false, ...over };
}

export function grpcReq(path: string, over: Partial<PolicyRequest> = {}): PolicyRequest {
  return req({ method: 'POST', path, grpc: true, headers: ['host', 'api', 'content-type', 'application/grpc'], ...over });
}

/** Counters that remember their counts by `policy|verdict` (and `policy|mode|decision`). */
export class CountingCounters implements PolicyCounters {
  readonly counts = new Map<string, number>();
  authz(policy: string, verdict: AuthzVerdict): PolicyCounter {
    return this.cell(`${policy}|${verdict}`);
  }
  rateLimit(policy: string, mode: 'enforce' | 'shadow', decision: 'admitted' | 'limited'): PolicyCounter {
    return this.cell(`${policy}|${mode}|${decision}`);
  }
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }
  private cell(key: string): PolicyCounter {
    return { inc: () => this.counts.set(key, (this.counts.get(key) ?? 0) + 1) };
  }
}
