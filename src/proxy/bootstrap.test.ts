import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkBootstrap } from './bootstrap.js';
import { bootstrap } from './testing/fixtures.js';

const valid = (): Record<string, unknown> => {
  const b = bootstrap('spiffe://t.local/ns/default/sa/a', [], []) as unknown as Record<string, unknown>;
  return { ...b, controlPlane: { ...(b.controlPlane as object), trustBundlePem: ['PEM'] } };
};

test('accessLog: off, stdout, a path, or a file with its rotation', () => {
  for (const accessLog of ['off', 'stdout', '/var/log/a.log', { path: '/var/log/a.log', maxBytes: 1024, keep: 0 }]) {
    assert.equal(checkBootstrap({ ...valid(), accessLog }), null, JSON.stringify(accessLog));
  }
});

test('accessLog: a bad rotation names the field', () => {
  assert.equal(checkBootstrap({ ...valid(), accessLog: 7 }), 'accessLog: expected off, stdout, a path or {path, maxBytes, keep}');
  assert.equal(checkBootstrap({ ...valid(), accessLog: { maxBytes: 1, keep: 1 } }), 'accessLog.path: expected a file path');
  assert.equal(checkBootstrap({ ...valid(), accessLog: { path: 'a', maxBytes: 0, keep: 1 } }), 'accessLog.maxBytes: expected a whole number of bytes >= 1');
  assert.equal(checkBootstrap({ ...valid(), accessLog: { path: 'a', maxBytes: 10, keep: -1 } }), 'accessLog.keep: expected a whole number >= 0');
});
