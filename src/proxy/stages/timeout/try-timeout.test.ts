import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../clock/manual-clock.js';
import { CancelReason, localReply } from '../../pipeline/service.js';
import type { Cancellable, CancelReason as Reason } from '../../pipeline/service.js';
import { FakeAttempt, RecordingHandler, RecordingService, exchange, ruleOf } from '../../testing/stage-harness.js';
import { TryTimeoutStage } from './try-timeout.js';

function setup(backendRequestMs: number | undefined) {
  const clock = new ManualClock();
  const next = new RecordingService();
  const stage = new TryTimeoutStage({ clock }, next);
  const ex = exchange({ start: clock.now() });
  ex.rule = ruleOf({ backends: [{ cluster: 'default/a:http' }], ...(backendRequestMs !== undefined ? { timeouts: { backendRequestMs } } : {}) });
  // The retry stage above does not mark the head sent; the codec does, later.
  const h = new RecordingHandler(false);
  const waits: Reason[] = [];
  const pending: Cancellable = { cancel: (r) => waits.push(r) };
  stage.call(ex, h);
  ex.pending = pending;
  return { clock, next, ex, h, waits, pending };
}

test('no try timeout on the rule: the handler passes straight on, no timer', () => {
  const s = setup(undefined);
  assert.equal(s.next.last.handler, s.h);
  assert.equal(s.clock.pendingTimers, 0);
});

test('when the try timeout passes: the pending try is cancelled with Timeout and the stage above gets 504 upstream-timeout', () => {
  const s = setup(100);
  assert.notEqual(s.next.last.handler, s.h);
  s.clock.advance(99);
  assert.equal(s.h.events.length, 0);
  s.clock.advance(1);
  assert.deepEqual(s.waits, [CancelReason.Timeout]);
  assert.equal(s.ex.pending, null);
  assert.equal(s.ex.cancelled, null, 'only the try is abandoned, not the exchange');
  assert.equal(s.h.local.status, 504);
  assert.equal(s.h.local.reason, 'upstream-timeout');
});

test('a failure the timed-out try reports afterwards is not passed on a second time', () => {
  const s = setup(100);
  s.clock.advance(100);
  s.next.last.handler.onLocal(s.ex, localReply(502, 'upstream-reset', 'late'));
  assert.equal(s.h.events.length, 1);
  assert.equal(s.h.local.reason, 'upstream-timeout');
});

test('the response head clears the timer; head, data and end pass on', () => {
  const s = setup(100);
  const a = new FakeAttempt();
  const inner = s.next.last.handler;
  inner.onHead(s.ex, a);
  assert.equal(s.clock.pendingTimers, 0);
  s.clock.advance(1_000);
  assert.deepEqual(s.waits, []);
  inner.onData(s.ex, Buffer.from('x'));
  inner.onEnd(s.ex, null);
  assert.deepEqual(s.h.kinds, ['head', 'data', 'end']);
});

test('a failure before the timeout clears the timer and passes on', () => {
  const s = setup(100);
  s.next.last.handler.onLocal(s.ex, localReply(503, 'connect-failed', 'refused'));
  assert.equal(s.clock.pendingTimers, 0);
  s.clock.advance(1_000);
  assert.equal(s.h.local.reason, 'connect-failed');
});

test('a failure after the head (a cut response) still passes on', () => {
  const s = setup(100);
  const inner = s.next.last.handler;
  inner.onHead(s.ex, new FakeAttempt());
  s.ex.headSent = true;
  inner.onLocal(s.ex, localReply(502, 'upstream-reset', 'cut'));
  assert.deepEqual(s.h.kinds, ['head', 'local']);
});

test('the timeout does nothing once the exchange is cancelled', () => {
  const s = setup(100);
  s.ex.cancel(CancelReason.Client);
  s.clock.advance(100);
  assert.equal(s.h.events.length, 0);
  assert.deepEqual(s.waits, [CancelReason.Client]);
});
