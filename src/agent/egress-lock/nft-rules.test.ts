import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cgroup2Mount, lockRuleset, lockTableName, unlockRuleset } from './nft-rules.js';

test('the table name is a valid nft identifier whatever the id', () => {
  assert.equal(lockTableName('ab12-x.y'), 'trellis_egress_ab12_x_y');
});

test('the ruleset replaces the table atomically and lets the apps cgroup reach loopback only', () => {
  const r = lockRuleset('trellis_egress_t', { nftPath: 'unified/trellis-egress-t', level: 1 });
  const lines = r.split('\n');
  assert.deepEqual(lines.slice(0, 3), ['table inet trellis_egress_t {}', 'delete table inet trellis_egress_t', 'table inet trellis_egress_t {']);
  const rules = lines.filter((l) => l.includes('socket cgroupv2'));
  assert.equal(rules.length, 4);
  for (const l of rules) assert.ok(l.includes('socket cgroupv2 level 1 "unified/trellis-egress-t"'), l);
  assert.ok(rules.some((l) => l.includes('ip daddr != 127.0.0.0/8 meta l4proto tcp counter reject with tcp reset')));
  assert.ok(rules.some((l) => l.includes('ip6 daddr != ::1 meta l4proto tcp counter reject with tcp reset')));
  assert.equal(unlockRuleset('trellis_egress_t'), 'table inet trellis_egress_t {}\ndelete table inet trellis_egress_t\n');
});

test('cgroup2 is found on unified and hybrid hosts, and its absence is reported', () => {
  const unified = '30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n';
  const hybrid =
    '31 25 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n' +
    '40 25 0:35 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n';
  assert.equal(cgroup2Mount(unified), '/sys/fs/cgroup');
  assert.equal(cgroup2Mount(hybrid), '/sys/fs/cgroup/unified');
  assert.equal(cgroup2Mount('31 25 0:27 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n'), null);
});
