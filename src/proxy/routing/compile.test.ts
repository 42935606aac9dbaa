import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteConfig, RouteTableConfig } from '../../api/snapshot.js';
import { compileRouteTable } from './compile.js';
import { MAX_REGEX_LENGTH } from './regex.js';
import { errorsOf, grpc, hit, http, table, to } from './test-helpers.js';

function pathsOf(routes: RouteConfig[]): string[] {
  return errorsOf(routes).map((e) => e.path);
}

test('a bad regex anywhere is reported with its field path', () => {
  assert.deepEqual(
    pathsOf([
      http('r', [
        to('a', {
          matches: [
            { path: { type: 'RegularExpression', value: '/(a)\\1' } },
            { headers: [{ type: 'RegularExpression', name: 'x', value: '[' }] },
            { queryParams: [{ type: 'RegularExpression', name: 'q', value: 'y'.repeat(MAX_REGEX_LENGTH + 1) }] },
          ],
        }),
      ]),
      grpc('g', [{ matches: [{ method: { type: 'RegularExpression', service: 'shop(?=\\.)' } }], backends: [{ cluster: 'c' }] }]),
    ]),
    [
      'routes[0].rules[0].matches[0].path.value',
      'routes[0].rules[0].matches[1].headers[0].value',
      'routes[0].rules[0].matches[2].queryParams[0].value',
      'routes[1].rules[0].matches[0].method.service',
    ],
  );
});

test('weights must be integers 0..1e6', () => {
  for (const weight of [-1, 1.5, Number.NaN, 1_000_001]) {
    assert.deepEqual(pathsOf([http('r', [{ backends: [{ cluster: 'a', weight }] }])]), ['routes[0].rules[0].backends[0].weight'], String(weight));
  }
  table([http('r', [{ backends: [{ cluster: 'a', weight: 0 }, { cluster: 'b', weight: 1_000_000 }] }])]);
});

test('a rule needs a backend or a redirect', () => {
  assert.deepEqual(pathsOf([http('r', [{ backends: [] }])]), ['routes[0].rules[0].backends']);
});

test('paths: Exact/PathPrefix start with "/", no query; bad types are refused', () => {
  assert.deepEqual(
    pathsOf([
      http('r', [
        to('a', {
          matches: [
            { path: { type: 'Exact', value: 'foo' } },
            { path: { type: 'PathPrefix', value: '/a?b' } },
            { path: { type: 'Glob' as 'Exact', value: '/x' } },
          ],
        }),
      ]),
    ]),
    ['routes[0].rules[0].matches[0].path.value', 'routes[0].rules[0].matches[1].path.value', 'routes[0].rules[0].matches[2].path.type'],
  );
});

test('filters: header names unique across set/add/remove, one redirect/rewrite, not both, prefix rewrite needs PathPrefix', () => {
  const errs = pathsOf([
    http('r', [
      to('a', { filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: '1' }], remove: ['x-a'] } }] }),
      to('b', {
        filters: [
          { type: 'URLRewrite', urlRewrite: { hostname: 'h' } },
          { type: 'RequestRedirect', requestRedirect: { statusCode: 307 } },
        ],
      }),
      to('c', {
        matches: [{ path: { type: 'Exact', value: '/x' } }],
        filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/y' } } }],
      }),
      to('d', { filters: [{ type: 'Fault', fault: { abort: { status: 503, percent: 101 } } }, { type: 'RequestMirror', requestMirror: { cluster: '' } }] }),
    ]),
  ]);
  assert.deepEqual(errs, [
    'routes[0].rules[0].filters[0].requestHeaderModifier.remove[0]',
    'routes[0].rules[1].filters[1].requestRedirect.statusCode',
    'routes[0].rules[1].filters',
    'routes[0].rules[2].matches[0].path.type',
    'routes[0].rules[3].filters[0].fault.abort.percent',
    'routes[0].rules[3].filters[1].requestMirror.cluster',
  ]);
});

test('timeouts and retry are validated', () => {
  assert.deepEqual(
    pathsOf([
      http('r', [
        to('a', { timeouts: { requestMs: 100, backendRequestMs: 200 }, retry: { codes: [503, 200], attempts: -1, backoffMs: 10 } }),
      ]),
    ]),
    ['routes[0].rules[0].timeouts.backendRequestMs', 'routes[0].rules[0].retry.codes', 'routes[0].rules[0].retry.attempts'],
  );
  const t = table([http('r', [to('a', { timeouts: { requestMs: 1000, backendRequestMs: 300 }, retry: { codes: [503], attempts: 2, backoffMs: 25 } })])]);
  const m = t.route('GET', '/', []);
  assert.deepEqual(m?.rule.timeouts, { requestMs: 1000, backendRequestMs: 300 });
  assert.deepEqual(m?.rule.retry, { codes: [503], attempts: 2, backoffMs: 25 });
});

test('duplicate routes and empty rules are refused; good input never throws', () => {
  assert.deepEqual(pathsOf([http('r', [to('a')]), http('r', [to('b')]), http('s', [])]), ['routes[1].name', 'routes[2].rules']);
});

test('duplicate header/query names in one match: only the first counts (Gateway API)', () => {
  const t = table([http('r', [to('a', { matches: [{ headers: [{ name: 'x', value: '1' }, { name: 'X', value: '2' }] }] })])]);
  assert.ok(t.route('GET', '/', ['x', '1']) !== null);
  assert.equal(t.route('GET', '/', ['x', '2']), null);
});

test('regexes the old backtracking heuristic refused are accepted: RE2 matches them in linear time', () => {
  const t = table([http('r', [to('a', { matches: [{ path: { type: 'RegularExpression', value: '/(a+)+x' } }, { headers: [{ type: 'RegularExpression', name: 'x', value: '(a|aa)*' }] }] })])]);
  assert.equal(hit(t, 'GET', '/aaax'), 'a');
  assert.equal(hit(t, 'GET', `/${'a'.repeat(5000)}`), null, 'the classic catastrophic input completes, with no match');
  assert.equal(hit(t, 'GET', '/b', ['x', 'a'.repeat(5000)]), 'a');
});

test('input of the wrong shape is an error value, not a throw', () => {
  const r = compileRouteTable({ routes: [null as unknown as RouteConfig] });
  assert.equal(r.ok, false);
  assert.equal(compileRouteTable(null as unknown as RouteTableConfig).ok, false);
});
