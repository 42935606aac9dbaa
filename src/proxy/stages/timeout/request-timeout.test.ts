import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../clock/manual-clock.js';
import type { ExchangeInit } from '../../pipeline/exchange.js';
import { CancelReason } from '../../pipeline/service.js';
import type { Cancellable, CancelReason as Reason } from '../../pipeline/service.js';
import { RecordingHandler, RecordingService, exchange, ruleOf } from '../../testing/stage-harness.js';
import { RequestTimeoutStage } from './request-timeout.js';

function setup(requestMs: number | undefined, over: Partial<ExchangeInit> = {}) {
  const clock = new ManualClock();
  const next = new RecordingService();
  const stage = new RequestTimeoutStage({ clock }, next);
  const ex = exchange({ start: clock.now(), ...over });
  if (requestMs !== undefined) ex.rule = ruleOf({ backends: [{ cluster: 'default/a:http' }], timeouts: { requestMs } });
  const h = new RecordingHandler();
  const waits: Reason[] = [];
  const pending: Cancellable = { cancel: (r) => waits.push(r) };
  return { clock, next, stage, ex, h, waits, pending };
}

const grpc = (timeout: string): Partial<ExchangeInit> => ({ grpc: true, method: 'POST', headers: ['content-type', 'application/grpc', 'grpc-timeout', timeout] });

test('the rule\'s request timeout sets the deadline from the request head and a timer', () => {
  const s = setup(500);
  s.stage.call(s.ex, s.h);
  assert.equal(s.next.calls.length, 1);
  assert.equal(s.ex.deadline, 1_500);
  assert.ok(s.ex.deadlineTimer !== null);
  assert.equal(s.clock.pendingTimers, 1);
});

test('when the deadline passes: what the exchange waits on is cancelled with Timeout, the caller gets 504 request-timeout', () => {
  const s = setup(500);
  s.stage.call(s.ex, s.h);
  s.ex.pending = s.pending;
  s.clock.advance(499);
  assert.equal(s.h.events.length, 0);
  s.clock.advance(1);
  assert.equal(s.ex.cancelled, 'timeout');
  assert.deepEqual(s.waits, [CancelReason.Timeout]);
  assert.equal(s.h.local.status, 504);
  assert.equal(s.h.local.reason, 'request-timeout');
  assert.equal(s.h.local.grpcStatus, 4, 'DEADLINE_EXCEEDED');
  assert.equal(s.ex.deadlineTimer, null);
});

test('time spent before the stage (a fault delay) counts: the deadline is from the request head', () => {
  const s = setup(500);
  s.clock.advance(300);
  s.stage.call(s.ex, s.h);
  assert.equal(s.ex.deadline, 1_500);
  s.clock.advance(199);
  assert.equal(s.h.events.length, 0);
  s.clock.advance(1);
  assert.equal(s.h.local.reason, 'request-timeout');
});

test('gRPC: grpc-timeout sooner than the rule wins', () => {
  const s = setup(500, grpc('200m'));
  s.stage.call(s.ex, s.h);
  assert.equal(s.ex.deadline, 1_200);
  s.clock.advance(200);
  assert.equal(s.h.local.grpcStatus, 4);
});

test('gRPC: the rule wins when it is sooner; grpc-timeout alone sets a deadline', () => {
  const later = setup(500, grpc('2S'));
  later.stage.call(later.ex, later.h);
  assert.equal(later.ex.deadline, 1_500);
  const alone = setup(undefined, grpc('3S'));
  alone.stage.call(alone.ex, alone.h);
  assert.equal(alone.ex.deadline, 4_000);
});

test('grpc-timeout is ignored on a non-gRPC request, and when malformed', () => {
  const plain = setup(undefined, { headers: ['grpc-timeout', '1S'] });
  plain.stage.call(plain.ex, plain.h);
  assert.equal(plain.ex.deadline, 0);
  const bad = setup(500, grpc('soon'));
  bad.stage.call(bad.ex, bad.h);
  assert.equal(bad.ex.deadline, 1_500);
});

test('finish clears the timer; nothing fires afterwards', () => {
  const s = setup(500);
  s.stage.call(s.ex, s.h);
  s.stage.finish(s.ex);
  assert.equal(s.ex.deadlineTimer, null);
  assert.equal(s.clock.pendingTimers, 0);
  s.clock.advance(10_000);
  assert.equal(s.h.events.length, 0);
  assert.equal(s.ex.cancelled, null);
});

test('no deadline (no rule timeout, no grpc-timeout): no timer', () => {
  const s = setup(undefined);
  s.stage.call(s.ex, s.h);
  assert.equal(s.ex.deadline, 0);
  assert.equal(s.ex.deadlineTimer, null);
  assert.equal(s.clock.pendingTimers, 0);
  assert.equal(s.next.calls.length, 1);
  s.stage.finish(s.ex);
});

test('an exchange the client already left gets no timeout answer', () => {
  const s = setup(500);
  s.stage.call(s.ex, s.h);
  s.ex.cancel(CancelReason.Client);
  s.clock.advance(500);
  assert.equal(s.h.events.length, 0);
  assert.equal(s.ex.cancelled, 'client');
});
