import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { spendOutcome, type StoredJoinToken } from './credential-store.js';

const token = (over: Partial<StoredJoinToken> = {}): StoredJoinToken => ({
  id: 'aaaaaaaaaaaaaaaa',
  hash: 'h',
  host: 'h1',
  serviceAccounts: ['shop/*'],
  createdAt: 1_000,
  expiresAt: 2_000,
  usedAt: null,
  ...over,
});

describe('spendOutcome: the join-token rule every store applies', () => {
  it('spends an unused, unexpired token at `now` and leaves the stored one as it was', () => {
    const stored = token();
    const out = spendOutcome(stored, 1_500);
    assert.deepEqual(out, { ok: true, token: { ...stored, usedAt: 1_500 } });
    assert.equal(stored.usedAt, null);
  });

  it('refuses a token nobody stored', () => {
    assert.deepEqual(spendOutcome(undefined, 1_500), { ok: false, reason: 'unknown' });
    assert.deepEqual(spendOutcome(null, 1_500), { ok: false, reason: 'unknown' });
  });

  it('says "used" before "expired" for a spent token past its expiry (the agent learns it was spent)', () => {
    assert.deepEqual(spendOutcome(token({ usedAt: 1_200 }), 3_000), { ok: false, reason: 'used' });
  });

  it('treats the expiry instant as expired', () => {
    assert.deepEqual(spendOutcome(token(), 2_000), { ok: false, reason: 'expired' });
    assert.equal(spendOutcome(token(), 1_999).ok, true);
  });
});
