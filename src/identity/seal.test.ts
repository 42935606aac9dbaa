import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../control/test-support.js';
import { deriveKey, readSealKey, seal, unseal } from './seal.js';

test('sealed data opens only with the same key and the same context, and not after a change', () => {
  const key = randomBytes(32);
  const sealed = seal(key, Buffer.from('the CA key'), 'ctx-a');
  assert.doesNotMatch(sealed, /the CA key/);
  assert.equal(unseal(key, sealed, 'ctx-a').toString(), 'the CA key');
  assert.throws(() => unseal(randomBytes(32), sealed, 'ctx-a'), /does not open with this key/);
  assert.throws(() => unseal(key, sealed, 'ctx-b'), /does not open with this key/, 'moved to another context');
  const raw = Buffer.from(sealed.slice(3), 'base64');
  raw[raw.length - 1] = (raw[raw.length - 1] as number) ^ 1;
  assert.throws(() => unseal(key, `v1.${raw.toString('base64')}`, 'ctx-a'), /does not open with this key/, 'a flipped bit');
  assert.notEqual(seal(key, Buffer.from('x'), 'c'), seal(key, Buffer.from('x'), 'c'), 'a fresh IV each time');
  assert.notDeepEqual(deriveKey(key, 'ca key'), deriveKey(key, 'shared secrets'));
});

test('the seal key file must be private to its owner and hold 32 bytes (raw, base64 or hex)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const key = randomBytes(32);
    const file = join(dir, 'seal.key');
    for (const content of [key, Buffer.from(`${key.toString('base64')}\n`), Buffer.from(key.toString('hex'))]) {
      await writeFile(file, content, { mode: 0o600 });
      await chmod(file, 0o600);
      assert.deepEqual(await readSealKey(file), key);
    }
    await chmod(file, 0o640);
    await assert.rejects(readSealKey(file), /mode 0640: it must be readable by its owner only/);
    await chmod(file, 0o400);
    assert.deepEqual(await readSealKey(file), key, '0400 is fine');
    await writeFile(join(dir, 'short.key'), 'abc', { mode: 0o600 });
    await assert.rejects(readSealKey(join(dir, 'short.key')), /must hold 32 random bytes/);
    await assert.rejects(readSealKey(join(dir, 'missing.key')), /seal key file .*missing.key/);
  } finally {
    await cleanup();
  }
});
