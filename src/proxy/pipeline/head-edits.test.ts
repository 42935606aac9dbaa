import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CompiledHeaderModifier } from '../routing/types.js';
import { HeadEdits } from './head-edits.js';

function modifier(m: { set?: [string, string][]; add?: [string, string][]; remove?: string[] }): CompiledHeaderModifier {
  return { set: m.set ?? [], add: m.add ?? [], remove: new Set(m.remove ?? []) };
}

test('drops: a name removed or set is dropped from the received head; an added one is not', () => {
  const e = new HeadEdits();
  assert.equal(e.drops('x-a'), false);
  e.removeField('x-a');
  e.setField('x-b', '1');
  e.addField('x-c', '2');
  assert.equal(e.drops('x-a'), true);
  assert.equal(e.drops('x-b'), true);
  assert.equal(e.drops('x-c'), false);
});

test('setField replaces a value set before; addField appends', () => {
  const e = new HeadEdits();
  e.setField('x-a', '1');
  e.setField('x-b', '2');
  e.setField('x-a', '3');
  assert.deepEqual(e.set, ['x-a', '3', 'x-b', '2']);
  e.addField('x-c', '1');
  e.addField('x-c', '2');
  assert.deepEqual(e.add, ['x-c', '1', 'x-c', '2']);
  e.addFields(['set-cookie', 'a=1', 'set-cookie', 'b=2']);
  assert.deepEqual(e.add, ['x-c', '1', 'x-c', '2', 'set-cookie', 'a=1', 'set-cookie', 'b=2']);
});

test('applyModifier on a request: host set or added replaces the authority; host removed is kept', () => {
  const e = new HeadEdits();
  e.applyModifier(modifier({ set: [['host', 'a.example'], ['x-s', '1']], add: [['x-a', '2']], remove: ['host', 'x-r'] }), true);
  assert.equal(e.authority, 'a.example');
  assert.equal(e.drops('host'), false, 'a request keeps exactly one Host');
  assert.deepEqual(e.set, ['x-s', '1']);
  assert.deepEqual(e.add, ['x-a', '2']);
  assert.equal(e.drops('x-r'), true);
  const added = new HeadEdits();
  added.applyModifier(modifier({ add: [['host', 'b.example']] }), true);
  assert.equal(added.authority, 'b.example');
  assert.equal(added.add, null);
});

test('applyModifier on a response: host is a field like any other', () => {
  const e = new HeadEdits();
  e.applyModifier(modifier({ set: [['host', 'a.example']], remove: ['server'] }), false);
  assert.equal(e.authority, undefined);
  assert.deepEqual(e.set, ['host', 'a.example']);
  assert.equal(e.drops('server'), true);
});

test('clone copies every edit; changing the clone leaves the original as it was', () => {
  const e = new HeadEdits();
  e.target = '/a?b';
  e.authority = 'svc';
  e.removeField('x-r');
  e.setField('x-s', '1');
  e.addField('x-a', '2');
  const c = e.clone();
  assert.deepEqual({ t: c.target, a: c.authority, r: [...c.remove!], s: c.set, ad: c.add }, { t: '/a?b', a: 'svc', r: ['x-r'], s: ['x-s', '1'], ad: ['x-a', '2'] });
  c.removeField('x-r2');
  c.setField('x-s', '9');
  c.addField('x-a2', '3');
  c.authority = 'other';
  assert.deepEqual([...e.remove!], ['x-r']);
  assert.deepEqual(e.set, ['x-s', '1']);
  assert.deepEqual(e.add, ['x-a', '2']);
  assert.equal(e.authority, 'svc');
});

test('sharedOf: frozen, marked shared, its clone is not', () => {
  const s = HeadEdits.sharedOf((e) => e.setField('x-s', '1'));
  assert.equal(s.shared, true);
  assert.ok(Object.isFrozen(s));
  assert.throws(() => {
    (s as { authority: string | undefined }).authority = 'x';
  }, TypeError);
  const c = s.clone();
  assert.equal(c.shared, false);
  c.setField('x-s', '2');
  assert.deepEqual(s.set, ['x-s', '1']);
});
