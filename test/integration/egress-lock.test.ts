/**
 * Kernel enforcement of registryOnly, inside a network namespace this test creates (nftables
 * tables belong to their namespace, so nothing here touches the host's firewall). An address
 * on the namespace's own loopback device, 10.203.0.1, stands in for the outside: it is not in
 * 127.0.0.0/8, so the rules treat it as outside, yet nothing leaves the machine.
 *
 * Needs root, `ip`, `nsenter`, `nft` and cgroup2 (.ci/run installs nftables); skipped otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { confinedArgv, EgressLock } from '../../src/agent/egress-lock/egress-lock.js';

const NS = `trellis-egl-${process.pid}`;
const OUTSIDE = '10.203.0.1';

function canRun(): string | null {
  if (process.getuid?.() !== 0) return 'not root';
  for (const tool of ['ip', 'nsenter', 'nft']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed`;
    }
  }
  return null;
}
const skip = canRun();

const inNs = ['nsenter', `--net=/var/run/netns/${NS}`];

/** Runs `node -e` in the namespace (optionally confined to the lock's cgroup); resolves to what it printed. */
function dial(port: number, cgroupProcs: string | null): Promise<string> {
  const script = `const c=require('net').connect(${port},'${OUTSIDE}');c.on('data',d=>{process.stdout.write(String(d));c.destroy()});c.on('error',e=>process.stdout.write(e.code))`;
  const argv = [process.execPath, '-e', script];
  const full = [...inNs, ...(cgroupProcs !== null ? confinedArgv(cgroupProcs, argv) : argv)];
  return new Promise((resolve) => {
    const child = spawn(full[0] as string, full.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => resolve(out.trim()));
  });
}

describe('egress lock (nftables + cgroup) in a network namespace', { skip: skip ?? false }, () => {
  let server: ReturnType<typeof spawn> | undefined;
  const port = 18000 + (process.pid % 1000);
  const lock = new EgressLock({ id: `test${process.pid}`, nft: [...inNs, 'nft'] });

  before(async () => {
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['-n', NS, 'addr', 'add', `${OUTSIDE}/32`, 'dev', 'lo']);
    // The "outside service": answers every connection with one line.
    server = spawn('nsenter', [`--net=/var/run/netns/${NS}`, process.execPath, '-e', `require('net').createServer(c=>c.end('outside\\n')).listen(${port},'${OUTSIDE}',()=>console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => server?.stdout?.once('data', () => resolve()));
  });

  after(async () => {
    await lock.remove();
    server?.kill();
    execFileSync('ip', ['netns', 'del', NS]);
  });

  it('without the lock an app reaches the outside directly', async () => {
    assert.equal(await dial(port, null), 'outside');
  });

  it('with the lock an app in the apps cgroup is reset, while the proxy (outside the cgroup) still connects; installing twice is the same', async () => {
    const first = await lock.install();
    assert.ok(first.ok, first.ok ? '' : first.reason);
    const again = await lock.install();
    assert.ok(again.ok, 'installing twice replaces the table');
    const tables = execFileSync(inNs[0] as string, [...inNs.slice(1), 'nft', 'list', 'tables']).toString();
    assert.equal(tables.split('\n').filter((l) => l.includes(`trellis_egress_test${process.pid}`)).length, 1, tables);
    assert.equal(await dial(port, lock.cgroupProcs), 'ECONNREFUSED', 'the app dialing past its proxy is refused');
    assert.equal(await dial(port, null), 'outside', 'the proxy is not confined');
  });

  it('remove takes the table away (nothing left behind) and the app connects again', async () => {
    const procs = lock.cgroupProcs;
    assert.equal(await lock.remove(), null);
    const tables = execFileSync(inNs[0] as string, [...inNs.slice(1), 'nft', 'list', 'tables']).toString();
    assert.ok(!tables.includes(`trellis_egress_test${process.pid}`), tables);
    assert.equal(lock.cgroupProcs, null);
    assert.ok(procs !== null);
    assert.equal(await dial(port, null), 'outside');
    assert.equal(await lock.remove(), null, 'removing twice is fine');
  });

  it('says why where it cannot: not root, no nft', async () => {
    const notRoot = await new EgressLock({ id: 'x', isRoot: () => false }).install();
    assert.deepEqual(notRoot, { ok: false, reason: 'the agent does not run as root, so it cannot install nftables rules' });
    const noNft = await new EgressLock({ id: `nonft${process.pid}`, nft: ['/nonexistent/nft'] }).install();
    assert.deepEqual(noNft, { ok: false, reason: 'nft is not installed (Debian: apt-get install nftables)' });
  });
});
