import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpRouteRuleConfig } from '../../../api/snapshot.js';
import { ManualClock } from '../../clock/manual-clock.js';
import { CancelReason } from '../../pipeline/service.js';
import { RecordingHandler, RecordingService, exchange, randoms, ruleOf } from '../../testing/stage-harness.js';
import { FaultStage } from './fault.js';

type Fault = { delay?: { ms: number; percent: number }; abort?: { status: number; percent: number } };

function setup(fault: Fault | undefined, random = randoms(0.5)): { clock: ManualClock; next: RecordingService; run: () => { ex: ReturnType<typeof exchange>; h: RecordingHandler } } {
  const clock = new ManualClock();
  const next = new RecordingService();
  const rule: HttpRouteRuleConfig = { backends: [{ cluster: 'default/a:http' }], ...(fault !== undefined ? { filters: [{ type: 'Fault', fault }] } : {}) };
  const compiled = ruleOf(rule);
  const stage = new FaultStage({ clock, random }, next);
  return {
    clock,
    next,
    run() {
      const ex = exchange();
      ex.rule = compiled;
      ex.route = 'default/r';
      ex.backend = 'default/a:http';
      const h = new RecordingHandler();
      stage.call(ex, h);
      return { ex, h };
    },
  };
}

test('no fault on the rule (or no rule): straight to next', () => {
  const s = setup(undefined);
  s.run();
  assert.equal(s.next.calls.length, 1);
  const clock = new ManualClock();
  const next = new RecordingService();
  new FaultStage({ clock, random: randoms(0) }, next).call(exchange(), new RecordingHandler());
  assert.equal(next.calls.length, 1);
});

test('an abort at 100% answers its status with fault-injected; next is never called; no backend counted', () => {
  const s = setup({ abort: { status: 503, percent: 100 } });
  const { ex, h } = s.run();
  assert.equal(s.next.calls.length, 0);
  assert.equal(h.local.status, 503);
  assert.equal(h.local.reason, 'fault-injected');
  assert.equal(ex.backend, undefined);
});

test('an abort at 0% never fires', () => {
  const r = randoms(0);
  const s = setup({ abort: { status: 503, percent: 0 } }, r);
  s.run();
  assert.equal(s.next.calls.length, 1);
});

test('an abort is rolled per request against its percentage with the injected random', () => {
  const r = randoms(0.29, 0.3, 0.99);
  const s = setup({ abort: { status: 500, percent: 30 } }, r);
  const replies = [0, 1, 2].map(() => s.run().h.events.length);
  assert.deepEqual(replies, [1, 0, 0], 'only the roll under 30% aborts');
  assert.equal(s.next.calls.length, 2);
});

test('a delay holds the request for its time on the clock, then calls next', () => {
  const s = setup({ delay: { ms: 250, percent: 100 } });
  const { ex } = s.run();
  assert.equal(s.next.calls.length, 0);
  assert.ok(ex.pending !== null, 'the delay is what the exchange waits on');
  s.clock.advance(249);
  assert.equal(s.next.calls.length, 0);
  s.clock.advance(1);
  assert.equal(s.next.calls.length, 1);
  assert.equal(s.next.last.ex, ex);
  assert.equal(ex.pending, null);
});

test('a delay at 0% does not hold the request', () => {
  const s = setup({ delay: { ms: 250, percent: 0 } });
  s.run();
  assert.equal(s.next.calls.length, 1);
  assert.equal(s.clock.pendingTimers, 0);
});

test('cancel during the delay clears its timer; next is never called', () => {
  const s = setup({ delay: { ms: 250, percent: 100 } });
  const { ex, h } = s.run();
  assert.equal(s.clock.pendingTimers, 1);
  ex.cancel(CancelReason.Client);
  assert.equal(s.clock.pendingTimers, 0);
  s.clock.advance(1_000);
  assert.equal(s.next.calls.length, 0);
  assert.equal(h.events.length, 0);
});

test('an abort wins over a delay on the same rule', () => {
  const s = setup({ delay: { ms: 250, percent: 100 }, abort: { status: 429, percent: 100 } });
  const { h } = s.run();
  assert.equal(h.local.status, 429);
  assert.equal(s.clock.pendingTimers, 0);
});
