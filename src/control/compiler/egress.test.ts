import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Resource } from '../../api/resources.js';
import { validateResource } from '../../config/resources/validate.js';
import { compileEgress } from './egress.js';

function resource(raw: unknown): Resource {
  const v = validateResource(raw);
  assert.ok(v.ok, v.ok ? '' : JSON.stringify(v.problems));
  return v.resource;
}

const TD = 'trellis.dev/v1alpha1';
const ext = (name: string, spec: Record<string, unknown>, namespace = 'shop'): Resource => resource({ apiVersion: TD, kind: 'ExternalService', metadata: { name, namespace }, spec });
const authz = (name: string, target: string, spec: Record<string, unknown>): Resource =>
  resource({ apiVersion: TD, kind: 'AuthorizationPolicy', metadata: { name, namespace: 'shop' }, spec: { targetRef: { group: 'trellis.dev', kind: 'ExternalService', name: target }, ...spec } });

test('no ExternalService: nothing (the snapshot leaves egress out)', () => {
  assert.deepEqual(compileEgress([]), []);
});

test('each ExternalService becomes one sorted entry; static endpoints take the service port by default', () => {
  const out = compileEgress([
    ext('payments', { hostname: 'api.payments.example', port: 443, protocol: 'TLS', endpoints: [{ address: '127.0.0.1' }, { address: '::1', port: 8443 }] }),
    ext('docs', { hostname: '*.docs.example', port: 80, protocol: 'HTTP' }),
  ]);
  assert.deepEqual(out, [
    { namespace: 'shop', name: 'docs', hostname: '*.docs.example', port: 80, protocol: 'http' },
    { namespace: 'shop', name: 'payments', hostname: 'api.payments.example', port: 443, protocol: 'tls', endpoints: [{ host: '127.0.0.1', port: 443 }, { host: '::1', port: 8443 }] },
  ]);
});

test('policies targeting an ExternalService of their namespace become its caller-side policy; the most restrictive default wins', () => {
  const [e] = compileEgress([
    ext('payments', { hostname: 'api.payments.example', port: 443, protocol: 'TLS' }),
    authz('only-checkout', 'payments', { action: 'ALLOW', defaultAction: 'deny', rules: [{ from: [{ source: { serviceAccounts: ['checkout'] } }] }] }),
    authz('audit', 'payments', { action: 'AUDIT', rules: [{}] }),
    authz('other', 'elsewhere', { action: 'DENY', rules: [{}] }),
  ]);
  assert.deepEqual(e?.policy, {
    port: 'egress',
    defaultAction: 'deny',
    defaultFrom: 'shop/only-checkout',
    authorization: [
      { namespace: 'shop', name: 'audit', action: 'AUDIT', rules: [{}] },
      { namespace: 'shop', name: 'only-checkout', action: 'ALLOW', rules: [{ from: [{ source: { serviceAccounts: ['checkout'] } }] }] },
    ],
    rateLimits: [],
  });
});

test('RateLimitPolicies on an ExternalService become its limits, per calling proxy', () => {
  const [e] = compileEgress([
    ext('payments', { hostname: 'api.payments.example', port: 443, protocol: 'TLS' }),
    resource({ apiVersion: TD, kind: 'RateLimitPolicy', metadata: { name: 'calm', namespace: 'shop' }, spec: { targetRef: { group: 'trellis.dev', kind: 'ExternalService', name: 'payments' }, total: { requestsPerSecond: 5 } } }),
  ]);
  assert.deepEqual(e?.policy?.rateLimits, [{ namespace: 'shop', name: 'calm', mode: 'enforce', total: { requestsPerSecond: 5, burst: 5 } }]);
  assert.equal(e?.policy?.defaultAction, 'allow');
});
