import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { FileStore } from '../store/file-store.js';
import { tempDir } from '../test-support.js';
import { BootstrapTokens, TOKEN_TTL_MS, tokenHash } from './tokens.js';

test('a token works once, for its node, within ten minutes; the store keeps only its hash', async () => {
  const { dir, cleanup } = await tempDir();
  const store = await FileStore.open(dir);
  try {
    const t = new BootstrapTokens(store);
    assert.equal(TOKEN_TTL_MS, 600_000);
    const a = await t.issue('ns/w/0', 'spiffe://td/ns/ns/sa/w', 0);
    const saved = await readFile(join(dir, 'tokens.json'), 'utf8');
    assert.equal(saved.includes(a), false, 'the token itself is not stored');
    assert.equal(saved.includes(tokenHash(a)), true);
    assert.deepEqual(await t.consume(a, 'ns/w/0', TOKEN_TTL_MS - 1), { ok: true, identity: 'spiffe://td/ns/ns/sa/w' });
    assert.equal((await t.consume(a, 'ns/w/0', 1)).ok, false, 'second use');

    const b = await t.issue('ns/w/0', 'spiffe://td/ns/ns/sa/w', 0);
    assert.deepEqual(await t.consume(b, 'ns/w/0', TOKEN_TTL_MS), { ok: false, reason: 'token expired' });

    const c = await t.issue('ns/w/0', 'spiffe://td/ns/ns/sa/w', 0);
    assert.equal((await t.consume(c, 'ns/w/1', 1)).ok, false, 'other node');
    assert.equal((await t.consume(c, 'ns/w/0', 1)).ok, false, 'spent by the wrong attempt');
    assert.equal((await t.consume('guess', 'ns/w/0', 1)).ok, false);

    await t.issue('ns/w/0', 'spiffe://td/ns/ns/sa/w', 0);
    assert.equal(await t.sweep(TOKEN_TTL_MS), 1, 'the unused, expired token is swept');
  } finally {
    await store.close();
    await cleanup();
  }
});

test('a token issued before a restart is still good after it (it is in the store, not in memory)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const s1 = await FileStore.open(dir);
    const token = await new BootstrapTokens(s1).issue('ns/w/0', 'spiffe://td/ns/ns/sa/w', 0);
    await s1.close();
    const s2 = await FileStore.open(dir);
    assert.deepEqual(await new BootstrapTokens(s2).consume(token, 'ns/w/0', 1), { ok: true, identity: 'spiffe://td/ns/ns/sa/w' });
    await s2.close();
  } finally {
    await cleanup();
  }
});
