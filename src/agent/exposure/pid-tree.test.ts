import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appExposures, exposedBySockets, exposedOnPorts } from './exposure.js';
import { parentPid, pidTree, socketInodes } from './pid-tree.js';
import { parseProcNetTcp } from './proc-net.js';

// A fixture /proc: 100 (the app) -> 101 (a worker) -> 102; 200 is someone else's process.
// fd links as the kernel writes them: `socket:[<inode>]`, `pipe:[...]`, files.
let proc: string;

async function proc_(pid: number, ppid: number, comm: string, fds: Record<string, string>): Promise<void> {
  await mkdir(join(proc, String(pid), 'fd'), { recursive: true });
  await writeFile(join(proc, String(pid), 'stat'), `${pid} (${comm}) S ${ppid} ${pid} ${pid} 0 -1 4194560 0 0 0 0\n`);
  for (const [fd, target] of Object.entries(fds)) await symlink(target, join(proc, String(pid), 'fd', fd));
}

before(async () => {
  proc = await mkdtemp(join(tmpdir(), 'trellis-proc-'));
  await proc_(1, 0, 'init', {});
  await proc_(100, 1, 'node app.mjs', { '0': '/dev/null', '3': 'socket:[5001]', '4': 'pipe:[77]' });
  // a comm with spaces and a closing parenthesis must not shift the fields
  await proc_(101, 100, 'worker) S 1 (x', { '3': 'socket:[5002]' });
  await proc_(102, 101, 'sh', { '5': 'socket:[5004]' });
  await proc_(200, 1, 'other', { '3': 'socket:[5003]' });
  await mkdir(join(proc, 'self'));
  await writeFile(join(proc, 'meminfo'), '');
});

after(() => rm(proc, { recursive: true, force: true }));

test('parentPid reads the field after the last ")"', () => {
  assert.equal(parentPid('101 (worker) S 1 (x) S 100 101 101 0'), 100);
  assert.equal(parentPid('7 (plain) R 3 7 7 0'), 3);
  assert.equal(parentPid('garbage'), null);
});

test('pidTree: the app and all its descendants, not its parent or siblings; [] once it is gone', async () => {
  assert.deepEqual(await pidTree(100, proc), [100, 101, 102]);
  assert.deepEqual(await pidTree(101, proc), [101, 102]);
  assert.deepEqual(await pidTree(999, proc), []);
});

test('socketInodes: only socket links of the given processes', async () => {
  assert.deepEqual([...(await socketInodes([100, 101, 102], proc))].sort(), [5001, 5002, 5004]);
  assert.deepEqual([...(await socketInodes([999], proc))], []);
});

const LISTENING = parseProcNetTcp(
  [
    '   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5001 1 0 100 0 0 10 0',
    '   1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5002 1 0 100 0 0 10 0',
    '   2: 00000000:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5003 1 0 100 0 0 10 0',
    '   3: 00000000000000000000000000000000:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 5004 1 0 100 0 0 10 0',
  ].join('\n'),
);

test("the app's tree is matched by socket inode: its non-loopback listeners, a child's included, not another process's", async () => {
  const inodes = await socketInodes(await pidTree(100, proc), proc);
  assert.deepEqual(exposedBySockets(LISTENING, inodes), [
    { address: '0.0.0.0:8080', port: 8080 },
    { address: '[::]:8082', port: 8082 },
  ]);
});

test('without a pid, the declared ports decide (an external workload)', () => {
  assert.deepEqual(exposedOnPorts(LISTENING, [9090, 8081]), [{ address: '0.0.0.0:9090', port: 9090 }]);
  assert.deepEqual(exposedOnPorts(LISTENING, [8081]), [], 'loopback is not an exposure');
});

test('appExposures on the real /proc: a child process of the started pid listening on 0.0.0.0 is found, 127.0.0.1 is not', async () => {
  // the "app" is a shell whose child node process does the listening, as a wrapper script would
  const script = "const net=require('net');const a=net.createServer().listen(0,'0.0.0.0',()=>{const b=net.createServer().listen(0,'127.0.0.1',()=>console.log(a.address().port+' '+b.address().port))})";
  const child = spawn('/bin/sh', ['-c', `"${process.execPath}" -e "${script}"; true`], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  try {
    const [open, loop] = await new Promise<number[]>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim().split(' ').map(Number))));
    const found = await appExposures(child.pid as number);
    assert.deepEqual(found, [{ address: `0.0.0.0:${open}`, port: open }]);
    assert.ok(!found.some((e) => e.port === loop));
    // a listener of this test process (not in the tree) is not the app's
    const mine = net.createServer().listen(0, '0.0.0.0');
    await new Promise((r) => mine.once('listening', r));
    assert.deepEqual(await appExposures(child.pid as number), found);
    mine.close();
  } finally {
    // the shell leads its own process group: this ends it and its node child
    process.kill(-(child.pid as number), 'SIGKILL');
  }
});
