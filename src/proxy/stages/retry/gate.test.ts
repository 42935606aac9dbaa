import { test } from 'node:test';
import assert from 'node:assert/strict';
import { localReply } from '../../pipeline/service.js';
import { FakeAttempt, exchange } from '../../testing/stage-harness.js';
import { retryableFailure, retryableHead } from './gate.js';
import type { RetryPolicy } from './policy.js';

const policy = (http: number[], grpc: number[] = []): RetryPolicy => ({ attempts: 1, backoffMs: 0, httpCodes: new Set(http), grpcCodes: new Set(grpc) });
const fail = (reason: string) => localReply(503, reason as never, reason);

test('retryableHead (HTTP): the status is one of the policy\'s codes', () => {
  assert.equal(retryableHead(exchange(), new FakeAttempt({ status: 503 }), policy([503])), true);
  assert.equal(retryableHead(exchange(), new FakeAttempt({ status: 500 }), policy([503])), false);
});

test('retryableHead (gRPC): a trailers-only grpc-status of the policy, never the HTTP status', () => {
  const ex = exchange({ grpc: true, method: 'POST' });
  assert.equal(retryableHead(ex, new FakeAttempt({ status: 200, endStream: true, grpcStatus: 14 }), policy([], [14])), true);
  assert.equal(retryableHead(ex, new FakeAttempt({ status: 200, endStream: false, grpcStatus: 14 }), policy([], [14])), false);
  assert.equal(retryableHead(ex, new FakeAttempt({ status: 200, endStream: true, grpcStatus: 13 }), policy([], [14])), false);
  assert.equal(retryableHead(ex, new FakeAttempt({ status: 503, endStream: true }), policy([503], [14])), false);
});

test('retryableFailure: nothing reached an upstream -> any method', () => {
  for (const r of ['connect-failed', 'peer-refused', 'no-endpoints']) {
    assert.equal(retryableFailure(exchange({ method: 'POST' }), fail(r), policy([])), true, r);
    assert.equal(retryableFailure(exchange({ method: 'POST', grpc: true }), fail(r), policy([])), true, `grpc ${r}`);
  }
});

test('retryableFailure: reset / timeout -> idempotent HTTP, or gRPC whose policy retries UNAVAILABLE / DEADLINE_EXCEEDED', () => {
  assert.equal(retryableFailure(exchange({ method: 'GET' }), fail('upstream-reset'), policy([])), true);
  assert.equal(retryableFailure(exchange({ method: 'POST' }), fail('upstream-reset'), policy([])), false);
  assert.equal(retryableFailure(exchange({ method: 'DELETE' }), fail('upstream-timeout'), policy([])), true);
  assert.equal(retryableFailure(exchange({ method: 'PATCH' }), fail('upstream-timeout'), policy([])), false);
  const g = exchange({ method: 'POST', grpc: true });
  assert.equal(retryableFailure(g, fail('upstream-reset'), policy([], [14])), true);
  assert.equal(retryableFailure(g, fail('upstream-reset'), policy([], [4])), false);
  assert.equal(retryableFailure(g, fail('upstream-timeout'), policy([], [4])), true);
  assert.equal(retryableFailure(g, fail('upstream-timeout'), policy([], [14])), false);
});

test('retryableFailure: anything else is final', () => {
  for (const r of ['upstream-bad-response', 'overloaded', 'request-timeout', 'unknown-cluster', 'fault-injected']) {
    assert.equal(retryableFailure(exchange(), fail(r), policy([503])), false, r);
  }
});
