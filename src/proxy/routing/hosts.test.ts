import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpRouteRuleConfig, RouteConfig } from '../../api/snapshot.js';
import { normalizeRequestHost } from './hosts.js';
import { errorsOf, grpc, hit, http, table, to } from './test-helpers.js';

/** An HTTPRoute with hostnames whose one rule sends to `tag`. */
function named(name: string, hostnames: string[] | undefined, rule: HttpRouteRuleConfig = to(name), createdAt = 0): RouteConfig {
  return { ...http(name, [rule], createdAt), ...(hostnames !== undefined ? { hostnames } : {}) };
}

const onHost = (host: string): string[] => ['host', host];

test('exact hostname: only that host; requests for other hosts get no route (404 no-route)', () => {
  const t = table([named('echo', ['echo.example.com'])]);
  assert.equal(hit(t, 'GET', '/', onHost('echo.example.com')), 'echo');
  assert.equal(hit(t, 'GET', '/', onHost('other.example.com')), null);
  assert.equal(hit(t, 'GET', '/', onHost('example.com')), null);
  assert.equal(hit(t, 'GET', '/', onHost('x.echo.example.com')), null);
  assert.equal(hit(t, 'GET', '/', []), null, 'no Host at all matches no hostname');
});

test('wildcard hostname: one or more labels before the suffix, never the bare suffix', () => {
  const t = table([named('wild', ['*.example.com'])]);
  for (const host of ['a.example.com', 'a.b.example.com', 'x-1.y.z.example.com']) assert.equal(hit(t, 'GET', '/', onHost(host)), 'wild', host);
  for (const host of ['example.com', 'aexample.com', '.example.com', 'a.example.org', 'example.com.evil']) assert.equal(hit(t, 'GET', '/', onHost(host)), null, host);
});

test('the request host is compared case-insensitively, without its port, without a trailing dot', () => {
  const t = table([named('echo', ['echo.example.com']), named('wild', ['*.shop.local'])]);
  for (const host of ['ECHO.Example.COM', 'echo.example.com:8080', 'echo.example.com.', 'Echo.Example.Com.:80']) assert.equal(hit(t, 'GET', '/', onHost(host)), 'echo', host);
  for (const host of ['API.Shop.Local', 'api.shop.local.:443']) assert.equal(hit(t, 'GET', '/', onHost(host)), 'wild', host);
  assert.equal(hit(t, 'GET', '/', onHost('echo.example.com..')), null, 'only one trailing dot is ignored');
});

test('precedence: an exact hostname, then the longest wildcard, then routes without hostnames, before path rules', () => {
  const t = table([
    // The hostname-less route has the most specific path match and is the oldest: it still loses.
    named('any', undefined, to('any', { matches: [{ path: { type: 'Exact', value: '/api/v1' } }] }), 0),
    named('short-wild', ['*.example.com'], to('short-wild'), 1),
    named('long-wild', ['*.api.example.com'], to('long-wild'), 2),
    named('exact', ['v1.api.example.com'], to('exact'), 3),
  ]);
  assert.equal(hit(t, 'GET', '/api/v1', onHost('v1.api.example.com')), 'exact');
  assert.equal(hit(t, 'GET', '/api/v1', onHost('v2.api.example.com')), 'long-wild');
  assert.equal(hit(t, 'GET', '/api/v1', onHost('www.example.com')), 'short-wild');
  assert.equal(hit(t, 'GET', '/api/v1', onHost('elsewhere.test')), 'any');
  assert.equal(hit(t, 'GET', '/other', onHost('elsewhere.test')), null);
});

test('a request no rule of the more specific route matches falls through to less specific ones', () => {
  const t = table([
    named('admin', ['echo.example.com'], to('admin', { matches: [{ path: { type: 'PathPrefix', value: '/admin' } }] })),
    named('wild', ['*.example.com'], to('wild', { matches: [{ path: { type: 'PathPrefix', value: '/static' } }] })),
    named('rest', undefined),
  ]);
  assert.equal(hit(t, 'GET', '/admin/x', onHost('echo.example.com')), 'admin');
  assert.equal(hit(t, 'GET', '/static/a.css', onHost('echo.example.com')), 'wild');
  assert.equal(hit(t, 'GET', '/other', onHost('echo.example.com')), 'rest');
  assert.equal(hit(t, 'GET', '/admin/x', onHost('foo.example.com')), 'rest', 'admin is only for echo.example.com');
});

test('equal hostname specificity: the usual rules decide (path, then age, then name)', () => {
  const t = table([
    named('b', ['echo.example.com'], to('b', { matches: [{ path: { type: 'PathPrefix', value: '/api' } }] }), 5),
    named('a', ['echo.example.com', '*.example.com'], to('a'), 9),
    named('c', ['echo.example.com'], to('c'), 1),
  ]);
  assert.equal(hit(t, 'GET', '/api/x', onHost('echo.example.com')), 'b', 'longer PathPrefix wins among exact-host routes');
  assert.equal(hit(t, 'GET', '/', onHost('echo.example.com')), 'c', 'then the oldest route');
  assert.equal(hit(t, 'GET', '/', onHost('www.example.com')), 'a', 'a route matches through its wildcard as well');
});

test('an absolute-form target names the host (RFC 9112: it overrides the Host field)', () => {
  const t = table([named('echo', ['echo.example.com'])]);
  assert.equal(hit(t, 'GET', 'http://echo.example.com:8080/x?y=1', onHost('other.example.com')), 'echo');
  assert.equal(hit(t, 'GET', 'http://user@echo.example.com/x', []), 'echo', 'userinfo is not the host');
  assert.equal(hit(t, 'GET', 'http://other.example.com/x', onHost('echo.example.com')), null);
  assert.equal(hit(t, 'GET', 'http://echo.example.com?q=1', []), 'echo', 'no path: "/"');
});

test('GRPCRoute hostnames work the same way; HTTPRoute rules still follow for gRPC requests', () => {
  const t = table([
    { ...grpc('orders', [{ matches: [{ method: { service: 'shop.Orders' } }], backends: [{ cluster: 'orders' }] }]), hostnames: ['orders.example.com'] },
    named('fallback', undefined),
  ]);
  const h = (host: string): string[] => ['content-type', 'application/grpc', 'host', host];
  assert.equal(hit(t, 'POST', '/shop.Orders/Create', h('orders.example.com:50051')), 'orders');
  assert.equal(hit(t, 'POST', '/shop.Orders/Create', h('billing.example.com')), 'fallback');
});

test('hostnames do not cost a Host lookup when no route has them, and a table without them ignores Host', () => {
  const t = table([named('r', undefined)]);
  assert.equal(t.matchesHosts, false);
  assert.equal(hit(t, 'GET', '/', onHost('anything.example')), 'r');
  assert.equal(table([named('r', ['a.example'])]).matchesHosts, true);
});

test('routeNormalized: the same decisions from an already split and normalized request', () => {
  const t = table([
    named('echo', ['echo.example.com'], to('echo', { matches: [{ path: { type: 'Exact', value: '/admin' }, queryParams: [{ name: 'v', value: '2' }] }] })),
    named('rx', undefined, to('rx', { matches: [{ path: { type: 'RegularExpression', value: '/.*.*.*.*x' } }] })),
  ]);
  const cluster = (m: ReturnType<typeof t.routeNormalized>): string | null => m?.rule.backends[0]?.cluster ?? null;
  assert.equal(cluster(t.routeNormalized('GET', '/admin', 'a=1&v=2', 'Echo.Example.com:80', [])), 'echo');
  assert.equal(cluster(t.routeNormalized('GET', '/admin', '', 'echo.example.com', [])), null, 'query param missing');
  assert.equal(cluster(t.routeNormalized('GET', '/admin', 'v=2', undefined, [])), null, 'no host');
  assert.equal(cluster(t.routeNormalized('GET', `/${'a'.repeat(400)}`, '', undefined, [])), null, 'the regex attack completes');
  assert.equal(cluster(t.routeNormalized('GET', `/${'a'.repeat(400)}x`, '', undefined, [])), 'rx');
  assert.equal(cluster(t.routeNormalized('GET', '', '', undefined, [])), null, 'an empty path is "/"');
});

test('normalizeRequestHost', () => {
  assert.equal(normalizeRequestHost('Echo.Example.COM.:8080'), 'echo.example.com');
  assert.equal(normalizeRequestHost('echo'), 'echo');
  assert.equal(normalizeRequestHost('[::1]:8080'), '[::1]');
  assert.equal(normalizeRequestHost(''), '');
  assert.equal(normalizeRequestHost('.'), '');
});

test('invalid hostnames in a route table are refused with their field path', () => {
  assert.deepEqual(
    errorsOf([named('r', ['ok.example', 'Bad_Host', '*.', 'a.*.b', '127.0.0.1'])]).map((e) => e.path),
    ['routes[0].hostnames[1]', 'routes[0].hostnames[2]', 'routes[0].hostnames[3]', 'routes[0].hostnames[4]'],
  );
});
