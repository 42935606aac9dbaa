import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileInboundPolicies } from './compile.js';
import { pathPatternProblem } from './patterns.js';
import { authz, inbound, limit } from './test-helpers.js';

/** [what, inbound list, expected path, message fragment] */
const REFUSED: [string, unknown, string, string][] = [
  ['not an array', {}, 'inbound', 'expected an array'],
  ['bad default', [inbound({ defaultAction: 'maybe' as 'deny' })], 'inbound[0].defaultAction', 'allow, deny or authenticated'],
  ['port twice', [inbound(), inbound()], 'inbound[1].port', 'two entries'],
  ['bad action', [inbound({ authorization: [authz('p', 'PERMIT' as 'ALLOW', [])] })], 'inbound[0].authorization[0].action', 'ALLOW, DENY or AUDIT'],
  ['glob in the middle', [inbound({ authorization: [authz('p', 'DENY', [{ from: [{ source: { principals: ['spiffe://td/*/sa/x'] } }] }])] })], 'inbound[0].authorization[0].rules[0].from[0].source.principals[0]', 'first or the last'],
  ['empty list', [inbound({ authorization: [authz('p', 'DENY', [{ to: [{ operation: { paths: [] } }] }])] })], 'inbound[0].authorization[0].rules[0].to[0].operation.paths', 'non-empty'],
  ['path not normalized', [inbound({ authorization: [authz('p', 'DENY', [{ to: [{ operation: { paths: ['/a/../admin'] } }] }])] })], 'inbound[0].authorization[0].rules[0].to[0].operation.paths[0]', 'normalizes'],
  ['upper-case header', [inbound({ authorization: [authz('p', 'DENY', [{ when: [{ header: 'X-Env', values: ['a'] }] }])] })], 'inbound[0].authorization[0].rules[0].when[0].header', 'lower-case'],
  ['mesh header', [inbound({ authorization: [authz('p', 'DENY', [{ when: [{ header: 'trellis-peer-identity', values: ['a'] }] }])] })], 'inbound[0].authorization[0].rules[0].when[0].header', 'belong to the mesh'],
  ['condition without values', [inbound({ authorization: [authz('p', 'DENY', [{ when: [{ header: 'x' }] }])] })], 'inbound[0].authorization[0].rules[0].when[0]', 'values or notValues'],
  ['zero rate', [inbound({ rateLimits: [limit('r', { total: { requestsPerSecond: 0, burst: 1 } })] })], 'inbound[0].rateLimits[0].total.requestsPerSecond', 'above 0'],
  ['fractional burst', [inbound({ rateLimits: [limit('r', { perIdentity: { requestsPerSecond: 1, burst: 1.5 } })] })], 'inbound[0].rateLimits[0].perIdentity.burst', 'integer'],
  ['no limit at all', [inbound({ rateLimits: [limit('r', {})] })], 'inbound[0].rateLimits[0]', 'needs total, perIdentity or overrides'],
  ['override not a SPIFFE ID', [inbound({ rateLimits: [limit('r', { overrides: [{ principal: 'web', requestsPerSecond: 1, burst: 1 }] })] })], 'inbound[0].rateLimits[0].overrides[0].principal', 'SPIFFE'],
  ['bad global', [inbound({ rateLimits: [limit('r', { total: { requestsPerSecond: 1, burst: 1, global: { requestsPerSecond: 3, burst: 3, replicas: 0 } } })] })], 'inbound[0].rateLimits[0].total.global.replicas', '>= 1'],
  ['route the proxy refuses', [inbound({ authorization: [authz('p', 'DENY', [{}], { route: { kind: 'HTTPRoute', namespace: 'a', name: 'r', createdAt: 0, rules: [{ matches: [{ path: { type: 'RegularExpression', value: '(' } }], backends: [{ cluster: 'a/b:c' }] }] } })] })], 'inbound[0].authorization[0].route.rules[0].matches[0].path.value', ''],
];

for (const [what, list, path, fragment] of REFUSED) {
  test(`refused: ${what}`, () => {
    const r = compileInboundPolicies(list);
    assert.equal(r.ok, false);
    if (r.ok) return;
    const p = r.problems.find((x) => x.path === path);
    assert.ok(p !== undefined, `no problem at ${path}: ${JSON.stringify(r.problems)}`);
    assert.ok(p.message.includes(fragment), p.message);
  });
}

test('path patterns are checked against the normalized form', () => {
  assert.equal(pathPatternProblem('/api/*'), undefined);
  assert.equal(pathPatternProblem('/api*'), undefined);
  assert.equal(pathPatternProblem('*.json'), undefined);
  assert.equal(pathPatternProblem('*'), undefined);
  assert.equal(pathPatternProblem('/a%20b'), undefined);
  assert.match(pathPatternProblem('//admin') ?? '', /becomes "\/admin"/);
  assert.match(pathPatternProblem('/%61dmin') ?? '', /becomes "\/admin"/);
  assert.match(pathPatternProblem('/%2Fadmin') ?? '', /encoded slash/);
  assert.match(pathPatternProblem('admin') ?? '', /start with/);
  assert.match(pathPatternProblem('*/../x') ?? '', /normalizes/);
});

test('absent inbound compiles to no policy at all', () => {
  const r = compileInboundPolicies(undefined);
  assert.ok(r.ok);
  assert.equal(r.byPort.size, 0);
});
