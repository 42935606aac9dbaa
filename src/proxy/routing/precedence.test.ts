import { test } from 'node:test';
import assert from 'node:assert/strict';
import { grpc, hit, http, table, to } from './test-helpers.js';

// Each test has two candidates that both match the request and differ in exactly one
// tie-breaker; the one listed (and created) first is the one that should lose, so a table that
// only kept config order would fail.

test('1. Exact path beats a longer PathPrefix and a regex', () => {
  const t = table([
    http('a', [to('prefix', { matches: [{ path: { type: 'PathPrefix', value: '/foo' }, headers: [{ name: 'x', value: '1' }] }] })]),
    http('b', [to('regex', { matches: [{ path: { type: 'RegularExpression', value: '/foo' }, method: 'GET' }] })]),
    http('c', [to('exact', { matches: [{ path: { type: 'Exact', value: '/foo' } }] })]),
  ]);
  assert.equal(hit(t, 'GET', '/foo', ['x', '1']), 'exact');
  assert.equal(hit(t, 'GET', '/foo/bar', ['x', '1']), 'prefix', 'PathPrefix beats a regex');
});

test('2. the longest PathPrefix wins over method/header/query matches', () => {
  const t = table([
    http('a', [to('short', { matches: [{ path: { type: 'PathPrefix', value: '/foo' }, method: 'GET', headers: [{ name: 'x', value: '1' }] }] })]),
    http('b', [to('long', { matches: [{ path: { type: 'PathPrefix', value: '/foo/bar' } }] })]),
  ]);
  assert.equal(hit(t, 'GET', '/foo/bar/baz', ['x', '1']), 'long');
  assert.equal(hit(t, 'GET', '/foo/baz', ['x', '1']), 'short');
});

test('3. a method match beats more header matches', () => {
  const t = table([
    http('a', [to('headers', { matches: [{ headers: [{ name: 'x', value: '1' }, { name: 'y', value: '2' }] }] })]),
    http('b', [to('method', { matches: [{ method: 'GET' }] })]),
  ]);
  assert.equal(hit(t, 'GET', '/', ['x', '1', 'y', '2']), 'method');
  assert.equal(hit(t, 'POST', '/', ['x', '1', 'y', '2']), 'headers');
});

test('4. more header matches beat more query matches', () => {
  const t = table([
    http('a', [to('query', { matches: [{ queryParams: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }] }] })]),
    http('b', [to('two-headers', { matches: [{ headers: [{ name: 'x', value: '1' }, { name: 'y', value: '2' }] }] })]),
    http('c', [to('one-header', { matches: [{ headers: [{ name: 'x', value: '1' }] }] })]),
  ]);
  assert.equal(hit(t, 'GET', '/?a=1&b=2', ['x', '1', 'y', '2']), 'two-headers');
  assert.equal(hit(t, 'GET', '/?a=1&b=2', ['x', '1']), 'one-header');
  assert.equal(hit(t, 'GET', '/?a=1&b=2'), 'query');
});

test('5. more query matches win when everything before ties', () => {
  const t = table([
    http('a', [to('one', { matches: [{ queryParams: [{ name: 'a', value: '1' }] }] })]),
    http('b', [to('two', { matches: [{ queryParams: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }] }] })]),
  ]);
  assert.equal(hit(t, 'GET', '/?a=1&b=2'), 'two');
  assert.equal(hit(t, 'GET', '/?a=1'), 'one');
});

test('6. then the oldest route by creation timestamp', () => {
  const t = table([http('a-new', [to('new')], 2000), http('z-old', [to('old')], 1000)]);
  assert.equal(hit(t, 'GET', '/x'), 'old');
});

test('7. then <namespace>/<name> alphabetically', () => {
  const t = table([http('b', [to('b')], 5), http('a', [to('a-ns-z')], 5, 'zz'), http('a', [to('a')], 5)]);
  assert.equal(hit(t, 'GET', '/x'), 'a', 'default/a < default/b < zz/a');
});

test('8. within a route, the first matching rule in list order (after the criteria)', () => {
  const t = table([
    http('r', [
      to('first', { matches: [{ path: { type: 'PathPrefix', value: '/' } }] }),
      to('second', { matches: [{ path: { type: 'PathPrefix', value: '/' } }] }),
      to('specific', { matches: [{ path: { type: 'PathPrefix', value: '/api' } }] }),
    ]),
  ]);
  assert.equal(hit(t, 'GET', '/x'), 'first');
  assert.equal(hit(t, 'GET', '/api/v1'), 'specific', 'a later, more specific rule still wins');
});

test('criteria are compared across routes before route age', () => {
  const t = table([http('old', [to('old-general')], 1), http('new', [to('new-specific', { matches: [{ path: { type: 'PathPrefix', value: '/a' } }] })], 2)]);
  assert.equal(hit(t, 'GET', '/a/b'), 'new-specific');
  assert.equal(hit(t, 'GET', '/b'), 'old-general');
});

test('GRPCRoute: exact service characters, then method characters, then headers, then age', () => {
  const G = ['content-type', 'application/grpc+proto'];
  const t = table([
    grpc('a', [{ matches: [{ method: { method: 'LongMethodName' }, headers: [{ name: 'x', value: '1' }] }], backends: [{ cluster: 'method' }] }]),
    grpc('b', [{ matches: [{ method: { service: 'pkg.S' } }], backends: [{ cluster: 'service' }] }]),
    grpc('c', [{ matches: [{ method: { service: 'pkg.S', method: 'M' } }], backends: [{ cluster: 'both' }] }]),
    grpc('d', [{ matches: [{ headers: [{ name: 'x', value: '1' }] }], backends: [{ cluster: 'header' }] }], 5),
    grpc('e', [{ matches: [{}] , backends: [{ cluster: 'any-old' }] }], 1),
  ]);
  assert.equal(hit(t, 'POST', '/pkg.S/M', G), 'both');
  assert.equal(hit(t, 'POST', '/pkg.S/LongMethodName', [...G, 'x', '1']), 'service');
  assert.equal(hit(t, 'POST', '/pkg.T/LongMethodName', [...G, 'x', '1']), 'method');
  assert.equal(hit(t, 'POST', '/pkg.T/Other', [...G, 'x', '1']), 'header');
  assert.equal(hit(t, 'POST', '/pkg.T/Other', G), 'any-old');
});
