import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InboundPolicyConfig } from '../../../api/snapshot.js';
import { silentLogger } from '../../../telemetry/logger.js';
import { PolicyTable } from '../../policy/policy-table.js';
import { authz, CountingCounters, inbound, who } from '../../policy/test-helpers.js';
import { INBOUND, RecordingHandler, RecordingService, exchange } from '../../testing/stage-harness.js';
import { AuthzStage } from './authz.js';

function stageWith(configs: InboundPolicyConfig[] | undefined, counters = new CountingCounters()): { stage: AuthzStage; next: RecordingService; counters: CountingCounters; table: PolicyTable } {
  const table = new PolicyTable({ counters });
  const p = table.prepare(configs);
  assert.ok(p.ok);
  p.commit();
  const next = new RecordingService();
  return { stage: new AuthzStage({ slot: table.slot('in'), logger: silentLogger() }, next), next, counters, table };
}

const noAdmin = (defaultAction: InboundPolicyConfig['defaultAction'] = 'allow'): InboundPolicyConfig[] => [
  inbound({ port: 'in', defaultAction, authorization: [authz('no-admin', 'DENY', [{ to: [{ operation: { paths: ['/admin/*'] } }] }]), authz('watch', 'AUDIT', [{ to: [{ operation: { methods: ['DELETE'] } }] }])] }),
];

test('a port without policies passes every exchange on untouched', () => {
  const { stage, next } = stageWith(undefined);
  const ex = exchange({ site: INBOUND, peer: who('web') });
  const h = new RecordingHandler();
  stage.call(ex, h);
  assert.equal(next.last.ex, ex);
  assert.equal(next.last.handler, h);
  assert.equal(ex.authz, null);
});

test('a DENY answers 403 unauthorized (gRPC PERMISSION_DENIED) and never calls next; the decision is on the exchange', () => {
  const { stage, next, counters } = stageWith(noAdmin());
  const ex = exchange({ site: INBOUND, peer: who('web'), target: '/admin/users' });
  ex.path = '/admin/users';
  const h = new RecordingHandler();
  stage.call(ex, h);
  assert.equal(next.calls.length, 0);
  assert.equal(h.local.status, 403);
  assert.equal(h.local.reason, 'unauthorized');
  assert.equal(h.local.grpcStatus, 7);
  assert.equal(ex.authz?.label, 'shop/no-admin');
  assert.equal(ex.policy, 'shop/no-admin', 'the record field observe reports');
  assert.equal(counters.get('shop/no-admin|denied'), 1);
});

test('allowed requests go on with their decision; an AUDIT match is recorded beside it and counted', () => {
  const { stage, next, counters } = stageWith(noAdmin());
  const ex = exchange({ site: INBOUND, peer: who('web'), method: 'DELETE' });
  stage.call(ex, new RecordingHandler());
  assert.equal(next.calls.length, 1);
  assert.equal(ex.policy, 'default');
  assert.equal(ex.auditPolicy, 'shop/watch');
  assert.equal(counters.get('default|allowed'), 1);
  assert.equal(counters.get('shop/watch|audited'), 1);
});

test('the policy is read per request: a new snapshot applies to the next exchange', () => {
  const { stage, next, table } = stageWith(noAdmin());
  const ex = (): ReturnType<typeof exchange> => {
    const e = exchange({ site: INBOUND, peer: null });
    e.path = '/shop';
    return e;
  };
  stage.call(ex(), new RecordingHandler());
  assert.equal(next.calls.length, 1);
  const p = table.prepare(noAdmin('authenticated'));
  assert.ok(p.ok);
  p.commit();
  const h = new RecordingHandler();
  stage.call(ex(), h);
  assert.equal(next.calls.length, 1);
  assert.equal(h.local.status, 403, 'no identity under defaultAction authenticated');
});
