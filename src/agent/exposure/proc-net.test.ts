import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAddress, parseProcNetTcp } from './proc-net.js';

// Real lines, captured from this kind of host (x86-64, little-endian) with node servers on
// 0.0.0.0, 127.0.0.1, ::, ::1, ::ffff:127.0.0.1 and ::ffff:0.0.0.0; plus an established
// connection and a global IPv6 address made by hand in the same format.
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:9837 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 933513 1 00000000c68b7af8 100 0 0 10 0
   6: 0100007F:912F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 933514 1 00000000ce82fa51 100 0 0 10 0
   7: 0100007F:912F 0100007F:D3A2 01 00000000:00000000 00:00000000 00000000     0        0 933600 1 00000000ce82fa52 20 4 30 10 -1
   8: 0500000A:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 933601 1 00000000ce82fa53 100 0 0 10 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:B5E7 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 933516 1 000000001976b171 100 0 0 10 0
   1: 0000000000000000FFFF000000000000:84E9 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 933518 1 00000000f0df46c9 100 0 0 10 0
   2: 00000000000000000000000000000000:82CD 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 933515 1 00000000f1de89cd 100 0 0 10 0
   3: 0000000000000000FFFF00000100007F:9617 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 933517 1 00000000ab9692e9 100 0 0 10 0
   4: B80D0120000000000000000005000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 933519 1 00000000ab9692ea 100 0 0 10 0
`;

test('IPv4: LISTEN sockets only, addresses and ports decoded, loopback told apart', () => {
  const got = parseProcNetTcp(TCP).map((s) => [formatAddress(s), s.inode, s.loopback]);
  assert.deepEqual(got, [
    ['0.0.0.0:38967', 933513, false],
    ['127.0.0.1:37167', 933514, true],
    ['10.0.0.5:8080', 933601, false],
  ]);
});

test('IPv6: [::], ::1, IPv4-mapped (loopback and any) and a global address', () => {
  const got = parseProcNetTcp(TCP6).map((s) => [formatAddress(s), s.inode, s.loopback]);
  assert.deepEqual(got, [
    ['[::1]:46567', 933516, true],
    ['[::ffff:0.0.0.0]:34025', 933518, false],
    ['[::]:33485', 933515, false],
    ['[::ffff:127.0.0.1]:38423', 933517, true],
    ['[2001:db8::5]:80', 933519, false],
  ]);
});

test('a big-endian host reads the words the other way round', () => {
  const [s] = parseProcNetTcp('   0: 7F000001:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 42 1 0 100 0 0 10 0\n', false);
  assert.equal(s?.address, '127.0.0.1');
  assert.equal(s?.loopback, true);
});

test('broken lines are skipped, never thrown: truncated, bad hex, bad inode, empty', () => {
  const text = [
    '   0: 00000000:9837 00000000:0000 0A',
    '   1: 0000000G:9837 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1 0',
    '   2: 00000000:98 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1 0',
    '   3: 000000:9837 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1 0',
    '   4: 00000000:9837 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 x 1 0',
    '',
    'garbage',
  ].join('\n');
  assert.deepEqual(parseProcNetTcp(text), []);
});
