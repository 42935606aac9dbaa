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
import { admitToCgroup, confinedArgv, EgressLock } from '../../src/agent/egress-lock/egress-lock.js';

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

/**
 * Runs `node -e` in the namespace (optionally confined to the lock's cgroup, as the agent starts
 * apps: confinedArgv, then admitToCgroup), optionally as another user (an app with a user of its
 * own, src/agent/run-as); resolves to what it printed.
 */
function dial(port: number, cgroupProcs: string | null, user?: number): Promise<string> {
  const script = `const c=require('net').connect(${port},'${OUTSIDE}');c.on('data',d=>{process.stdout.write(String(d));c.destroy()});c.on('error',e=>process.stdout.write(e.code))`;
  const argv = [process.execPath, '-e', script];
  // nsenter execs what it runs (no fork for --net), so the child's pid is the app's.
  const full = [...inNs, ...(user !== undefined ? ['-S', String(user), '-G', String(user)] : []), ...(cgroupProcs !== null ? confinedArgv(argv) : argv)];
  return new Promise((resolve) => {
    const child = spawn(full[0] as string, full.slice(1), { stdio: [cgroupProcs !== null ? 'pipe' : 'ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', () => resolve(out.trim()));
    if (cgroupProcs !== null) admitToCgroup(child, cgroupProcs, (err) => resolve(`not admitted: ${err.message}`));
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
    // An app with a user of its own (the agent is root): it cannot write the root-owned
    // cgroup.procs itself; the agent moves it before it execs, so it is confined all the same.
    assert.equal(await dial(port, lock.cgroupProcs, 65534), 'ECONNREFUSED', 'an app running as nobody is confined too');
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

/**
 * The same through the agent: `trellis up` runs inside the namespace (as root), with
 * registryOnly. The app runs as a user of its own (trellis-app: the mesh folder is open to
 * others), so the agent, not the app, puts it in the cgroup. It tries the outside address
 * itself (refused by the kernel) and through its proxy's egress listener (served), and writes
 * what happened to a file.
 */
const LAB_APP = `import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
const [host, port] = process.env.EGRESS_WEB_ADDR.split(':');
const direct = await new Promise((resolve) => {
  const c = net.connect(Number(process.env.OUTSIDE_PORT), process.env.OUTSIDE_ADDR);
  c.on('connect', () => { c.destroy(); resolve('connected'); });
  c.on('error', (e) => resolve(e.code));
});
let via = null;
for (let i = 0; i < 100 && (via === null || via.status !== 200); i++) {
  via = await new Promise((resolve) => {
    http.get({ host, port: Number(port), path: '/through', headers: { host: 'outside.lab' } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', (e) => resolve({ status: 0, body: e.code }));
  });
  if (via.status !== 200) await new Promise((r) => setTimeout(r, 200));
}
writeFileSync(process.env.RESULT_FILE, JSON.stringify({ direct, via, uid: process.getuid() }));
http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
`;

describe('registryOnly through the agent in a network namespace', { skip: skip ?? false }, () => {
  const ns = `trellis-egm-${process.pid}`;
  const nsenter = ['nsenter', `--net=/var/run/netns/${ns}`];
  const addr = '10.203.1.1';
  const port = 19000 + (process.pid % 1000);
  let server: ReturnType<typeof spawn> | undefined;

  before(async () => {
    execFileSync('ip', ['netns', 'add', ns]);
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['-n', ns, 'addr', 'add', `${addr}/32`, 'dev', 'lo']);
    server = spawn('nsenter', [`--net=/var/run/netns/${ns}`, process.execPath, '-e', `require('http').createServer((q,s)=>s.end('outside saw '+q.headers.host+q.url)).listen(${port},'${addr}',()=>console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => server?.stdout?.once('data', () => resolve()));
  });

  after(() => {
    server?.kill();
    execFileSync('ip', ['netns', 'del', ns]);
  });

  it('the app dialing past its proxy is refused; through the proxy it works; the table is gone after stop', async () => {
    const { startMesh } = await import('../helpers/mesh.js');
    const { readFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { rm } = await import('node:fs/promises');
    // Outside the mesh folder: the app's user may enter that folder but not write in it.
    const resultFile = `${tmpdir()}/trellis-egress-lab-${process.pid}.json`;
    await rm(resultFile, { force: true });
    const mesh = await startMesh({
      wrap: nsenter,
      openToOthers: true,
      env: { ...process.env, OUTSIDE_ADDR: addr, OUTSIDE_PORT: String(port), RESULT_FILE: resultFile },
      meshYaml: `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: it-egress-lab }
spec:
  controlPlane: { api: 127.0.0.1:0, push: 127.0.0.1:0 }
  outbound:
    mode: registryOnly
    ports: [{ name: web, port: ${port}, protocol: http }]
  workloads:
    - name: app
      command: [node, lab.mjs]
      ports: [{ name: http }]
`,
      files: {
        'lab.mjs': LAB_APP,
        'resources/outside.yaml': `apiVersion: trellis.dev/v1alpha1
kind: ExternalService
metadata: { name: outside }
spec: { hostname: outside.lab, port: ${port}, protocol: HTTP, endpoints: [{ address: ${addr} }] }
`,
      },
    });
    try {
      let result: { direct: string; via: { status: number; body: string }; uid: number } | null = null;
      for (let i = 0; i < 300 && result === null; i++) {
        result = await readFile(resultFile, 'utf8').then((t) => JSON.parse(t) as NonNullable<typeof result>, () => null);
        if (result === null) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(result !== null, 'the app wrote its result');
      assert.notEqual(result.uid, 0, 'the app runs as a user of its own (trellis-app), not as the agent');
      assert.equal(result.direct, 'ECONNREFUSED', 'the kernel refuses the app its own outside connection');
      assert.deepEqual(result.via, { status: 200, body: 'outside saw outside.lab/through' });
      const tables = execFileSync('nsenter', [...nsenter.slice(1), 'nft', 'list', 'tables']).toString();
      assert.match(tables, /trellis_egress_/);
    } finally {
      await mesh.stop();
      await rm(resultFile, { force: true });
    }
    const tables = execFileSync('nsenter', [...nsenter.slice(1), 'nft', 'list', 'tables']).toString();
    assert.doesNotMatch(tables, /trellis_egress_/, 'the agent removed its table when it stopped');
  });
});
