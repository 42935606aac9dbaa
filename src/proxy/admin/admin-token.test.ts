import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bearerMatches, checkAdminToken, MIN_ADMIN_TOKEN_LENGTH } from './admin-token.js';

const TOKEN = 'q'.repeat(MIN_ADMIN_TOKEN_LENGTH);

test('bearerMatches: only "Bearer <the token>", scheme in any case', () => {
  assert.equal(bearerMatches(`Bearer ${TOKEN}`, TOKEN), true);
  assert.equal(bearerMatches(`bEaReR ${TOKEN}`, TOKEN), true);
  for (const h of [undefined, '', 'Bearer', `Bearer  `, `Bearer ${TOKEN}q`, `Bearer ${TOKEN.slice(1)}`, `Basic ${TOKEN}`, TOKEN, `Bearer ${TOKEN},x`]) {
    assert.equal(bearerMatches(h, TOKEN), false, String(h));
  }
  assert.equal(bearerMatches([`Bearer ${TOKEN}`, `Bearer ${TOKEN}`], TOKEN), false, 'a repeated header is not a credential');
  assert.equal(bearerMatches('Bearer undefined', undefined), false, 'no configured token: nothing matches');
});

test('checkAdminToken: absent is allowed (no state-changing calls); short or spaced tokens are refused', () => {
  assert.equal(checkAdminToken(undefined), undefined);
  assert.equal(checkAdminToken(TOKEN), TOKEN);
  assert.throws(() => checkAdminToken('short'), /adminToken: expected a string of at least 32/);
  assert.throws(() => checkAdminToken(`${TOKEN} x`), /adminToken/);
  assert.throws(() => checkAdminToken(42), /adminToken/);
});
