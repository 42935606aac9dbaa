import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { AppPortLock, commandRunner, lockAvailability, lockTableName } from '../../src/agent/exposure/nft-lock.js';

// The plaintext bypass closed in the kernel, inside two network namespaces this test makes
// (the host's own ruleset is never touched): `app` runs a server on 0.0.0.0 in namespace A;
// namespace B reaches it over a veth pair. With the agent's nftables table in A, B cannot
// connect and A's loopback still can; without it (never installed, or removed) B can.
// Needs root, `ip` and `nft` (.ci/run installs iproute2 and nftables).

const tag = `${process.pid % 100000}`;
const NS_A = `trellis-lock-a-${tag}`;
const NS_B = `trellis-lock-b-${tag}`;
const ADDR_A = '10.250.77.1';
const ADDR_B = '10.250.77.2';
const TABLE = lockTableName(`/tmp/trellis-lock-test-${tag}`);

function missing(): string | false {
  if (process.platform !== 'linux') return 'needs Linux';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces and nftables)';
  for (const [tool, version] of [['ip', '-V'], ['nft', '--version']] as const) {
    try {
      execFileSync(tool, [version], { stdio: 'ignore' });
    } catch {
      return `needs ${tool} (apt-get install ${tool === 'ip' ? 'iproute2' : 'nftables'})`;
    }
  }
  return false;
}
const skip = missing();

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};
const inNs = (ns: string, ...argv: string[]): string[] => ['ip', 'netns', 'exec', ns, ...argv];

let app: ChildProcess | null = null;
let port = 0;
const lock = new AppPortLock(TABLE, commandRunner(['ip', 'netns', 'exec', NS_A]));

before(async () => {
  if (skip !== false) return;
  ip('netns', 'add', NS_A);
  ip('netns', 'add', NS_B);
  ip('link', 'add', `tlka${tag}`, 'type', 'veth', 'peer', 'name', `tlkb${tag}`);
  ip('link', 'set', `tlka${tag}`, 'netns', NS_A);
  ip('link', 'set', `tlkb${tag}`, 'netns', NS_B);
  ip('-n', NS_A, 'addr', 'add', `${ADDR_A}/30`, 'dev', `tlka${tag}`);
  ip('-n', NS_B, 'addr', 'add', `${ADDR_B}/30`, 'dev', `tlkb${tag}`);
  for (const [ns, dev] of [[NS_A, `tlka${tag}`], [NS_B, `tlkb${tag}`]] as const) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', dev, 'up');
  }
  const server = "require('net').createServer((s)=>s.end('hello')).listen(0,'0.0.0.0',function(){console.log(this.address().port)})";
  const [cmd, ...args] = inNs(NS_A, process.execPath, '-e', server) as [string, ...string[]];
  app = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  port = await new Promise<number>((resolve) => app?.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
});

after(async () => {
  if (skip !== false) return;
  await lock.remove().catch(() => {});
  app?.kill('SIGKILL');
  for (const ns of [NS_A, NS_B]) {
    try {
      ip('netns', 'del', ns);
    } catch {
      // already gone
    }
  }
});

/** 'hello' when a connection from `ns` to host:port got the app's greeting, else the error. */
function dial(ns: string, host: string): string {
  const client =
    "const s=require('net').connect({host:process.argv[1],port:+process.argv[2],timeout:1500});let d='';" +
    "s.on('data',(c)=>d+=c);s.on('end',()=>{console.log(d);process.exit(0)});" +
    "s.on('timeout',()=>{console.log('timeout');process.exit(0)});s.on('error',(e)=>{console.log(e.code);process.exit(0)})";
  const [cmd, ...args] = inNs(ns, process.execPath, '-e', client, host, String(port)) as [string, ...string[]];
  return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
}

function tables(): string {
  const [cmd, ...args] = inNs(NS_A, 'nft', 'list', 'tables') as [string, ...string[]];
  return execFileSync(cmd, args, { encoding: 'utf8' });
}

test('without the rules, another namespace reaches the app on 0.0.0.0 (the bypass)', { skip }, () => {
  assert.equal(dial(NS_B, ADDR_A), 'hello');
  assert.equal(dial(NS_A, '127.0.0.1'), 'hello');
});

test("the host allows the lock inside the namespace (root, nft)", { skip }, async () => {
  assert.deepEqual(await lockAvailability(commandRunner(['ip', 'netns', 'exec', NS_A])), { ok: true });
});

test('with the rules, the app port is unreachable from the other namespace; loopback is unaffected; applying twice keeps one table', { skip }, async () => {
  await lock.apply([port]);
  await lock.apply([port]);
  assert.equal(dial(NS_B, ADDR_A), 'timeout');
  assert.equal(dial(NS_A, '127.0.0.1'), 'hello');
  assert.equal(tables().split('\n').filter((l) => l.includes(TABLE)).length, 1);
  assert.deepEqual(lock.lockedPorts, [port]);
});

test('removing the rules (agent stop) deletes the table and opens the port again; removing twice is harmless', { skip }, async () => {
  await lock.remove();
  await lock.remove();
  assert.doesNotMatch(tables(), new RegExp(TABLE));
  assert.equal(dial(NS_B, ADDR_A), 'hello');
  assert.deepEqual(lock.lockedPorts, []);
});
