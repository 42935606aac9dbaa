import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { cliEntry } from '../util/paths.js';

// `trellis up` as a user runs it: a child process, its ready line, Ctrl-C, no orphans.

const APP = `import http from 'node:http';
http.createServer((req, res) => res.end('hello from ' + process.env.TRELLIS_WORKLOAD + '/' + process.env.TRELLIS_REPLICA)).listen(Number(process.env.PORT), '127.0.0.1');
`;

const MESH = (ingressListen: string): string => `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: up-test }
spec:
  trustDomain: up.trellis.local
  controlPlane: { api: 127.0.0.1:0, push: 127.0.0.1:0 }
  drainTimeout: 1s
  ingress:
    - { name: web, listen: ${ingressListen}, service: hello, port: http }
  workloads:
    - name: hello
      command: [node, app.mjs]
      replicas: 2
      ports: [{ name: http }]
`;

interface Up {
  proc: ChildProcess;
  ready: string;
  exit: Promise<{ code: number | null; signal: string | null }>;
  stderr: () => string;
}

function startUp(dir: string): Promise<Up> {
  const proc = spawn(process.execPath, [cliEntry, 'up', dir, '--state-dir', join(dir, 'state')], { cwd: dir, env: { ...process.env, XDG_CONFIG_HOME: join(dir, 'config') }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exit = new Promise<{ code: number | null; signal: string | null }>((r) => proc.once('exit', (code, signal) => r({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line in 30s; stderr:\n${err}`)), 30_000);
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('ready '));
      if (line !== undefined && out.includes('\n')) {
        clearTimeout(timer);
        resolve({ proc, ready: line, exit, stderr: () => err });
      }
    });
    proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    void exit.then((e) => {
      clearTimeout(timer);
      reject(new Error(`up exited early (${String(e.code)}); stderr:\n${err}`));
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function childPids(stateDir: string): number[] {
  const pids = JSON.parse(readFileSync(join(stateDir, 'run', 'pids.json'), 'utf8')) as { children: { pid: number }[] };
  const cp = JSON.parse(readFileSync(join(stateDir, 'control-plane.json'), 'utf8')) as { pid: number };
  return [...pids.children.map((c) => c.pid), cp.pid];
}

describe('trellis up', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-up-'));
    await writeFile(join(dir, 'app.mjs'), APP);
    await writeFile(join(dir, 'trellis.yaml'), MESH('127.0.0.1:0'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('prints one ready line, serves, stops on SIGINT with exit 0 and no orphans, and starts again at once', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const up = await startUp(dir);
      try {
        const m = /^ready api=(http:\/\/127\.0\.0\.1:\d+) dashboard=http:\/\/127\.0\.0\.1:\d+\/dashboard\/\?token=[0-9a-f]{16}\.[\w-]{43} push=(https:\/\/127\.0\.0\.1:\d+) ingress\.web=(http:\/\/127\.0\.0\.1:\d+)$/.exec(up.ready);
        assert.ok(m, `ready line: ${up.ready}`);
        const res = await request(`${m[3]}/`, { headersTimeout: 5000 });
        assert.equal(res.statusCode, 200);
        assert.match(await res.body.text(), /^hello from hello\/[01]$/);
        const pids = childPids(join(dir, 'state'));
        assert.equal(pids.length, 6, 'two apps, three proxies, one control plane');
        // Recorded for the CLI in the per-user config (written right after the ready line).
        const record = join(dir, 'config', 'trellis', 'context.json');
        for (let i = 0; i < 50 && !existsSync(record); i++) await new Promise((r) => setTimeout(r, 100));
        const context = JSON.parse(readFileSync(record, 'utf8')) as { apiUrl: string; pid: number; stateDir: string };
        assert.deepEqual([context.apiUrl, context.pid, context.stateDir], [m[1], up.proc.pid, join(dir, 'state')]);
        up.proc.kill(signal);
        const exit = await up.exit;
        assert.deepEqual(exit, { code: 0, signal: null }, up.stderr());
        assert.equal(existsSync(record), false, 'a stopped up removes its record');
        for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} survived ${signal}`);
      } finally {
        up.proc.kill('SIGKILL');
      }
    }
  });

  it('a fixed port already in use fails before anything runs', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as { port: number }).port;
    const d = await mkdtemp(join(tmpdir(), 'trellis-up-'));
    try {
      await writeFile(join(d, 'app.mjs'), APP);
      await writeFile(join(d, 'trellis.yaml'), MESH(`127.0.0.1:${port}`));
      const up = spawn(process.execPath, [cliEntry, 'up', d, '--state-dir', join(d, 'state')], { env: { ...process.env, XDG_CONFIG_HOME: join(d, 'config') }, stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      up.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const code = await new Promise<number | null>((r) => up.once('exit', r));
      assert.equal(code, 1);
      assert.match(err, new RegExp(`trellis: ingress web listen: 127\\.0\\.0\\.1:${port} is already in use`));
      assert.equal(existsSync(join(d, 'state', 'logs', 'control-plane.log')), false, 'the control plane never started');
    } finally {
      await new Promise((r) => busy.close(r));
      await rm(d, { recursive: true, force: true });
    }
  });
});
