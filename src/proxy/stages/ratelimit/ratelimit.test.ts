import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InboundPolicyConfig } from '../../../api/snapshot.js';
import { ManualClock } from '../../clock/manual-clock.js';
import { PolicyTable } from '../../policy/policy-table.js';
import { inbound, limit, who } from '../../policy/test-helpers.js';
import { INBOUND, RecordingHandler, RecordingService, exchange, pairs } from '../../testing/stage-harness.js';
import { RateLimitStage } from './ratelimit.js';

function stageWith(configs: InboundPolicyConfig[]): { stage: RateLimitStage; next: RecordingService; clock: ManualClock } {
  const table = new PolicyTable();
  const p = table.prepare(configs);
  assert.ok(p.ok);
  p.commit();
  const clock = new ManualClock();
  const next = new RecordingService();
  return { stage: new RateLimitStage({ slot: table.slot('in'), clock }, next), next, clock };
}

const one = (mode: 'enforce' | 'shadow'): InboundPolicyConfig[] => [
  inbound({ port: 'in', healthCheck: { httpPaths: ['/healthz'], grpc: false }, rateLimits: [limit('orders', { mode, total: { requestsPerSecond: 2, burst: 1 } })] }),
];

function call(stage: RateLimitStage, over: Parameters<typeof exchange>[0] = {}, path = '/'): { h: RecordingHandler; ex: ReturnType<typeof exchange> } {
  const ex = exchange({ site: INBOUND, peer: who('web'), ...over });
  ex.path = path;
  const h = new RecordingHandler();
  stage.call(ex, h);
  return { h, ex };
}

test('over the limit: 429 rate-limited with retry-after and the RateLimit fields; under it, next', () => {
  const { stage, next, clock } = stageWith(one('enforce'));
  call(stage);
  assert.equal(next.calls.length, 1);
  clock.advance(100);
  const { h, ex } = call(stage);
  assert.equal(next.calls.length, 1);
  assert.equal(h.local.status, 429);
  assert.equal(h.local.reason, 'rate-limited');
  assert.equal(h.local.grpcStatus, 8);
  assert.deepEqual(pairs(h.local.headers ?? null), [
    ['retry-after', '1'],
    ['ratelimit-policy', '"shop/orders/total";q=1;w=1'],
    ['ratelimit', '"shop/orders/total";r=0;t=1'],
  ]);
  assert.equal(ex.rateLimit, 'shop/orders');
  clock.advance(400);
  call(stage);
  assert.equal(next.calls.length, 2, 'admitted again once the interval passed');
});

test('gRPC callers also get grpc-retry-pushback-ms', () => {
  const { stage, clock } = stageWith(one('enforce'));
  call(stage, { grpc: true });
  clock.advance(120);
  const { h } = call(stage, { grpc: true });
  assert.deepEqual(pairs(h.local.headers ?? null).find(([k]) => k === 'grpc-retry-pushback-ms'), ['grpc-retry-pushback-ms', '380']);
});

test('shadow mode admits everything and marks what enforce would have refused', () => {
  const { stage, next } = stageWith(one('shadow'));
  const first = call(stage);
  const second = call(stage);
  assert.equal(next.calls.length, 2);
  assert.equal(first.ex.rateLimit, undefined);
  assert.equal(second.ex.rateLimit, 'shop/orders');
});

test("the mesh's health checks are never limited", () => {
  const { stage, next } = stageWith(one('enforce'));
  for (let i = 0; i < 5; i++) call(stage, {}, '/healthz');
  assert.equal(next.calls.length, 5);
  call(stage);
  assert.equal(next.calls.length, 6, 'and took nothing from the bucket');
});
