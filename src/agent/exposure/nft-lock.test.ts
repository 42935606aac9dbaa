import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AppPortLock, lockAvailability, lockScript, lockTableName, type NftRunner } from './nft-lock.js';

test('the script replaces the whole table in one transaction, ports sorted and unique; none removes it', () => {
  assert.equal(
    lockScript('t', [9090, 8080, 9090]),
    'table inet t\ndelete table inet t\ntable inet t {\n  chain input {\n    type filter hook input priority -10; policy accept;\n    iif "lo" accept\n    tcp dport { 8080, 9090 } drop\n  }\n}\n',
  );
  assert.equal(lockScript('t', []), 'table inet t\ndelete table inet t\n');
});

test('one table per agent state directory, a valid nft identifier', () => {
  assert.match(lockTableName('/var/lib/trellis'), /^trellis_lock_[0-9a-f]{12}$/);
  assert.notEqual(lockTableName('/a'), lockTableName('/b'));
});

test('availability says why not: not Linux, not root, no nft, nft refused', async () => {
  const ok: NftRunner = () => Promise.resolve({ code: 0, stdout: '', stderr: '' });
  assert.deepEqual(await lockAvailability(ok, 'darwin', 0), { ok: false, reason: 'nftables needs Linux (this host is darwin)' });
  assert.deepEqual(await lockAvailability(ok, 'linux', 1000), { ok: false, reason: 'the agent is not running as root' });
  const absent: NftRunner = () => Promise.resolve({ code: -1, stdout: '', stderr: 'spawn nft ENOENT' });
  assert.match((await lockAvailability(absent, 'linux', 0) as { reason: string }).reason, /nft is not installed/);
  const denied: NftRunner = () => Promise.resolve({ code: 1, stdout: '', stderr: 'Operation not permitted' });
  assert.deepEqual(await lockAvailability(denied, 'linux', 0), { ok: false, reason: 'nft cannot read the ruleset: Operation not permitted' });
  assert.deepEqual(await lockAvailability(ok, 'linux', 0), { ok: true });
});

test('apply runs nft only when the ports change; a refusal throws with nft\'s message and leaves nothing marked locked', async () => {
  const scripts: string[] = [];
  let code = 0;
  const run: NftRunner = (_args, stdin) => {
    scripts.push(stdin ?? '');
    return Promise.resolve({ code, stdout: '', stderr: code === 0 ? '' : 'Error: syntax' });
  };
  const lock = new AppPortLock('t', run);
  await lock.apply([8080]);
  await lock.apply([8080]);
  assert.equal(scripts.length, 1);
  await lock.apply([8080, 9090]);
  assert.equal(scripts.length, 2);
  assert.deepEqual(lock.lockedPorts, [8080, 9090]);
  await lock.remove();
  assert.deepEqual(lock.lockedPorts, []);
  code = 1;
  await assert.rejects(lock.apply([1]), /nft refused the rules: Error: syntax/);
  assert.deepEqual(lock.lockedPorts, []);
});
