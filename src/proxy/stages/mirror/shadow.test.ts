import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shadowAuthority } from './shadow.js';

test('shadow authority keeps the port valid', () => {
  assert.equal(shadowAuthority('svc'), 'svc-shadow');
  assert.equal(shadowAuthority('svc:8080'), 'svc-shadow:8080');
  assert.equal(shadowAuthority('[::1]:80'), '[::1]-shadow:80');
  assert.equal(shadowAuthority('[::1]'), '[::1]-shadow');
});
