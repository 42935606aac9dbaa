/**
 * The lab's host layer (test/lab/netns.ts, test/helpers/netns-lab.ts): hosts made of network
 * namespaces reach each other only over the lab's bridge, each has its own loopback and host
 * name, the root namespace reaches them, and cleanup leaves nothing behind, also when a test
 * fails or its process died.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { describe, it } from 'node:test';
import { createNetwork, labLinks, labNamespaces, namespacePids, removeNetwork } from '../lab/netns.js';
import { spawnOnHost } from '../lab/host-process.js';
import { labSkipReason, sweepDeadTestLabs, useNetnsLab, withNetnsLab } from '../helpers/netns-lab.js';
import { pidAlive, waitFor } from '../helpers/proc.js';

/** A TCP server on `<host>:<port>` that answers every connection with this host's name. */
const SERVER = `const net = require('node:net'); const os = require('node:os');
net.createServer((s) => s.end(os.hostname() + ' ' + process.argv[3] + '\\n')).listen(Number(process.argv[2]), process.argv[1]);`;
/** Connects to `<host>:<port>` and prints what it got, or `error <code>` (3 s connect timeout). */
const CLIENT = `const s = require('node:net').connect({ host: process.argv[1], port: Number(process.argv[2]) });
let out = ''; s.setTimeout(3000, () => { console.log('error timeout'); process.exit(0); });
s.on('data', (d) => (out += d)); s.on('end', () => { console.log(out.trim()); process.exit(0); });
s.on('error', (e) => { console.log('error ' + e.code); process.exit(0); });`;

/** What a connection from the root namespace to host:port reads, or `error <code>`. */
function readFrom(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    let out = '';
    s.setTimeout(3000, () => {
      s.destroy();
      resolve('error timeout');
    });
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('end', () => resolve(out.trim()));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
  });
}

describe('network-namespace hosts', { skip: labSkipReason() }, () => {
  const lab = useNetnsLab({ hosts: ['h1', 'h2'] });

  it('each host has its own address on the bridge, and the root namespace reaches it', async () => {
    const l = lab.get();
    const [h1, h2] = l.hosts;
    assert.ok(h1 && h2);
    assert.notEqual(h1.address, h2.address);
    assert.match(h1.address, /^10\.77\.\d+\.11$/);
    l.spawn('h1', [process.execPath, '-e', SERVER, h1.address, '7000', 'public']);
    l.spawn('h2', [process.execPath, '-e', SERVER, h2.address, '7000', 'public']);
    assert.equal(await waitFor('h1 server from the root namespace', async () => ((await readFrom(h1.address, 7000)).startsWith('h1') ? readFrom(h1.address, 7000) : false)), 'h1 public');
    assert.equal(await waitFor('h2 server from the root namespace', async () => ((await readFrom(h2.address, 7000)).startsWith('h2') ? readFrom(h2.address, 7000) : false)), 'h2 public');
  });

  it('hosts reach each other over the bridge; a host name is its own', async () => {
    const l = lab.get();
    const h1 = l.host('h1');
    const h2 = l.host('h2');
    const fromH2 = await l.exec('h2', [process.execPath, '-e', CLIENT, h1.address, '7000']);
    assert.equal(fromH2.stdout.trim(), 'h1 public', fromH2.stderr);
    const fromH1 = await l.exec('h1', [process.execPath, '-e', CLIENT, h2.address, '7000']);
    assert.equal(fromH1.stdout.trim(), 'h2 public', fromH1.stderr);
  });

  it('loopback is per host: what h1 binds on 127.0.0.1 is out of reach of h2', async () => {
    const l = lab.get();
    l.spawn('h1', [process.execPath, '-e', SERVER, '127.0.0.1', '7001', 'private'], { logFile: `${l.dir}/h1/private.log` });
    const local = await waitFor('h1 private server from h1', async () => {
      const r = await l.exec('h1', [process.execPath, '-e', CLIENT, '127.0.0.1', '7001']);
      return r.stdout.startsWith('h1') ? r.stdout.trim() : false;
    });
    assert.equal(local, 'h1 private');
    const fromH2Loopback = await l.exec('h2', [process.execPath, '-e', CLIENT, '127.0.0.1', '7001']);
    assert.equal(fromH2Loopback.stdout.trim(), 'error ECONNREFUSED', 'h2 has its own loopback');
    const fromH2 = await l.exec('h2', [process.execPath, '-e', CLIENT, l.host('h1').address, '7001']);
    assert.equal(fromH2.stdout.trim(), 'error ECONNREFUSED', 'not bound on h1\'s address');
  });

  it('the bridge is the only way between hosts: with h1\'s link down h2 cannot reach it, and can again once it is up', async () => {
    const l = lab.get();
    const h1 = l.host('h1');
    await l.cut('h1');
    try {
      const cut = await l.exec('h2', [process.execPath, '-e', CLIENT, h1.address, '7000']);
      assert.match(cut.stdout.trim(), /^error (timeout|EHOSTUNREACH|ENETUNREACH)$/);
    } finally {
      await l.rejoin('h1');
    }
    const back = await waitFor('h1 reachable again', async () => {
      const r = await l.exec('h2', [process.execPath, '-e', CLIENT, h1.address, '7000']);
      return r.stdout.startsWith('h1') ? r.stdout.trim() : false;
    });
    assert.equal(back, 'h1 public');
  });
});

describe('network-namespace hosts: cleanup', { skip: labSkipReason() }, () => {
  it('closing the lab ends its processes and removes namespaces, links and folder, also when the test body throws', async () => {
    let seen: { prefix: string; dir: string; pids: number[] } | undefined;
    await assert.rejects(
      withNetnsLab({ hosts: ['h1', 'h2'] }, async (l) => {
        const a = l.spawn('h1', ['sleep', '1000']);
        const b = l.spawn('h2', ['sleep', '1000']);
        seen = { prefix: l.prefix, dir: l.dir, pids: [a.pid ?? -1, b.pid ?? -1] };
        await waitFor('sleepers in their namespaces', async () => (await namespacePids(l.host('h1').netns)).length > 0 && (await namespacePids(l.host('h2').netns)).length > 0);
        throw new Error('the test failed here');
      }),
      /the test failed here/,
    );
    assert.ok(seen);
    assert.deepEqual(await labNamespaces(seen.prefix), []);
    assert.deepEqual(await labLinks(seen.prefix), []);
    for (const pid of seen.pids) assert.equal(pidAlive(pid), false, `pid ${pid} ended`);
    assert.equal(existsSync(seen.dir), false);
  });

  it('a lab whose creator died is found by name: removeNetwork(prefix) and the sweep of dead test labs', async () => {
    // A pid that is certainly gone: a process that already exited.
    const gone = spawnSync('true');
    const deadPid = gone.pid;
    assert.equal(pidAlive(deadPid), false);
    const orphan = `t9${deadPid.toString(36)}`;
    const manual = 'tlabrm';
    try {
      const made = await createNetwork({ prefix: manual, subnet: '10.77.251', hosts: ['h1'] });
      // Detached and forgotten, as if the process that started it had been killed.
      const sleeper = spawnOnHost(made.hosts[0]!, ['sleep', '1000'], { cwd: '/', logFile: '/dev/null', detached: true });
      await waitFor('sleeper in the namespace', async () => (await namespacePids(made.hosts[0]!.netns)).length > 0);
      const removed = await removeNetwork(manual);
      assert.deepEqual(removed.namespaces, [`${manual}-h1`]);
      assert.ok(removed.killed.includes(sleeper.pid ?? -1), 'its process was ended');
      assert.deepEqual(await labLinks(manual), []);

      await createNetwork({ prefix: orphan, subnet: '10.77.252', hosts: ['h1', 'h2'] });
      assert.ok((await sweepDeadTestLabs()).includes(orphan));
      assert.deepEqual(await labNamespaces(orphan), []);
      assert.deepEqual(await labLinks(orphan), []);
    } finally {
      await removeNetwork(manual).catch(() => undefined);
      await removeNetwork(orphan).catch(() => undefined);
    }
  });
});
