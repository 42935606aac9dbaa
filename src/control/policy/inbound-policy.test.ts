import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PortSpec } from '../../api/registry.js';
import type { Resource } from '../../api/resources.js';
import { validateResource } from '../../config/resources/validate.js';
import { compileInboundPolicies } from '../../proxy/policy/compile.js';
import { inboundPolicyFor } from './inbound-policy.js';
import type { InboundPolicyInputs } from './inbound-policy.js';

const TD = 'trellis.dev/v1alpha1';
const GW = 'gateway.networking.k8s.io/v1';
const WEB = 'spiffe://shop.local/ns/shop/sa/web';

/** A resource as the store holds it: validated, defaults applied. */
function res(kind: string, name: string, spec: Record<string, unknown>, namespace = 'shop', created = '2026-01-01T00:00:00Z'): Resource {
  const v = validateResource({ apiVersion: kind.endsWith('Route') ? GW : TD, kind, metadata: { name, namespace }, spec });
  assert.ok(v.ok, v.ok ? '' : JSON.stringify(v.problems));
  return { ...v.resource, metadata: { ...v.resource.metadata, creationTimestamp: created } };
}

const PORTS: PortSpec[] = [
  { name: 'http', protocol: 'http' },
  { name: 'grpc', protocol: 'grpc' },
  { name: 'db', protocol: 'tcp' },
];

function inputs(resources: Resource[], over: Partial<InboundPolicyInputs> = {}): InboundPolicyInputs {
  return {
    resources,
    services: new Map([['shop/api', PORTS], ['shop/api-v2', PORTS], ['shop/web', [{ name: 'http', protocol: 'http' }]]]),
    workload: { namespace: 'shop', services: ['api', 'api-v2'], ports: PORTS },
    meshDefaultAction: 'allow',
    readyReplicas: () => 3,
    ...over,
  };
}

const port = (r: ReturnType<typeof inboundPolicyFor>, name: string) => {
  const p = r.inbound.find((x) => x.port === name);
  assert.ok(p !== undefined, name);
  return p;
};

describe('inboundPolicyFor', () => {
  test('no policies: one entry per port, sorted, with the mesh default and nothing else', () => {
    const r = inboundPolicyFor(inputs([]));
    assert.deepEqual(r.inbound.map((p) => p.port), ['db', 'grpc', 'http']);
    for (const p of r.inbound) assert.deepEqual(p, { port: p.port, defaultAction: 'allow', defaultFrom: 'mesh', authorization: [], rateLimits: [] });
    assert.equal(inboundPolicyFor(inputs([], { meshDefaultAction: 'deny' })).inbound[0]?.defaultAction, 'deny');
  });

  test('a Service target applies to all its ports, or the one sectionName names; other services and namespaces do not apply', () => {
    const r = inboundPolicyFor(inputs([
      res('AuthorizationPolicy', 'all-ports', { targetRef: { name: 'api' }, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin/*'] } }] }] }),
      res('AuthorizationPolicy', 'grpc-only', { targetRef: { name: 'api', sectionName: 'grpc' }, action: 'AUDIT', rules: [{}] }),
      res('AuthorizationPolicy', 'canary', { targetRef: { name: 'api-v2' }, action: 'DENY', rules: [{ from: [{ source: { namespaces: ['dev'] } }] }] }),
      res('AuthorizationPolicy', 'other-service', { targetRef: { name: 'web' }, action: 'DENY', rules: [{}] }),
      res('AuthorizationPolicy', 'other-namespace', { targetRef: { name: 'api' }, action: 'DENY', rules: [{}] }, 'billing'),
    ]));
    assert.deepEqual(port(r, 'http').authorization.map((a) => a.name), ['all-ports', 'canary']);
    assert.deepEqual(port(r, 'grpc').authorization.map((a) => a.name), ['all-ports', 'canary', 'grpc-only']);
    assert.deepEqual(port(r, 'http').authorization[0], { namespace: 'shop', name: 'all-ports', action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin/*'] } }] }] });
  });

  test('when keys become lower-case header names', () => {
    const r = inboundPolicyFor(inputs([res('AuthorizationPolicy', 'env', { targetRef: { name: 'api' }, action: 'ALLOW', rules: [{ when: [{ key: 'request.headers[X-Env]', values: ['prod'] }] }], defaultAction: 'deny' })]));
    assert.deepEqual(port(r, 'http').authorization[0]?.rules, [{ when: [{ header: 'x-env', values: ['prod'] }] }]);
  });

  test('defaultAction: a port-level one beats a service-level one; among equals the most restrictive; else the mesh', () => {
    const r = inboundPolicyFor(inputs([
      res('AuthorizationPolicy', 'lock', { targetRef: { name: 'api' }, defaultAction: 'authenticated' }),
      res('AuthorizationPolicy', 'lock-harder', { targetRef: { name: 'api-v2' }, defaultAction: 'deny' }),
      res('AuthorizationPolicy', 'open-grpc', { targetRef: { name: 'api', sectionName: 'grpc' }, defaultAction: 'allow' }),
    ]));
    assert.deepEqual([port(r, 'http').defaultAction, port(r, 'http').defaultFrom], ['deny', 'shop/lock-harder']);
    assert.deepEqual([port(r, 'grpc').defaultAction, port(r, 'grpc').defaultFrom], ['allow', 'shop/open-grpc']);
    const policyOnly = port(r, 'http').authorization;
    assert.deepEqual(policyOnly, [], 'a policy with only a default adds no rules');
  });

  test('an ALLOW under defaultAction allow is reported: it changes nothing', () => {
    const r = inboundPolicyFor(inputs([res('AuthorizationPolicy', 'readers', { targetRef: { name: 'api' }, action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] })]));
    assert.ok(r.warnings.some((w) => w.includes('readers') && w.includes('changes nothing')), r.warnings.join('\n'));
    const locked = inboundPolicyFor(inputs([res('AuthorizationPolicy', 'readers', { targetRef: { name: 'api' }, action: 'ALLOW', defaultAction: 'deny', rules: [{}] })]));
    assert.deepEqual(locked.warnings, []);
  });

  test('a route target keeps only the rules that send here, as a predicate on http, http2 and grpc ports', () => {
    const route = res('HTTPRoute', 'checkout', {
      parentRefs: [{ name: 'web' }],
      hostnames: ['shop.example.com'],
      rules: [
        { matches: [{ path: { type: 'PathPrefix', value: '/pay' }, method: 'POST' }], backendRefs: [{ name: 'api', port: 80 }] },
        { matches: [{ path: { type: 'Exact', value: '/cart' } }], backendRefs: [{ name: 'web', port: 80 }] },
      ],
    });
    const r = inboundPolicyFor(inputs([route, res('AuthorizationPolicy', 'pay', { targetRef: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'checkout' }, action: 'DENY', rules: [{}] })]));
    const a = port(r, 'http').authorization[0];
    assert.equal(a?.route?.kind, 'HTTPRoute');
    assert.deepEqual(a?.route?.hostnames, ['shop.example.com']);
    assert.equal(a?.route?.rules.length, 1);
    assert.deepEqual((a?.route?.rules[0] as { matches: unknown }).matches, [{ path: { type: 'PathPrefix', value: '/pay' }, method: 'POST' }]);
    assert.equal(port(r, 'db').authorization.length, 0, 'not on tcp ports');
    // A route with no rule sending here, or none at all: nothing applies (and a missing one is reported).
    const elsewhere = inboundPolicyFor(inputs([route, res('AuthorizationPolicy', 'pay', { targetRef: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'checkout' }, action: 'DENY', rules: [{}] })], { workload: { namespace: 'shop', services: ['web'], ports: PORTS } }));
    assert.equal(port(elsewhere, 'http').authorization[0]?.route?.rules.length, 1, 'web gets the /cart rule only');
    const missing = inboundPolicyFor(inputs([res('RateLimitPolicy', 'gone', { targetRef: { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name: 'nope' }, total: { requestsPerSecond: 1 } })]));
    assert.equal(port(missing, 'grpc').rateLimits.length, 0);
    assert.ok(missing.warnings.some((w) => w.includes('GRPCRoute shop/nope not found')));
  });

  test('rate limits: default burst, overrides, and a global total split over the ready replicas', () => {
    const r = inboundPolicyFor(inputs([
      res('RateLimitPolicy', 'global', { targetRef: { name: 'api' }, total: { requestsPerSecond: 60, burst: 30, global: true } }),
      res('RateLimitPolicy', 'fair', { targetRef: { name: 'api', sectionName: 'http' }, mode: 'shadow', perIdentity: { requestsPerSecond: 2.5 }, overrides: [{ principal: WEB, requestsPerSecond: 10, burst: 20 }] }),
    ], { readyReplicas: (s) => (s === 'shop/api' ? 3 : 0) }));
    assert.deepEqual(port(r, 'http').rateLimits, [
      { namespace: 'shop', name: 'fair', mode: 'shadow', perIdentity: { requestsPerSecond: 2.5, burst: 3 }, overrides: [{ principal: WEB, requestsPerSecond: 10, burst: 20 }] },
      { namespace: 'shop', name: 'global', mode: 'enforce', total: { requestsPerSecond: 20, burst: 10, global: { requestsPerSecond: 60, burst: 30, replicas: 3 } } },
    ]);
    const asked: string[] = [];
    const mine = inboundPolicyFor(inputs([res('RateLimitPolicy', 'global', { targetRef: { name: 'api' }, total: { requestsPerSecond: 60, burst: 10, global: true } })], {
      readyReplicas: (s) => {
        asked.push(s);
        return 3;
      },
    }));
    assert.deepEqual([...new Set(asked)], ['shop/api'], 'asked for the target only');
    assert.deepEqual(port(mine, 'http').rateLimits[0]?.total, { requestsPerSecond: 20, burst: 3, global: { requestsPerSecond: 60, burst: 10, replicas: 3 } });
    const noGlobal = inboundPolicyFor(inputs([res('RateLimitPolicy', 'local', { targetRef: { name: 'api' }, total: { requestsPerSecond: 60 } })], {
      readyReplicas: () => assert.fail('only global limits read readiness'),
    }));
    assert.deepEqual(port(noGlobal, 'http').rateLimits[0]?.total, { requestsPerSecond: 60, burst: 60 });
    const alone = inboundPolicyFor(inputs([res('RateLimitPolicy', 'global', { targetRef: { name: 'api' }, total: { requestsPerSecond: 60, burst: 2, global: true } })], { readyReplicas: () => 0 }));
    assert.deepEqual(port(alone, 'grpc').rateLimits[0]?.total, { requestsPerSecond: 60, burst: 2, global: { requestsPerSecond: 60, burst: 2, replicas: 1 } }, 'no ready replica yet: this one takes the whole');
    const many = inboundPolicyFor(inputs([res('RateLimitPolicy', 'global', { targetRef: { name: 'api' }, total: { requestsPerSecond: 6, burst: 2, global: true } })], { readyReplicas: () => 4 }));
    assert.equal(port(many, 'http').rateLimits[0]?.total?.burst, 1, 'a share of the burst is at least 1');
  });

  test("health checks of the workload's services (their DestinationPolicies) are carried for the exemption", () => {
    const r = inboundPolicyFor(inputs([
      res('DestinationPolicy', 'api', { targetRef: { name: 'api' }, healthCheck: { http: { path: '/healthz' } } }),
      res('DestinationPolicy', 'v2', { targetRef: { name: 'api-v2' }, healthCheck: { grpc: { service: '' } } }),
      res('DestinationPolicy', 'web', { targetRef: { name: 'web' }, healthCheck: { http: { path: '/web-health' } } }),
    ]));
    assert.deepEqual(port(r, 'http').healthCheck, { httpPaths: ['/healthz'], grpc: true });
  });

  test('what it makes is what every proxy accepts (the same compiler the proxy runs)', () => {
    const route = res('GRPCRoute', 'orders', { parentRefs: [{ name: 'api' }], rules: [{ matches: [{ method: { service: 'shop.Orders', method: 'Create' } }], backendRefs: [{ name: 'api', port: 1 }] }] });
    const r = inboundPolicyFor(inputs([
      route,
      res('AuthorizationPolicy', 'a', { targetRef: { name: 'api' }, action: 'ALLOW', defaultAction: 'deny', rules: [{ from: [{ source: { principals: ['*'] } }], to: [{ operation: { grpcServices: ['shop.*'], notPaths: ['/admin/*'] } }], when: [{ key: 'request.headers[x-a]', notValues: ['b'] }] }] }),
      res('AuthorizationPolicy', 'r', { targetRef: { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name: 'orders' }, action: 'AUDIT', rules: [{}] }),
      res('RateLimitPolicy', 'l', { targetRef: { name: 'api' }, total: { requestsPerSecond: 10, global: true }, perIdentity: { requestsPerSecond: 1 } }),
      res('DestinationPolicy', 'api', { targetRef: { name: 'api' }, healthCheck: { http: { path: '/healthz?deep=1' } } }),
    ]));
    const compiled = compileInboundPolicies(JSON.parse(JSON.stringify(r.inbound)));
    assert.ok(compiled.ok, compiled.ok ? '' : JSON.stringify(compiled.problems));
    assert.deepEqual([...compiled.byPort.keys()].sort(), ['db', 'grpc', 'http']);
  });

  test('pure: the same inputs give the same output, in whatever order resources come', () => {
    const list = [
      res('AuthorizationPolicy', 'b', { targetRef: { name: 'api' }, action: 'DENY', rules: [{}] }),
      res('AuthorizationPolicy', 'a', { targetRef: { name: 'api' }, action: 'DENY', rules: [{}] }),
      res('RateLimitPolicy', 'z', { targetRef: { name: 'api' }, total: { requestsPerSecond: 1 } }),
      res('RateLimitPolicy', 'y', { targetRef: { name: 'api' }, total: { requestsPerSecond: 1 } }),
    ];
    const one = inboundPolicyFor(inputs(list));
    assert.deepEqual(inboundPolicyFor(inputs([...list].reverse())), one);
    assert.deepEqual(port(one, 'http').authorization.map((a) => a.name), ['a', 'b']);
  });
});
