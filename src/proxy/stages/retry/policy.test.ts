import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ruleOf } from '../../testing/stage-harness.js';
import { RetryPolicies } from './policy.js';

test('a rule\'s retry becomes a policy, compiled once per rule', () => {
  const rule = ruleOf({ backends: [{ cluster: 'a' }], retry: { codes: [502, 503], grpcCodes: [14], attempts: 3, backoffMs: 25 } });
  const policies = new RetryPolicies();
  const p = policies.of(rule);
  assert.ok(p !== undefined);
  assert.equal(p.attempts, 3);
  assert.equal(p.backoffMs, 25);
  assert.deepEqual([...p.httpCodes], [502, 503]);
  assert.deepEqual([...p.grpcCodes], [14]);
  assert.equal(policies.of(rule), p, 'the same object for the same rule');
});

test('no retry, or zero attempts: no policy', () => {
  const policies = new RetryPolicies();
  assert.equal(policies.of(ruleOf({ backends: [{ cluster: 'a' }] })), undefined);
  assert.equal(policies.of(ruleOf({ backends: [{ cluster: 'a' }], retry: { codes: [503], attempts: 0, backoffMs: 0 } })), undefined);
});

test('grpcCodes absent: an empty set', () => {
  const p = new RetryPolicies().of(ruleOf({ backends: [{ cluster: 'a' }], retry: { codes: [503], attempts: 1, backoffMs: 0 } }));
  assert.equal(p?.grpcCodes.size, 0);
});
