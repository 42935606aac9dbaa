import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIdempotent } from './idempotent.js';

test('idempotent methods are those of RFC 9110 §9.2.2, case-sensitive', () => {
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']) assert.equal(isIdempotent(m), true, m);
  for (const m of ['POST', 'PATCH', 'CONNECT', 'get', 'Put', '']) assert.equal(isIdempotent(m), false, m);
});
