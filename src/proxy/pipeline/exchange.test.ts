import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exchange } from '../testing/stage-harness.js';
import { HeadEdits } from './head-edits.js';
import { CancelReason } from './service.js';
import type { Cancellable } from './service.js';

function pending(): Cancellable & { reasons: string[] } {
  const reasons: string[] = [];
  return { reasons, cancel: (r) => reasons.push(r) };
}

test('cancel: records the first reason, cancels what is pending once and forgets it', () => {
  const ex = exchange();
  const p = pending();
  ex.pending = p;
  ex.cancel(CancelReason.Client);
  assert.equal(ex.cancelled, 'client');
  assert.equal(ex.pending, null);
  assert.deepEqual(p.reasons, ['client']);
  // Idempotent: a later cancel changes nothing, even with something new pending.
  const q = pending();
  ex.pending = q;
  ex.cancel(CancelReason.Timeout);
  assert.equal(ex.cancelled, 'client');
  assert.deepEqual(p.reasons, ['client']);
  assert.deepEqual(q.reasons, []);
});

test('cancel with nothing pending only marks the exchange', () => {
  const ex = exchange();
  ex.cancel(CancelReason.Timeout);
  assert.equal(ex.cancelled, 'timeout');
});

test('editRequest / editResponse make edits on first use and return the same object after', () => {
  const ex = exchange();
  assert.equal(ex.requestEdits, null);
  const e = ex.editRequest();
  assert.equal(ex.requestEdits, e);
  assert.equal(ex.editRequest(), e);
  const r = ex.editResponse();
  assert.equal(ex.responseEdits, r);
  assert.equal(ex.editResponse(), r);
  assert.notEqual(e, r);
});

test('shared edits are copied before an exchange changes them (copy on write)', () => {
  const shared = HeadEdits.sharedOf((e) => e.removeField('trellis-reason'));
  const a = exchange();
  const b = exchange();
  a.requestEdits = shared;
  b.responseEdits = shared;
  const ea = a.editRequest();
  const eb = b.editResponse();
  assert.notEqual(ea, shared);
  assert.notEqual(eb, shared);
  assert.equal(ea.shared, false);
  ea.setField('x-a', '1');
  eb.addField('x-b', '2');
  assert.equal(ea.drops('trellis-reason'), true, 'the copy keeps the shared edits');
  assert.equal(shared.set, null, 'the shared edits are unchanged');
  assert.equal(shared.add, null);
  assert.deepEqual([...shared.remove!], ['trellis-reason']);
  assert.equal(a.editRequest(), ea, 'copied once');
});

test('header() finds the first field of a lower-case name', () => {
  const ex = exchange({ headers: ['host', 'svc', 'x-a', '1', 'x-a', '2'] });
  assert.equal(ex.header('x-a'), '1');
  assert.equal(ex.header('x-b'), undefined);
});
