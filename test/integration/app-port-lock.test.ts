import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppPortLock, commandRunner, lockAvailability, lockTableName } from '../../src/agent/exposure/nft-lock.js';
import type { CheckReport } from '../../src/api/registry.js';
import { cliEntry } from '../../src/util/paths.js';
import { killLeftovers, parseReadyLine, writeMeshDir } from '../helpers/mesh.js';
import { waitFor } from '../helpers/proc.js';

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
function dial(ns: string, host: string, to = port): string {
  const client =
    "const s=require('net').connect({host:process.argv[1],port:+process.argv[2],timeout:1500});let d='';" +
    "s.on('data',(c)=>d+=c);s.on('end',()=>{console.log(d);process.exit(0)});" +
    "s.on('timeout',()=>{console.log('timeout');process.exit(0)});s.on('error',(e)=>{console.log(e.code);process.exit(0)})";
  const [cmd, ...args] = inNs(ns, process.execPath, '-e', client, host, String(to)) as [string, ...string[]];
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

// The same through the product: `trellis up` runs in namespace A with lockAppPorts, and its app
// listens on 0.0.0.0 (writing its port to a file). The agent locks the port before the app
// starts, check passes naming the lock, and stopping the mesh removes the table.
const WIDE_APP = `import net from 'node:net';
import { writeFileSync } from 'node:fs';
const server = net.createServer((s) => s.end('hello')).listen(Number(process.env.PORT), '0.0.0.0', () => writeFileSync('wide.port', String(server.address().port)));
`;
const LOCK_MESH = `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: it-lock }
spec:
  controlPlane: { api: 127.0.0.1:0, push: 127.0.0.1:0 }
  accessLog: "off"
  mtls: { lockAppPorts: true }
  workloads:
    - { name: wide, command: [node, wide.mjs], ports: [{ name: tcp, protocol: tcp }] }
`;

test('trellis up with lockAppPorts in a namespace: the app on 0.0.0.0 is closed to the other namespace, open on loopback, check passes; stop removes the rules', { skip }, async () => {
  const md = await writeMeshDir({ meshYaml: LOCK_MESH, files: { 'wide.mjs': WIDE_APP } });
  const [cmd, ...args] = inNs(NS_A, process.execPath, cliEntry, 'up', md.dir, '--state-dir', md.stateDir) as [string, ...string[]];
  // \`ip netns exec\` execs node in place: the signal below reaches \`up\` itself
  const up = spawn(cmd, args, { cwd: md.dir, env: { ...process.env, XDG_CONFIG_HOME: join(md.dir, 'config') }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  up.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  up.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
  try {
    const line = await waitFor('the ready line of trellis up', () => stdout.split('\n').find((l) => l.startsWith('ready ')) ?? (up.exitCode !== null ? Promise.reject(new Error(stderr)) : undefined), { timeoutMs: 90_000 });
    const { apiUrl } = parseReadyLine(line);
    const appPort = Number(await waitFor('the app to write its port', () => readFile(join(md.dir, 'wide.port'), 'utf8').catch(() => undefined)));
    assert.equal(dial(NS_B, ADDR_A, appPort), 'timeout', 'the other namespace must not reach the app around its proxy');
    assert.equal(dial(NS_A, '127.0.0.1', appPort), 'hello', 'loopback (the proxy) still reaches it');
    assert.match(tables(), /table inet trellis_lock_[0-9a-f]{12}/);
    const [ccmd, ...cargs] = inNs(NS_A, process.execPath, cliEntry, 'check', '-o', 'json', '--control-plane', apiUrl) as [string, ...string[]];
    const bypass = await waitFor('check to see the app and its lock', () => {
      let out = '';
      try {
        // The credentials `up` recorded for this mesh (as the user's shell would find them).
        out = execFileSync(ccmd, cargs, { encoding: 'utf8', env: { ...process.env, XDG_CONFIG_HOME: join(md.dir, 'config') } });
      } catch (err) {
        out = String((err as { stdout?: string }).stdout ?? '');
      }
      const c = (JSON.parse(out) as CheckReport).checks.find((x) => x.name === 'apps reachable only through their proxy');
      return c !== undefined && /closed by the agent's nftables rules/.test(c.detail) ? c : undefined;
    }, { timeoutMs: 30_000 });
    assert.equal(bypass.ok, true);
  } finally {
    up.kill('SIGTERM');
    const code = await exited;
    await killLeftovers(md.dir);
    assert.equal(code, 0, stderr.slice(-2000));
  }
  assert.doesNotMatch(tables(), /trellis_lock_/, 'the agent removed its table when it stopped');
  await md.cleanup();
});
