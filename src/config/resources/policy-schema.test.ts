import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, formatIssue } from '../issues.js';
import { parseResourcesText } from './load.js';
import { problemPath, validateResource } from './validate.js';

const TD = 'trellis.dev/v1alpha1';
const web = { name: 'web' };
const authz = (spec: Record<string, unknown>): unknown => ({ apiVersion: TD, kind: 'AuthorizationPolicy', metadata: { name: 'a', namespace: 'shop' }, spec: { targetRef: web, ...spec } });
const limit = (spec: Record<string, unknown>): unknown => ({ apiVersion: TD, kind: 'RateLimitPolicy', metadata: { name: 'l', namespace: 'shop' }, spec: { targetRef: web, ...spec } });
const P = 'spiffe://shop.local/ns/shop/sa/web';

describe('AuthorizationPolicy and RateLimitPolicy: accepted', () => {
  const ACCEPTED: [string, unknown][] = [
    ['every field of a rule', authz({
      action: 'ALLOW',
      rules: [{
        from: [{ source: { principals: [P, 'spiffe://shop.local/ns/ops/*', '*/sa/batch'], notPrincipals: ['*'], namespaces: ['shop'], notNamespaces: ['dev-*'], serviceAccounts: ['web'], notServiceAccounts: ['*-test'] } }],
        to: [{ operation: { methods: ['GET'], notMethods: ['DELETE'], paths: ['/api/*', '/v1*', '*.json', '/exact'], notPaths: ['/api/admin/*'], ports: ['http'], notPorts: ['grpc'], grpcServices: ['shop.*'], grpcMethods: ['Get*'] } }],
        when: [{ key: 'request.headers[X-Env]', values: ['prod'], notValues: ['canary*'] }],
      }],
    })],
    ['a rule that matches everything', authz({ action: 'DENY', rules: [{}] })],
    ['only a default', authz({ defaultAction: 'deny' })],
    ['a default with rules', authz({ action: 'ALLOW', defaultAction: 'authenticated', rules: [{ to: [{ operation: { methods: ['GET'] } }] }] })],
    ['one port of a service', authz({ targetRef: { kind: 'Service', name: 'web', sectionName: 'grpc' }, action: 'AUDIT', rules: [{}] })],
    ['a route target', authz({ targetRef: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'checkout' }, action: 'DENY', rules: [{}] })],
    ['every rate-limit field', limit({ mode: 'shadow', total: { requestsPerSecond: 100, burst: 20, global: true }, perIdentity: { requestsPerSecond: 0.5, burst: 1 }, overrides: [{ principal: P, requestsPerSecond: 10 }] })],
    ['a GRPCRoute target', limit({ targetRef: { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name: 'orders' }, perIdentity: { requestsPerSecond: 5 } })],
  ];
  for (const [what, r] of ACCEPTED) {
    it(what, () => {
      const v = validateResource(r);
      assert.ok(v.ok, v.ok ? '' : v.problems.map((p) => `${problemPath(p)}: ${p.message}`).join('; '));
    });
  }

  it('defaults: mode enforce, burst one second of requests, global false', () => {
    const v = validateResource(limit({ total: { requestsPerSecond: 2.5 } }));
    assert.ok(v.ok);
    assert.deepEqual(v.resource.spec, { targetRef: { group: '', kind: 'Service', name: 'web' }, mode: 'enforce', total: { requestsPerSecond: 2.5, global: false } });
  });
});

/** [what, resource, expected path, message fragment] */
const REJECTED: [string, unknown, string, string][] = [
  ['rules without action', authz({ rules: [{}] }), 'spec.action', 'required with rules'],
  ['action without rules', authz({ action: 'DENY' }), 'spec.rules', 'matches nothing'],
  ['neither rules nor default', authz({}), 'spec', 'needs rules'],
  ['unknown action', authz({ action: 'PERMIT', rules: [{}] }), 'spec.action', 'expected one of'],
  ['unknown default', authz({ defaultAction: 'maybe' }), 'spec.defaultAction', 'expected one of'],
  ['default on a route', authz({ targetRef: { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'r' }, defaultAction: 'deny' }), 'spec.defaultAction', 'targets a Service'],
  ['route target in the core group', authz({ targetRef: { kind: 'HTTPRoute', name: 'r' }, action: 'DENY', rules: [{}] }), 'spec.targetRef.group', 'gateway.networking.k8s.io'],
  ['port of a route', authz({ targetRef: { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute', name: 'r', sectionName: 'grpc' }, action: 'DENY', rules: [{}] }), 'spec.targetRef.sectionName', 'only a Service'],
  ['target namespace (policies are local)', authz({ targetRef: { name: 'web', namespace: 'other' }, defaultAction: 'deny' }), 'spec.targetRef.namespace', 'unknown field'],
  ['Istio principal without the scheme', authz({ action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/shop/sa/web'] } }] }] }), 'spec.rules[0].from[0].source.principals[0]', 'spiffe:// scheme'],
  ['glob in the middle', authz({ action: 'ALLOW', rules: [{ from: [{ source: { principals: ['spiffe://td/ns/*/sa/web'] } }] }] }), 'spec.rules[0].from[0].source.principals[0]', 'first or the last'],
  ['empty source', authz({ action: 'ALLOW', rules: [{ from: [{ source: {} }] }] }), 'spec.rules[0].from[0].source', 'at least one field'],
  ['empty list', authz({ action: 'ALLOW', rules: [{ to: [{ operation: { paths: [] } }] }] }), 'spec.rules[0].to[0].operation.paths', 'at least one value'],
  ['path that is never seen', authz({ action: 'DENY', rules: [{ to: [{ operation: { paths: ['/a/../admin'] } }] }] }), 'spec.rules[0].to[0].operation.paths[0]', 'becomes "/admin"'],
  ['path with an encoded slash', authz({ action: 'DENY', rules: [{ to: [{ operation: { notPaths: ['/a%2Fb'] } }] }] }), 'spec.rules[0].to[0].operation.notPaths[0]', 'encoded slash'],
  ['relative path', authz({ action: 'DENY', rules: [{ to: [{ operation: { paths: ['admin'] } }] }] }), 'spec.rules[0].to[0].operation.paths[0]', 'start with'],
  ['bad method', authz({ action: 'DENY', rules: [{ to: [{ operation: { methods: ['GET POST'] } }] }] }), 'spec.rules[0].to[0].operation.methods[0]', 'HTTP method'],
  ['port number for a port name', authz({ action: 'DENY', rules: [{ to: [{ operation: { ports: ['8080x_'] } }] }] }), 'spec.rules[0].to[0].operation.ports[0]', 'port name'],
  ['unknown operation field', authz({ action: 'DENY', rules: [{ to: [{ operation: { hosts: ['a'] } }] }] }), 'spec.rules[0].to[0].operation.hosts', 'unknown field'],
  ['condition on something else than a header', authz({ action: 'DENY', rules: [{ when: [{ key: 'source.ip', values: ['10.0.0.1'] }] }] }), 'spec.rules[0].when[0].key', 'request.headers'],
  ['condition on a mesh header', authz({ action: 'DENY', rules: [{ when: [{ key: 'request.headers[trellis-peer-identity]', values: ['x'] }] }] }), 'spec.rules[0].when[0].key', 'belong to the mesh'],
  ['condition without values', authz({ action: 'DENY', rules: [{ when: [{ key: 'request.headers[x]' }] }] }), 'spec.rules[0].when[0]', 'values or notValues'],
  ['no limit', limit({}), 'spec', 'needs total, perIdentity or overrides'],
  ['zero rate', limit({ total: { requestsPerSecond: 0 } }), 'spec.total.requestsPerSecond', 'above 0'],
  ['fractional burst', limit({ perIdentity: { requestsPerSecond: 1, burst: 2.5 } }), 'spec.perIdentity.burst', 'integer'],
  ['unknown mode', limit({ mode: 'log', total: { requestsPerSecond: 1 } }), 'spec.mode', 'expected one of'],
  ['override glob', limit({ overrides: [{ principal: 'spiffe://td/ns/shop/*', requestsPerSecond: 1 }] }), 'spec.overrides[0].principal', 'whole workload SPIFFE ID'],
  ['override twice', limit({ overrides: [{ principal: P, requestsPerSecond: 1 }, { principal: P, requestsPerSecond: 2 }] }), 'spec.overrides[1].principal', 'duplicate'],
  ['global on perIdentity', limit({ perIdentity: { requestsPerSecond: 1, global: true } }), 'spec.perIdentity.global', 'unknown field'],
];

describe('AuthorizationPolicy and RateLimitPolicy: refused, each problem at its field', () => {
  for (const [what, r, path, fragment] of REJECTED) {
    it(what, () => {
      const v = validateResource(r);
      assert.equal(v.ok, false);
      if (v.ok) return;
      const p = v.problems.find((x) => problemPath(x) === path);
      assert.ok(p !== undefined, `no problem at ${path}: ${v.problems.map((x) => `${problemPath(x)}: ${x.message}`).join('; ')}`);
      assert.ok(p.message.includes(fragment), p.message);
    });
  }
});

it('a YAML file reports file:line:col: kind/name: field: reason', () => {
  const text = `apiVersion: trellis.dev/v1alpha1
kind: AuthorizationPolicy
metadata:
  name: lock
spec:
  targetRef: {name: web}
  action: DENY
  rules:
    - to:
        - operation:
            paths: ["/ok", "//admin"]
---
apiVersion: trellis.dev/v1alpha1
kind: RateLimitPolicy
metadata:
  name: slow
spec:
  targetRef: {name: web}
  total:
    requestsPerSecond: -1
`;
  let issues: string[] = [];
  try {
    parseResourcesText(text, 'policies.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    issues = err.issues.map(formatIssue);
  }
  assert.equal(issues.length, 2, issues.join('\n'));
  assert.match(issues[0] ?? '', /^policies\.yaml:11:\d+: AuthorizationPolicy\/lock: spec\.rules\[0\]\.to\[0\]\.operation\.paths\[1\]: .*becomes "\/admin"/);
  assert.match(issues[1] ?? '', /^policies\.yaml:20:\d+: RateLimitPolicy\/slow: spec\.total\.requestsPerSecond: expected a number above 0/);
});
