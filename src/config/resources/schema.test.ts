import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { durationMs } from './schema.js';
import { problemPath, validateResource } from './validate.js';

const GW = 'gateway.networking.k8s.io/v1';
const TD = 'trellis.dev/v1alpha1';
const parent = [{ group: '', kind: 'Service', name: 'web' }];
const backend = [{ name: 'web', port: 8080 }];

function route(rule: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown {
  return { apiVersion: GW, kind: 'HTTPRoute', metadata: { name: 'r' }, spec: { parentRefs: parent, rules: [{ backendRefs: backend, ...rule }], ...extra } };
}
function grpc(rule: Record<string, unknown>): unknown {
  return { apiVersion: GW, kind: 'GRPCRoute', metadata: { name: 'g' }, spec: { parentRefs: parent, rules: [{ backendRefs: backend, ...rule }] } };
}
function grpcWith(extra: Record<string, unknown>): unknown {
  return { apiVersion: GW, kind: 'GRPCRoute', metadata: { name: 'g' }, spec: { parentRefs: parent, rules: [{ backendRefs: backend }], ...extra } };
}
function policy(spec: Record<string, unknown>): unknown {
  return { apiVersion: TD, kind: 'DestinationPolicy', metadata: { name: 'p' }, spec: { targetRef: { name: 'web' }, ...spec } };
}
function fault(spec: Record<string, unknown>): unknown {
  return { apiVersion: TD, kind: 'FaultInjection', metadata: { name: 'f' }, spec };
}

/** [what, resource, expected path, message fragment] */
const REJECTED: [string, unknown, string, string][] = [
  ['not a mapping', 'x', '', 'expected a mapping'],
  ['unknown kind', { apiVersion: GW, kind: 'TCPRoute', metadata: { name: 'x' }, spec: {} }, 'kind', 'expected one of'],
  ['wrong apiVersion', { apiVersion: TD, kind: 'HTTPRoute', metadata: { name: 'x' }, spec: { parentRefs: parent, rules: [{}] } }, 'apiVersion', GW],
  ['unknown top-level field', { ...(route({}) as object), extra: 1 }, 'extra', 'unknown field'],
  ['bad name', { apiVersion: GW, kind: 'HTTPRoute', metadata: { name: 'Web_1' }, spec: { parentRefs: parent, rules: [{}] } }, 'metadata.name', 'DNS name'],
  ['missing name', { apiVersion: GW, kind: 'HTTPRoute', metadata: {}, spec: { parentRefs: parent, rules: [{}] } }, 'metadata.name', 'required'],
  ['unknown spec field', route({}, { bogus: true }), 'spec.bogus', 'unknown field'],
  ['unknown rule field', route({ colour: 'red' }), 'spec.rules[0].colour', 'unknown field'],
  ['no parentRefs', { apiVersion: GW, kind: 'HTTPRoute', metadata: { name: 'r' }, spec: { parentRefs: [], rules: [{}] } }, 'spec.parentRefs', 'at least 1'],
  ['parent not a Service (GAMMA)', route({}, { parentRefs: [{ kind: 'Gateway', name: 'gw' }] }), 'spec.parentRefs[0].kind', 'Service'],
  ['parent group not core', route({}, { parentRefs: [{ group: 'gateway.networking.k8s.io', kind: 'Service', name: 'gw' }] }), 'spec.parentRefs[0].group', '""'],
  ['path not absolute', route({ matches: [{ path: { type: 'PathPrefix', value: 'api' } }] }), 'spec.rules[0].matches[0].path.value', 'start with /'],
  ['path with //', route({ matches: [{ path: { type: 'Exact', value: '/a//b' } }] }), 'spec.rules[0].matches[0].path.value', '//'],
  ['path with /../', route({ matches: [{ path: { type: 'Exact', value: '/a/../b' } }] }), 'spec.rules[0].matches[0].path.value', '/../'],
  ['bad path type', route({ matches: [{ path: { type: 'Glob', value: '/a' } }] }), 'spec.rules[0].matches[0].path.type', 'expected one of'],
  ['path regex does not compile', route({ matches: [{ path: { type: 'RegularExpression', value: '/a(' } }] }), 'spec.rules[0].matches[0].path.value', 'invalid regular expression'],
  ['path regex with a backreference (JavaScript has them, RE2 does not)', route({ matches: [{ path: { type: 'RegularExpression', value: '/(a)\\1' } }] }), 'spec.rules[0].matches[0].path.value', 'RE2 has no backreferences'],
  ['gRPC method regex with a lookahead', grpc({ matches: [{ method: { type: 'RegularExpression', service: 'shop(?=\\.)' } }] }), 'spec.rules[0].matches[0].method.service', 'lookaround'],
  ['query regex too large for RE2', route({ matches: [{ queryParams: [{ type: 'RegularExpression', name: 'q', value: '(\\pL{100}){10}' }] }] }), 'spec.rules[0].matches[0].queryParams[0].value', 'at most 1000 are allowed'],
  ['hostname in upper case', route({}, { hostnames: ['Echo.example.com'] }), 'spec.hostnames[0]', 'lower-case'],
  ['hostname wildcard not first', route({}, { hostnames: ['echo.*.com'] }), 'spec.hostnames[0]', 'whole first label'],
  ['hostname wildcard inside a label', route({}, { hostnames: ['*echo.example.com'] }), 'spec.hostnames[0]', 'whole first label'],
  ['hostname that is only a wildcard', route({}, { hostnames: ['*'] }), 'spec.hostnames[0]', 'whole first label'],
  ['hostname an IP address', route({}, { hostnames: ['10.0.0.1'] }), 'spec.hostnames[0]', 'IP addresses'],
  ['hostname with a trailing dot', route({}, { hostnames: ['echo.example.com.'] }), 'spec.hostnames[0]', 'trailing dot'],
  ['hostname label too long', route({}, { hostnames: [`${'a'.repeat(64)}.example.com`] }), 'spec.hostnames[0]', 'RFC 1123'],
  ['hostname with an underscore', route({}, { hostnames: ['my_svc.example.com'] }), 'spec.hostnames[0]', 'RFC 1123'],
  ['GRPCRoute hostname with a port', grpcWith({ hostnames: ['orders:50051'] }), 'spec.hostnames[0]', 'RFC 1123'],
  ['redirect hostname with a wildcard', route({ backendRefs: undefined, filters: [{ type: 'RequestRedirect', requestRedirect: { hostname: '*.example.com' } }] }), 'spec.rules[0].filters[0].requestRedirect.hostname', 'precise hostname'],
  ['header regex with a lookaround', route({ matches: [{ headers: [{ type: 'RegularExpression', name: 'x-v', value: '(?<=a)b' }] }] }), 'spec.rules[0].matches[0].headers[0].value', 'lookaround'],
  ['header regex does not compile', route({ matches: [{ headers: [{ type: 'RegularExpression', name: 'x-v', value: '[' }] }] }), 'spec.rules[0].matches[0].headers[0].value', 'invalid regular expression'],
  ['duplicate header match', route({ matches: [{ headers: [{ name: 'X-A', value: '1' }, { name: 'x-a', value: '2' }] }] }), 'spec.rules[0].matches[0].headers[1].name', 'duplicate'],
  ['duplicate query param match', route({ matches: [{ queryParams: [{ name: 'q', value: '1' }, { name: 'q', value: '2' }] }] }), 'spec.rules[0].matches[0].queryParams[1].name', 'duplicate'],
  ['bad header name', route({ matches: [{ headers: [{ name: 'bad header', value: 'v' }] }] }), 'spec.rules[0].matches[0].headers[0].name', 'header name'],
  ['query regex does not compile', route({ matches: [{ queryParams: [{ type: 'RegularExpression', name: 'q', value: '(' }] }] }), 'spec.rules[0].matches[0].queryParams[0].value', 'invalid regular expression'],
  ['bad method', route({ matches: [{ method: 'FETCH' }] }), 'spec.rules[0].matches[0].method', 'expected one of'],
  ['backend port out of range', route({ backendRefs: [{ name: 'web', port: 0 }] }), 'spec.rules[0].backendRefs[0].port', 'at least 1'],
  ['weight too big', route({ backendRefs: [{ name: 'web', port: 80, weight: 1_000_001 }] }), 'spec.rules[0].backendRefs[0].weight', 'at most 1000000'],
  ['negative weight', route({ backendRefs: [{ name: 'web', port: 80, weight: -1 }] }), 'spec.rules[0].backendRefs[0].weight', 'at least 0'],
  ['backend not a Service', route({ backendRefs: [{ kind: 'Pod', name: 'web', port: 80 }] }), 'spec.rules[0].backendRefs[0].kind', 'Service'],
  ['bad duration', route({ timeouts: { request: '10 seconds' } }), 'spec.rules[0].timeouts.request', 'duration'],
  ['backendRequest > request', route({ timeouts: { request: '1s', backendRequest: '2s' } }), 'spec.rules[0].timeouts.backendRequest', 'not be greater'],
  ['retry code out of range', route({ retry: { codes: [200] } }), 'spec.rules[0].retry.codes[0]', 'at least 400'],
  ['retry backoff not a duration', route({ retry: { attempts: 2, backoff: 'soon' } }), 'spec.rules[0].retry.backoff', 'duration'],
  ['filter field missing for type', route({ filters: [{ type: 'RequestHeaderModifier' }] }), 'spec.rules[0].filters[0].requestHeaderModifier', 'required when type is RequestHeaderModifier'],
  ['filter field of another type', route({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'a', value: 'b' }] }, urlRewrite: { hostname: 'x' } }] }), 'spec.rules[0].filters[0].urlRewrite', 'must not be set'],
  ['header modifier empty', route({ filters: [{ type: 'ResponseHeaderModifier', responseHeaderModifier: {} }] }), 'spec.rules[0].filters[0].responseHeaderModifier', 'at least one of'],
  ['header modifier duplicate names', route({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'A', value: '1' }, { name: 'a', value: '2' }] } }] }), 'spec.rules[0].filters[0].requestHeaderModifier.set[1].name', 'duplicate'],
  ['filter type twice', route({ filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'a' } }, { type: 'URLRewrite', urlRewrite: { hostname: 'b' } }] }), 'spec.rules[0].filters[1].type', 'at most once'],
  ['redirect and rewrite together', route({ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }, { type: 'URLRewrite', urlRewrite: { hostname: 'b' } }] }), 'spec.rules[0].filters[1].type', 'cannot be used together'],
  ['redirect status code', route({ filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 307 } }] }), 'spec.rules[0].filters[0].requestRedirect.statusCode', '301 or 302'],
  ['redirect scheme', route({ filters: [{ type: 'RequestRedirect', requestRedirect: { scheme: 'ftp' } }] }), 'spec.rules[0].filters[0].requestRedirect.scheme', 'expected one of'],
  ['ReplaceFullPath without its field', route({ filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replacePrefixMatch: '/x' } } }] }), 'spec.rules[0].filters[0].urlRewrite.path.replaceFullPath', 'required when type is ReplaceFullPath'],
  ['ReplacePrefixMatch with exact match', route({ matches: [{ path: { type: 'Exact', value: '/a' } }], filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/b' } } }] }), 'spec.rules[0].filters', 'PathPrefix'],
  ['rewrite with nothing', route({ filters: [{ type: 'URLRewrite', urlRewrite: {} }] }), 'spec.rules[0].filters[0].urlRewrite', 'hostname or path'],
  ['mirror percent and fraction', route({ filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 's', port: 1 }, percent: 5, fraction: { numerator: 1 } } }] }), 'spec.rules[0].filters[0].requestMirror.fraction', 'only one'],
  ['extensionRef to another kind', route({ filters: [{ type: 'ExtensionRef', extensionRef: { group: 'trellis.dev', kind: 'RateLimit', name: 'x' } }] }), 'spec.rules[0].filters[0].extensionRef.kind', 'FaultInjection'],
  ['grpc method match empty', grpc({ matches: [{ method: { type: 'Exact' } }] }), 'spec.rules[0].matches[0].method', 'service or method'],
  ['grpc bad service name', grpc({ matches: [{ method: { service: 'shop/Catalog' } }] }), 'spec.rules[0].matches[0].method.service', 'gRPC service name'],
  ['grpc method regex', grpc({ matches: [{ method: { type: 'RegularExpression', method: '(' } }] }), 'spec.rules[0].matches[0].method.method', 'invalid regular expression'],
  ['grpc has no redirect filter', grpc({ filters: [{ type: 'RequestRedirect', requestRedirect: {} }] }), 'spec.rules[0].filters[0].type', 'expected one of'],
  ['grpc has no timeouts', grpc({ timeouts: { request: '1s' } }), 'spec.rules[0].timeouts', 'unknown field'],
  ['policy target not a Service', policy({ targetRef: { kind: 'Deployment', name: 'web' } }), 'spec.targetRef.kind', 'Service'],
  ['policy unknown balancer', policy({ loadBalancer: { type: 'random' } }), 'spec.loadBalancer.type', 'expected one of'],
  ['consistent-hash without hashOn', policy({ loadBalancer: { type: 'consistent-hash' } }), 'spec.loadBalancer.hashOn', 'required when type is consistent-hash'],
  ['hashOn with round-robin', policy({ loadBalancer: { type: 'round-robin', hashOn: { header: 'x-user' } } }), 'spec.loadBalancer.hashOn', 'only valid'],
  ['hashOn both header and cookie', policy({ loadBalancer: { type: 'consistent-hash', hashOn: { header: 'x', cookie: { name: 'c' } } } }), 'spec.loadBalancer.hashOn', 'header: NAME'],
  ['pool zero', policy({ connectionPool: { maxConnections: 0 } }), 'spec.connectionPool.maxConnections', 'at least 1'],
  ['ejection percent', policy({ outlierDetection: { maxEjectionPercent: 101 } }), 'spec.outlierDetection.maxEjectionPercent', 'at most 100'],
  ['outlier interval', policy({ outlierDetection: { interval: '10' } }), 'spec.outlierDetection.interval', 'duration'],
  ['retry budget percent', policy({ retryBudget: { percent: 120 } }), 'spec.retryBudget.percent', 'at most 100'],
  ['health check both kinds', policy({ healthCheck: { http: { path: '/h' }, grpc: {} } }), 'spec.healthCheck', 'exactly one'],
  ['health check timeout > interval', policy({ healthCheck: { http: { path: '/h' }, interval: '1s', timeout: '2s' } }), 'spec.healthCheck.timeout', 'not be greater'],
  ['health path relative', policy({ healthCheck: { http: { path: 'h' } } }), 'spec.healthCheck.http.path', 'start with /'],
  ['fault with nothing', fault({}), 'spec', 'delay or abort'],
  ['fault status', fault({ abort: { httpStatus: 99 } }), 'spec.abort.httpStatus', 'at least 200'],
  ['fault percentage', fault({ delay: { fixedDelay: '1s', percentage: 101 } }), 'spec.delay.percentage', 'at most 100'],
  ['fault delay duration', fault({ delay: { fixedDelay: 'long' } }), 'spec.delay.fixedDelay', 'duration'],
];

describe('resource schemas reject with the field path', () => {
  for (const [what, raw, path, fragment] of REJECTED) {
    it(what, () => {
      const v = validateResource(raw);
      assert.equal(v.ok, false, 'accepted');
      if (v.ok) return;
      const got = v.problems.map((p) => `${problemPath(p)}: ${p.message}`);
      assert.ok(
        v.problems.some((p) => problemPath(p) === path && p.message.includes(fragment)),
        `expected "${path}: ...${fragment}..." in ${JSON.stringify(got)}`,
      );
    });
  }
});

describe('resource schemas accept and default', () => {
  it('HTTPRoute: namespace, path match, weight and header type defaults', () => {
    const v = validateResource(route({ matches: [{ headers: [{ name: 'x-v', value: '2' }] }, {}] }));
    assert.ok(v.ok, JSON.stringify(v));
    const spec = v.resource.spec as { rules: { matches: { path: unknown; headers?: { type: string }[] }[]; backendRefs: { weight: number }[] }[] };
    assert.equal(v.resource.metadata.namespace, 'default');
    assert.deepEqual(spec.rules[0]?.matches[0]?.path, { type: 'PathPrefix', value: '/' });
    assert.equal(spec.rules[0]?.matches[0]?.headers?.[0]?.type, 'Exact');
    assert.equal(spec.rules[0]?.backendRefs[0]?.weight, 1);
  });
  it('every filter type, retry, timeouts and a FaultInjection ExtensionRef', () => {
    const v = validateResource(
      route({
        matches: [{ path: { type: 'PathPrefix', value: '/api' }, method: 'GET', queryParams: [{ name: 'v', value: '2' }] }],
        filters: [
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: '1' }], add: [{ name: 'x-b', value: '2' }], remove: ['x-c'] } },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['server'] } },
          { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } },
          { type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', port: 80 }, percent: 10 } },
          { type: 'ExtensionRef', extensionRef: { group: 'trellis.dev', kind: 'FaultInjection', name: 'slow' } },
        ],
        timeouts: { request: '10s', backendRequest: '2s' },
        retry: { codes: [503], attempts: 2, backoff: '100ms' },
      }),
    );
    assert.ok(v.ok, JSON.stringify(v));
  });
  it('GRPCRoute, DestinationPolicy (with defaults) and FaultInjection', () => {
    assert.ok(validateResource(grpc({ matches: [{ method: { service: 'shop.Catalog', method: 'List' }, headers: [{ name: 'x-tenant', value: 'a' }] }] })).ok);
    const p = validateResource(policy({ loadBalancer: { type: 'consistent-hash', hashOn: { cookie: { name: 'sid', ttl: '1h' } } }, outlierDetection: {}, healthCheck: { grpc: {} } }));
    assert.ok(p.ok, JSON.stringify(p));
    assert.deepEqual((p.resource.spec as { outlierDetection: unknown }).outlierDetection, { consecutive5xx: 5, consecutiveConnectFailures: 5, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 });
    const f = validateResource(fault({ delay: { fixedDelay: '1s' }, abort: { httpStatus: 503, percentage: 5 } }));
    assert.ok(f.ok);
    assert.equal((f.resource.spec as { delay: { percentage: number } }).delay.percentage, 100);
  });
  it('hostnames: precise and wildcard names, on HTTPRoute and GRPCRoute', () => {
    const hostnames = ['echo.example.com', '*.example.com', '*.a.b.example.com', 'localhost', 'xn--bcher-kva.example', '0x.example'];
    const v = validateResource(route({}, { hostnames }));
    assert.ok(v.ok, JSON.stringify(v));
    assert.deepEqual((v.resource.spec as { hostnames: string[] }).hostnames, hostnames);
    assert.ok(validateResource(grpcWith({ hostnames: ['orders.example.com'] })).ok);
  });
  it('RE2 patterns JavaScript would backtrack on are accepted (the old heuristic refused them)', () => {
    const v = validateResource(route({ matches: [{ path: { type: 'RegularExpression', value: '/(a+)+x' } }, { headers: [{ type: 'RegularExpression', name: 'x', value: '(a|aa)*' }] }] }));
    assert.ok(v.ok, JSON.stringify(v));
  });
  it('backendRefs and mirror backends without a port (Trellis resolves the port by name)', () => {
    const v = validateResource(
      route({
        backendRefs: [{ name: 'web' }, { name: 'web-v2', port: 8080, weight: 0 }],
        filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow' } } }],
      }),
    );
    assert.ok(v.ok, JSON.stringify(v));
    assert.ok(validateResource(grpc({ backendRefs: [{ name: 'orders' }] })).ok);
  });
  it('durations in Gateway API format', () => {
    assert.equal(durationMs('1h2m3s4ms'), 3_723_004);
    assert.equal(durationMs('500ms'), 500);
  });
});
