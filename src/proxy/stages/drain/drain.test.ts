import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordingHandler, RecordingService, exchange } from '../../testing/stage-harness.js';
import { DrainStage } from './drain.js';

test('while draining, a new request is answered 503 draining and next is never called', () => {
  let draining = false;
  const next = new RecordingService();
  const stage = new DrainStage({ isDraining: () => draining }, next);
  stage.call(exchange(), new RecordingHandler());
  assert.equal(next.calls.length, 1);
  draining = true;
  const h = new RecordingHandler();
  stage.call(exchange(), h);
  assert.equal(next.calls.length, 1);
  assert.equal(h.local.status, 503);
  assert.equal(h.local.reason, 'draining');
});

test('not draining: the exchange and handler pass on unchanged', () => {
  const next = new RecordingService();
  const ex = exchange();
  const h = new RecordingHandler();
  new DrainStage({ isDraining: () => false }, next).call(ex, h);
  assert.equal(next.last.ex, ex);
  assert.equal(next.last.handler, h);
  assert.equal(h.events.length, 0);
});
