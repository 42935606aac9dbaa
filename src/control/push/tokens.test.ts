import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BootstrapTokens, TOKEN_TTL_MS } from './tokens.js';

test('a token works once, for its node, within ten minutes', () => {
  const t = new BootstrapTokens();
  assert.equal(TOKEN_TTL_MS, 600_000);
  const a = t.issue('ns/w/0', 'spiffe://td/ns/ns/sa/w', 0);
  assert.deepEqual(t.consume(a, 'ns/w/0', TOKEN_TTL_MS - 1), { ok: true, identity: 'spiffe://td/ns/ns/sa/w' });
  assert.equal(t.consume(a, 'ns/w/0', 1).ok, false, 'second use');

  const b = t.issue('ns/w/0', 'spiffe://td/ns/ns/sa/w', 0);
  assert.deepEqual(t.consume(b, 'ns/w/0', TOKEN_TTL_MS), { ok: false, reason: 'token expired' });

  const c = t.issue('ns/w/0', 'spiffe://td/ns/ns/sa/w', 0);
  assert.equal(t.consume(c, 'ns/w/1', 1).ok, false, 'other node');
  assert.equal(t.consume(c, 'ns/w/0', 1).ok, false, 'spent by the wrong attempt');
  assert.equal(t.consume('guess', 'ns/w/0', 1).ok, false);
});
