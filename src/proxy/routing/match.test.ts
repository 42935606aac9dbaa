import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { grpc, hit, http, table, to } from './test-helpers.js';

test('path Exact matches the path only, before the query string', () => {
  const t = table([http('r', [to('a', { matches: [{ path: { type: 'Exact', value: '/foo' } }] })])]);
  assert.equal(hit(t, 'GET', '/foo'), 'a');
  assert.equal(hit(t, 'GET', '/foo?x=1'), 'a');
  assert.equal(hit(t, 'GET', '/foo/'), null);
  assert.equal(hit(t, 'GET', '/fo'), null);
  assert.equal(hit(t, 'GET', '/foobar'), null);
  assert.equal(hit(t, 'GET', 'http://svc.local:8080/foo?y'), 'a', 'absolute-form');
});

test('PathPrefix matches on segment boundaries; a trailing slash in the prefix is ignored', () => {
  for (const prefix of ['/foo', '/foo/']) {
    const t = table([http('r', [to('a', { matches: [{ path: { type: 'PathPrefix', value: prefix } }] })])]);
    for (const p of ['/foo', '/foo/', '/foo/bar', '/foo?q=1', '/foo/bar/baz?x']) assert.equal(hit(t, 'GET', p), 'a', `${prefix} ~ ${p}`);
    for (const p of ['/foobar', '/fo', '/', '/bar/foo', '/foobar/x']) assert.equal(hit(t, 'GET', p), null, `${prefix} !~ ${p}`);
  }
});

test('PathPrefix "/" and a rule without matches catch everything', () => {
  const t1 = table([http('r', [to('a', { matches: [{ path: { type: 'PathPrefix', value: '/' } }] })])]);
  const t2 = table([http('r', [to('a')])]);
  for (const t of [t1, t2]) {
    for (const p of ['/', '/x', '/x/y?z', 'http://h', '*']) assert.equal(hit(t, 'GET', p), 'a', p);
  }
});

test('PathPrefix boundary property: /p matches /p + s iff s is empty or starts with "/" or "?"', () => {
  const t = table([http('r', [to('a', { matches: [{ path: { type: 'PathPrefix', value: '/p' } }] })])]);
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom('a', '/', '?', 'p', '=') }), (s) => {
      const expected = s === '' || s.startsWith('/') || s.startsWith('?');
      assert.equal(hit(t, 'GET', `/p${s}`) === 'a', expected);
    }),
  );
});

test('path RegularExpression matches the whole path, not the query', () => {
  const t = table([http('r', [to('a', { matches: [{ path: { type: 'RegularExpression', value: '/v[0-9]+/items' } }] })])]);
  assert.equal(hit(t, 'GET', '/v2/items'), 'a');
  assert.equal(hit(t, 'GET', '/v2/items?x=/v3'), 'a');
  assert.equal(hit(t, 'GET', '/v2/items/1'), null, 'anchored at the end');
  assert.equal(hit(t, 'GET', '/x/v2/items'), null, 'anchored at the start');
});

test('headers: names case-insensitive, values exact (case-sensitive) or regex; all must match', () => {
  const t = table([
    http('r', [
      to('a', {
        matches: [
          {
            headers: [
              { name: 'X-Env', value: 'Canary' },
              { type: 'RegularExpression', name: 'x-user', value: 'u-[0-9]+' },
            ],
          },
        ],
      }),
    ]),
  ]);
  assert.equal(hit(t, 'GET', '/', ['x-env', 'Canary', 'x-user', 'u-42']), 'a');
  assert.equal(hit(t, 'GET', '/', ['x-env', 'canary', 'x-user', 'u-42']), null, 'value is case-sensitive');
  assert.equal(hit(t, 'GET', '/', ['x-env', 'Canary']), null, 'both headers needed');
  assert.equal(hit(t, 'GET', '/', ['x-env', 'Canary', 'x-user', 'u-42x']), null, 'regex anchored');
  assert.equal(hit(t, 'GET', '/', ['x-env', 'prod', 'x-env', 'Canary', 'x-user', 'u-1']), 'a', 'any repeated field');
});

test('query params: exact name, exact or regex value, first occurrence, percent-decoded', () => {
  const t = table([
    http('r', [
      to('a', { matches: [{ queryParams: [{ name: 'v', value: 'two words' }] }] }),
      to('b', { matches: [{ queryParams: [{ type: 'RegularExpression', name: 'id', value: '[0-9]{3}' }] }] }),
    ]),
  ]);
  assert.equal(hit(t, 'GET', '/x?v=two%20words'), 'a');
  assert.equal(hit(t, 'GET', '/x?a=1&v=two+words&z'), 'a');
  assert.equal(hit(t, 'GET', '/x?v=other&v=two%20words'), null, 'first occurrence only');
  assert.equal(hit(t, 'GET', '/x?vv=two%20words'), null, 'name is exact');
  assert.equal(hit(t, 'GET', '/x?V=two%20words'), null, 'name is case-sensitive');
  assert.equal(hit(t, 'GET', '/x?id=123'), 'b');
  assert.equal(hit(t, 'GET', '/x?id=1234'), null);
  assert.equal(hit(t, 'GET', '/x?v=%zz'), null, 'malformed escape does not throw');
  assert.equal(hit(t, 'GET', '/x'), null);
});

test('method is exact; matches in one rule are ORed', () => {
  const t = table([http('r', [to('a', { matches: [{ method: 'POST' }, { path: { type: 'Exact', value: '/get' }, method: 'GET' }] })])]);
  assert.equal(hit(t, 'POST', '/anything'), 'a');
  assert.equal(hit(t, 'GET', '/get'), 'a');
  assert.equal(hit(t, 'GET', '/other'), null);
  assert.equal(hit(t, 'post', '/anything'), null);
});

test('route() returns the same precomputed object for the same rule (no per-request allocation)', () => {
  const t = table([http('r', [to('a', { matches: [{ path: { type: 'PathPrefix', value: '/a' } }] })])]);
  const m1 = t.route('GET', '/a/1', []);
  const m2 = t.route('GET', '/a/2', []);
  assert.ok(m1 !== null);
  assert.equal(m1, m2);
  assert.equal(m1.route, 'default/r');
  assert.equal(m1.matchedPrefix, '/a');
});

const GRPC = ['content-type', 'application/grpc'];

test('GRPCRoute: service / method exact and regex, headers; only for gRPC requests', () => {
  const t = table([
    grpc('g', [
      { matches: [{ method: { service: 'shop.Cart', method: 'Add' } }], backends: [{ cluster: 'add' }] },
      { matches: [{ method: { service: 'shop.Cart' } }], backends: [{ cluster: 'cart' }] },
      { matches: [{ method: { method: 'Health' } }], backends: [{ cluster: 'health' }] },
      {
        matches: [{ method: { type: 'RegularExpression', service: 'shop\\..*', method: 'Get.*' }, headers: [{ name: 'x-v', value: '2' }] }],
        backends: [{ cluster: 'get-v2' }],
      },
    ]),
    http('h', [to('http')]),
  ]);
  assert.equal(hit(t, 'POST', '/shop.Cart/Add', GRPC), 'add');
  assert.equal(hit(t, 'POST', '/shop.Cart/Remove', GRPC), 'cart');
  assert.equal(hit(t, 'POST', '/any.Svc/Health', GRPC), 'health');
  assert.equal(hit(t, 'POST', '/shop.Items/GetOne', [...GRPC, 'x-v', '2']), 'get-v2');
  assert.equal(hit(t, 'POST', '/shop.Items/GetOne', GRPC), 'http', 'falls back to HTTPRoute rules');
  assert.equal(hit(t, 'POST', '/shop.Cart/Add', ['content-type', 'application/json']), 'http', 'not gRPC');
  assert.equal(hit(t, 'POST', '/shop.Cart/Add/x', GRPC), 'http', 'three segments is no gRPC method');
});
