import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExchangeInit } from '../../pipeline/exchange.js';
import { FakeAttempt, exchange } from '../../testing/stage-harness.js';
import type { FakeAttemptInit } from '../../testing/stage-harness.js';
import { meshFailoverAllowed } from './failover.js';

const allowed = (ex: Partial<ExchangeInit>, a: FakeAttemptInit): boolean => meshFailoverAllowed(exchange(ex), new FakeAttempt(a));
const reason = (r: string): readonly string[] => ['trellis-reason', r];

test('app-unavailable and draining from a peer proxy: any method', () => {
  for (const method of ['GET', 'POST', 'PATCH']) {
    assert.equal(allowed({ method }, { status: 503, headers: reason('app-unavailable') }), true, method);
    assert.equal(allowed({ method }, { status: 503, headers: reason('draining') }), true, method);
  }
});

test('upstream-reset: idempotent HTTP methods only, never gRPC', () => {
  assert.equal(allowed({ method: 'GET' }, { status: 502, headers: reason('upstream-reset') }), true);
  assert.equal(allowed({ method: 'PUT' }, { status: 502, headers: reason('upstream-reset') }), true);
  assert.equal(allowed({ method: 'POST' }, { status: 502, headers: reason('upstream-reset') }), false);
  assert.equal(allowed({ method: 'POST', grpc: true }, { status: 200, endStream: true, headers: reason('upstream-reset') }), false);
});

test('gRPC: only a trailers-only 200 carries the reason', () => {
  const grpc = { method: 'POST', grpc: true };
  assert.equal(allowed(grpc, { status: 200, endStream: true, headers: reason('app-unavailable') }), true);
  assert.equal(allowed(grpc, { status: 200, endStream: false, headers: reason('app-unavailable') }), false);
  assert.equal(allowed({ method: 'POST' }, { status: 200, endStream: true, headers: reason('app-unavailable') }), false, 'not for HTTP');
});

test('other statuses, other reasons, or no reason: no failover', () => {
  assert.equal(allowed({}, { status: 503 }), false);
  assert.equal(allowed({}, { status: 503, headers: reason('overloaded') }), false);
  assert.equal(allowed({}, { status: 500, headers: reason('app-unavailable') }), false);
  assert.equal(allowed({}, { status: 504, headers: reason('draining') }), false);
});
