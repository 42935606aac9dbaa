import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { AuthorizationPolicyConfig, AuthorizationRuleConfig } from '../../api/snapshot.js';
import { ruleMatches } from './authorizer.js';
import type { CompiledRule } from './authorizer.js';
import { locatePeer } from './peer.js';
import { MAX_INDEXED_REFERENCES, RuleIndex } from './rule-index.js';
import { authz, compileOne, inbound, req, who } from './test-helpers.js';
import type { PolicyRequest } from './types.js';

/** The first rule of `all` that matches, the way the authorizer walked every rule before the index. */
function firstOfAll(all: readonly CompiledRule[], r: PolicyRequest): CompiledRule | null {
  const known = locatePeer(r.peer);
  return all.find((x) => ruleMatches(x, r, known)) ?? null;
}

const CALLERS = ['web', 'batch', 'api', 'admin'];

describe('RuleIndex', () => {
  test('a caller named by exact principals gets the rules that name it and those that name nobody, in order; others get the latter', () => {
    const c = inbound({
      defaultAction: 'deny',
      authorization: [
        authz('p', 'ALLOW', [
          { from: [{ source: { principals: [who('web')] } }], to: [{ operation: { paths: ['/a'] } }] },
          { to: [{ operation: { paths: ['/public/*'] } }] },
          { from: [{ source: { principals: [who('batch'), who('web')] } }] },
          { from: [{ source: { principals: ['*'] } }], to: [{ operation: { paths: ['/any'] } }] },
          { from: [{ source: { principals: [who('api')] } }, { source: { namespaces: ['ops'] } }] },
        ]),
      ],
    });
    const all = compileOne(c).authorizer.allow;
    const index = new RuleIndex(all);
    const at = (peer: string | null) => index.candidates(peer).map((r) => all.indexOf(r));
    assert.deepEqual(at(who('web')), [0, 1, 2, 3, 4]);
    assert.deepEqual(at(who('batch')), [1, 2, 3, 4]);
    assert.deepEqual(at(who('stranger')), [1, 3, 4], 'rule 4 names api, but its second source takes any caller of namespace ops');
    assert.deepEqual(at(null), [1, 3, 4]);
  });

  test('the same decision as walking every rule, for random rule lists and callers', () => {
    const peer = fc.oneof(fc.constantFrom(...CALLERS).map((sa) => who(sa)), fc.constant(null), fc.constant('spiffe://other.td/ns/x/sa/web'));
    const source = fc.record(
      {
        principals: fc.array(fc.oneof(fc.constantFrom(...CALLERS).map((sa) => who(sa)), fc.constantFrom('*', `${who('')}*`, '*/sa/web')), { minLength: 1, maxLength: 3 }),
        namespaces: fc.array(fc.constantFrom('shop', 'ops', '*'), { minLength: 1, maxLength: 2 }),
        notPrincipals: fc.array(fc.constantFrom(...CALLERS).map((sa) => who(sa)), { minLength: 1, maxLength: 2 }),
      },
      { requiredKeys: [] },
    );
    const rule: fc.Arbitrary<AuthorizationRuleConfig> = fc.record(
      {
        from: fc.array(source.map((s) => ({ source: Object.keys(s).length === 0 ? { principals: ['*'] } : s })), { minLength: 1, maxLength: 2 }),
        to: fc.array(fc.record({ operation: fc.record({ paths: fc.array(fc.constantFrom('/a', '/b/*', '*'), { minLength: 1, maxLength: 2 }) }) }), { minLength: 1, maxLength: 2 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.constantFrom<AuthorizationPolicyConfig['action']>('ALLOW', 'DENY', 'AUDIT'), fc.array(rule, { maxLength: 12 }), peer, fc.constantFrom('/a', '/b/c', '/z'), (action, rules, p, path) => {
        const a = compileOne(inbound({ defaultAction: 'deny', authorization: [authz('p', action, rules)] })).authorizer;
        const all = action === 'ALLOW' ? a.allow : action === 'DENY' ? a.deny : a.audits;
        const r = req({ peer: p, path });
        const expected = firstOfAll(all, r);
        const got = action === 'AUDIT' ? a.audit(r) : a.authorize(r);
        if (expected !== null) assert.equal(got, expected.decision);
        else if (action === 'AUDIT') assert.equal(got, null);
        else assert.equal(got?.source, 'default');
      }),
      { numRuns: 500 },
    );
  });

  test('too many named callers times rules that name nobody: no index, so its memory stays bounded', () => {
    const one = (rule: AuthorizationRuleConfig): CompiledRule => compileOne(inbound({ authorization: [authz('p', 'ALLOW', [rule])] })).authorizer.allow[0] as CompiledRule;
    const open = one({ to: [{ operation: { paths: ['/never'] } }] });
    const named = Array.from({ length: 400 }, (_, i) => one({ from: [{ source: { principals: [who(`c${i}`)] } }] }));
    const small = new RuleIndex([open, ...named.slice(0, 10)]);
    assert.deepEqual(small.candidates(who('c3')), [open, named[3]]);
    assert.deepEqual(small.candidates(who('stranger')), [open]);
    // 400 callers x (250 open rules + 1) references is past MAX_INDEXED_REFERENCES.
    const openRules = Array.from({ length: Math.ceil(MAX_INDEXED_REFERENCES / 400) }, () => open);
    const big = new RuleIndex([...openRules, ...named]);
    assert.equal(big.candidates(who('c1')).length, openRules.length + named.length, 'not indexed: every caller walks the whole list');
    assert.equal(big.candidates(null).length, openRules.length + named.length);
  });
});
