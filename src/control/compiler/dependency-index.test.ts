import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DependencyIndex } from './dependency-index.js';

test('dependents: every item that reads any of the inputs, once', () => {
  const ix = new DependencyIndex();
  ix.set('g1', ['svc:a', 'ep:a:http']);
  ix.set('g2', ['svc:a', 'svc:b']);
  ix.set('g3', ['svc:c']);
  assert.deepEqual([...ix.dependents(['svc:a'])].sort(), ['g1', 'g2']);
  assert.deepEqual([...ix.dependents(['ep:a:http', 'svc:b'])].sort(), ['g1', 'g2']);
  assert.deepEqual([...ix.dependents(['svc:c', 'svc:c'])], ['g3']);
  assert.deepEqual([...ix.dependents(['svc:z'])], []);
});

test('set replaces what an item reads: inputs it no longer reads stop pointing at it', () => {
  const ix = new DependencyIndex();
  ix.set('g1', ['svc:a', 'svc:b']);
  ix.set('g1', ['svc:b', 'svc:c']);
  assert.deepEqual([...ix.dependents(['svc:a'])], []);
  assert.deepEqual([...ix.dependents(['svc:c'])], ['g1']);
  assert.deepEqual([...ix.inputsOf('g1')].sort(), ['svc:b', 'svc:c']);
  assert.deepEqual(ix.size, { items: 1, inputs: 2 }, 'an input nobody reads is forgotten');
});

test('remove forgets an item and the inputs only it read; clear forgets everything', () => {
  const ix = new DependencyIndex();
  ix.set('g1', ['svc:a', 'svc:b']);
  ix.set('g2', ['svc:b']);
  ix.remove('g1');
  ix.remove('never-set');
  assert.equal(ix.has('g1'), false);
  assert.deepEqual([...ix.inputsOf('g1')], []);
  assert.deepEqual([...ix.dependents(['svc:a', 'svc:b'])], ['g2']);
  assert.deepEqual(ix.size, { items: 1, inputs: 1 });
  ix.set('g3', []);
  assert.equal(ix.has('g3'), true, 'an item that reads nothing is still known');
  ix.clear();
  assert.deepEqual(ix.size, { items: 0, inputs: 0 });
  assert.deepEqual([...ix.dependents(['svc:b'])], []);
});
