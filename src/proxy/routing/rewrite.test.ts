import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HeaderModifierConfig, HttpRouteRuleConfig } from '../../api/snapshot.js';
import { applyHeaderModifier, applyUrlRewrite, redirectLocation, rewritePath } from './rewrite.js';
import { http, table } from './test-helpers.js';
import type { CompiledHeaderModifier, RouteMatch } from './types.js';

function matchFor(rule: HttpRouteRuleConfig, target: string): RouteMatch {
  const m = table([http('r', [rule])]).route('GET', target, []);
  assert.ok(m !== null, `no match for ${target}`);
  return m;
}

function rewriteWith(prefix: string, replacement: string, target: string): string {
  const m = matchFor(
    {
      matches: [{ path: { type: 'PathPrefix', value: prefix } }],
      filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: replacement } } }],
      backends: [{ cluster: 'a' }],
    },
    target,
  );
  return applyUrlRewrite(target, undefined, [], m.filters.rewrite!, m).target;
}

test('ReplacePrefixMatch: the Gateway API table', () => {
  const cases: [prefix: string, replacement: string, request: string, expected: string][] = [
    ['/foo', '/bar', '/foo/x', '/bar/x'],
    ['/foo', '/bar', '/foo', '/bar'],
    ['/foo', '/bar', '/foo/', '/bar/'],
    ['/foo', '/xyz/', '/foo/bar', '/xyz/bar'],
    ['/foo/', '/xyz', '/foo/bar', '/xyz/bar'],
    ['/foo/', '/xyz/', '/foo/bar', '/xyz/bar'],
    ['/foo', '', '/foo/bar', '/bar'],
    ['/foo', '', '/foo/', '/'],
    ['/foo', '', '/foo', '/'],
    ['/foo', '/', '/foo/', '/'],
    ['/foo', '/', '/foo', '/'],
    ['/foo', '/', '/foo/bar', '/bar'],
    // conformance suite: httproute-rewrite-path
    ['/prefix/one', '/one', '/prefix/one/two', '/one/two'],
    ['/strip-prefix', '/', '/strip-prefix/three', '/three'],
    ['/strip-prefix', '/', '/strip-prefix', '/'],
    ['/', '/api', '/x/y', '/api/x/y'],
    // the query string is kept
    ['/foo', '/bar', '/foo/x?a=1&b', '/bar/x?a=1&b'],
  ];
  for (const [prefix, replacement, request, expected] of cases) {
    assert.equal(rewriteWith(prefix, replacement, request), expected, `${prefix} -> ${replacement}: ${request}`);
  }
});

test('ReplaceFullPath keeps the query; absolute-form targets become origin-form', () => {
  assert.equal(rewritePath('/any/thing', { type: 'ReplaceFullPath', value: '/one' }, undefined), '/one');
  const m = matchFor(
    { filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/full' } } }], backends: [{ cluster: 'a' }] },
    '/x',
  );
  assert.equal(applyUrlRewrite('/a/b?q=1', undefined, [], m.filters.rewrite!, m).target, '/full?q=1');
  assert.equal(applyUrlRewrite('http://h:80/a/b?q=1', undefined, [], m.filters.rewrite!, m).target, '/full?q=1');
});

test('URLRewrite hostname replaces the host field (first one, others dropped) or adds it', () => {
  const m = matchFor({ filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'new.example' } }], backends: [{ cluster: 'a' }] }, '/');
  const r = applyUrlRewrite('/p', 'old', ['a', '1', 'host', 'old', 'b', '2', 'host', 'dup'], m.filters.rewrite!, m);
  assert.deepEqual(r, { target: '/p', headers: ['a', '1', 'host', 'new.example', 'b', '2'], host: 'new.example' });
  assert.deepEqual(applyUrlRewrite('/p', undefined, ['a', '1'], m.filters.rewrite!, m).headers, ['a', '1', 'host', 'new.example']);
});

function modifier(cfg: HeaderModifierConfig): CompiledHeaderModifier {
  const m = matchFor({ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: cfg }], backends: [{ cluster: 'a' }] }, '/');
  return m.filters.requestHeaders!;
}

test('header modifier: set in place (dropping repeats) or appended, add appended, remove all; names lower-cased', () => {
  const mod = modifier({
    set: [{ name: 'X-Set', value: 'new' }, { name: 'X-Absent', value: 'v' }],
    add: [{ name: 'X-Add', value: 'two' }],
    remove: ['X-Gone'],
  });
  const input = ['x-gone', '1', 'x-set', 'old', 'x-add', 'one', 'x-keep', 'k', 'x-set', 'old2', 'x-gone', '2'];
  const before = [...input];
  assert.deepEqual(applyHeaderModifier(input, mod), ['x-set', 'new', 'x-add', 'one', 'x-keep', 'k', 'x-absent', 'v', 'x-add', 'two']);
  assert.deepEqual(input, before, 'input untouched');
});

test('header modifier: the same modifier applied twice gives the same result (set idempotent, add appends)', () => {
  const mod = modifier({ set: [{ name: 'a', value: '1' }], add: [{ name: 'b', value: '2' }] });
  const once = applyHeaderModifier([], mod);
  assert.deepEqual(once, ['a', '1', 'b', '2']);
  assert.deepEqual(applyHeaderModifier(once, mod), ['a', '1', 'b', '2', 'b', '2']);
});

test('redirect Location: scheme, host, port defaults and path modifiers', () => {
  const red = (r: NonNullable<Extract<NonNullable<HttpRouteRuleConfig['filters']>[number], { type: 'RequestRedirect' }>['requestRedirect']>, target: string, host: string, prefix = '/') => {
    const m = matchFor({ matches: [{ path: { type: 'PathPrefix', value: prefix } }], filters: [{ type: 'RequestRedirect', requestRedirect: r }], backends: [] }, target);
    assert.equal(m.filters.redirect?.statusCode, r.statusCode ?? 302);
    return redirectLocation(target, host, m.filters.redirect!, m);
  };
  assert.equal(red({ scheme: 'https' }, '/a?x=1', 'svc:8080'), 'https://svc/a?x=1', 'scheme change drops the port');
  assert.equal(red({ hostname: 'other' }, '/a', 'svc:8080'), 'http://other:8080/a');
  assert.equal(red({ port: 80 }, '/a', 'svc:8080'), 'http://svc/a', 'default port omitted');
  assert.equal(red({ scheme: 'https', port: 8443, statusCode: 301 }, '/a', 'svc'), 'https://svc:8443/a');
  assert.equal(red({ path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } }, '/old/x?y', 'svc', '/old'), 'http://svc/new/x?y');
  assert.equal(red({ path: { type: 'ReplaceFullPath', replaceFullPath: '/z' } }, '/old/x', '[::1]:81'), 'http://[::1]:81/z');
});
