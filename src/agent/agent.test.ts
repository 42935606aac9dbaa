import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { request } from 'undici';
import type { WorkloadView } from '../api/registry.js';
import { parseMeshText } from '../config/load.js';
import { runControlPlane } from '../control/main.js';
import type { TrellisError } from '../errors.js';
import { Agent, type AgentOptions } from './agent.js';
import { pidFilePath } from './pids.js';

// The Agent against a real control plane (in-process) and real proxies (child processes).

const APP = `import http from 'node:http';
let sick = false;
const server = http.createServer((req, res) => {
  if (req.url === '/crash') { res.end('bye'); setImmediate(() => process.exit(3)); return; }
  if (req.url === '/sick') { sick = true; res.end('sick'); return; }
  if (req.url === '/well') { sick = false; res.end('well'); return; }
  if (req.url === '/healthz') { res.statusCode = sick ? 500 : 200; res.end(); return; }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ pid: process.pid, env: process.env, peer: req.headers['trellis-peer-identity'] ?? null }));
});
server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

// Takes its port as an argument (many third-party servers do) and starts listening a few
// dozen frames deep, as frameworks do: without a port argument, Node's error for the NaN port
// comes with a full stack, and the cause is no longer among the log's last lines.
const ARGV_APP = `import http from 'node:http';
function layer(n, port) {
  if (n > 0) return layer(n - 1, port);
  const server = http.createServer((req, res) => res.end(JSON.stringify({ argv: process.argv.slice(2), port: server.address().port })));
  server.listen(Number(port), '127.0.0.1');
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
console.log('starting');
layer(30, process.argv[2]);
`;

function meshText(workloadCommand: string, readiness = '{ periodSeconds: 0.2 }'): string {
  return `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata: { name: agent-test }
spec:
  trustDomain: agent.trellis.local
  certificateTTL: 1h
  drainTimeout: 1s
  controlPlane: { api: 127.0.0.1:0, push: 127.0.0.1:0 }
  ingress:
    - { name: gate, listen: 127.0.0.1:0, service: echo, port: http }
  workloads:
    - name: echo
      command: ${workloadCommand}
      env: { GREETING: hi }
      ports: [{ name: http }]
      readiness: ${readiness}
`;
}

/** The control plane's read token, for GETs on its API (set once it has started). */
let readToken = '';

async function get(url: string): Promise<{ status: number; body: string }> {
  const headers = url.includes('/api/v1/') ? { authorization: `Bearer ${readToken}` } : {};
  const res = await request(url, { headers, headersTimeout: 5000, bodyTimeout: 5000 });
  return { status: res.statusCode, body: await res.body.text() };
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('Agent with a real control plane', () => {
  let dir = '';
  let stateDir = '';
  let cp: { apiUrl: string; pushUrl: string; close(): Promise<void> } | null = null;
  const quiet = pino({ level: 'silent' });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trellis-agent-it-'));
    stateDir = join(dir, 'state');
    await writeFile(join(dir, 'app.mjs'), APP);
    await writeFile(join(dir, 'argv-app.mjs'), ARGV_APP);
    await writeFile(join(dir, 'fail.mjs'), `console.error('cannot open database: /nope'); process.exit(7);\n`);
    cp = await runControlPlane({ stateDir, api: { host: '127.0.0.1', port: 0 }, push: { host: '127.0.0.1', port: 0 }, trustDomain: 'agent.trellis.local', certTtlMs: 3600_000, logLevel: 'silent' });
    readToken = (await readFile(join(stateDir, 'read-token'), 'utf8')).trim();
  });
  after(async () => {
    await cp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const agentFor = (command: string, extra: Partial<AgentOptions> = {}, readiness?: string): Agent => {
    const file = join(dir, `trellis-${Math.random().toString(36).slice(2)}.yaml`);
    const mesh = parseMeshText(meshText(command, readiness), file);
    return new Agent({
      mesh,
      stateDir,
      controlPlaneUrl: (cp as { apiUrl: string }).apiUrl,
      agentId: 'test-agent',
      logger: quiet,
      restartBackoff: { initialMs: 100, maxMs: 400 },
      stopSpreadMs: 100,
      ...extra,
    });
  };

  it('starts, serves through the ingress, restarts a crashed app, stops cleanly', async () => {
    const agent = agentFor('[node, app.mjs]');
    await agent.start();
    try {
      const api = (cp as { apiUrl: string }).apiUrl;
      const [gate] = agent.ingressUrls();
      assert.ok(gate);
      assert.equal(gate.name, 'gate');

      // Registered and ready.
      const workloads = JSON.parse((await get(`${api}/api/v1/workloads`)).body) as WorkloadView[];
      const echo = workloads.find((w) => w.name === 'echo');
      assert.equal(echo?.replicas[0]?.state, 'ready');
      assert.equal(workloads.find((w) => w.name === 'gate')?.ingress, true);

      // Through the ingress proxy, over mTLS, to the app, which got the env the doc promises.
      const first = await until('a response through the ingress', async () => {
        const r = await get(`${gate.url}/hello`);
        return r.status === 200 ? (JSON.parse(r.body) as { pid: number; env: Record<string, string>; peer: string | null }) : undefined;
      });
      assert.equal(first.env.GREETING, 'hi');
      assert.equal(first.env.TRELLIS_WORKLOAD, 'echo');
      assert.equal(first.env.TRELLIS_REPLICA, '0');
      assert.equal(first.env.TRELLIS_IDENTITY, 'spiffe://agent.trellis.local/ns/default/sa/echo');
      assert.equal(first.env.PORT, first.env.PORT_HTTP);
      assert.equal(first.peer, 'spiffe://agent.trellis.local/ns/default/sa/gate');

      const pids = JSON.parse(readFileSync(pidFilePath(stateDir), 'utf8')) as { children: { pid: number; kind: string }[] };
      assert.deepEqual(pids.children.map((c) => c.kind).sort(), ['app', 'proxy', 'proxy']);

      // Crash: reported, restarted with backoff, ready again under a new pid.
      await get(`${gate.url}/crash`).catch(() => undefined);
      await until('the app restarted and ready', async () => {
        const r = agent.report().workloads.find((w) => w.name === 'echo')?.replicas[0];
        return r?.state === 'ready' && r.restarts === 1 ? r : undefined;
      });
      assert.equal(agent.report().workloads.find((w) => w.name === 'echo')?.replicas[0]?.lastExit?.code, 3);
      const second = await until('a response from the new app', async () => {
        const r = await get(`${gate.url}/`);
        const body = r.status === 200 ? (JSON.parse(r.body) as { pid: number }) : undefined;
        return body !== undefined && body.pid !== first.pid ? body : undefined;
      });
      assert.notEqual(second.pid, first.pid);

      const children = agent.report().workloads.flatMap((w) => w.replicas.flatMap((r) => [r.appPid, r.proxyPid])).filter((p): p is number => p !== null);
      assert.equal(children.length, 3);
      await agent.stop();
      for (const pid of children) assert.equal(alive(pid), false, `pid ${pid} still running after stop()`);
      assert.equal(existsSync(pidFilePath(stateDir)), false);
      const after = JSON.parse((await get(`${api}/api/v1/workloads`)).body) as WorkloadView[];
      assert.equal(after.length, 0, 'the agent deregistered');
    } finally {
      await agent.stop();
    }
  });

  it('a failing readiness probe makes the replica unhealthy (out of load balancing) until it passes again', async () => {
    const agent = agentFor('[node, app.mjs]', {}, '{ httpGet: { path: /healthz, port: http }, periodSeconds: 0.1, failureThreshold: 2 }');
    await agent.start();
    try {
      const api = (cp as { apiUrl: string }).apiUrl;
      const boot = JSON.parse(readFileSync(join(stateDir, 'run', 'echo-0.bootstrap.json'), 'utf8')) as { inbound: { app: { port: number } }[] };
      const app = `http://127.0.0.1:${boot.inbound[0]?.app.port}`;
      const endpointReady = async (): Promise<boolean | undefined> =>
        (JSON.parse((await get(`${api}/api/v1/endpoints`)).body) as { workload: string; ready: boolean }[]).find((e) => e.workload === 'echo')?.ready;
      assert.equal(await endpointReady(), true);
      await get(`${app}/sick`);
      await until('unhealthy', async () => (agent.report().workloads[0]?.replicas[0]?.state === 'unhealthy' ? true : undefined));
      await until('the endpoint out of load balancing', async () => ((await endpointReady()) === false ? true : undefined));
      await get(`${app}/well`);
      await until('ready again', async () => (agent.report().workloads[0]?.replicas[0]?.state === 'ready' ? true : undefined));
      await until('the endpoint back', async () => ((await endpointReady()) === true ? true : undefined));
      assert.equal(agent.report().workloads[0]?.replicas[0]?.restarts, 0);
    } finally {
      await agent.stop();
    }
  });

  it('$(PORT) in the command: an app that takes its port as an argument listens on its assigned port', async () => {
    const agent = agentFor('[node, argv-app.mjs, "$(PORT)", "$$(PORT)"]');
    await agent.start();
    try {
      const boot = JSON.parse(readFileSync(join(stateDir, 'run', 'echo-0.bootstrap.json'), 'utf8')) as { inbound: { app: { port: number } }[] };
      const assigned = boot.inbound[0]?.app.port;
      assert.ok(assigned !== undefined && assigned > 0);
      const [gate] = agent.ingressUrls();
      const body = await until('a response through the ingress', async () => {
        const r = await get(`${gate!.url}/`);
        return r.status === 200 ? (JSON.parse(r.body) as { argv: string[]; port: number }) : undefined;
      });
      assert.equal(body.port, assigned);
      assert.deepEqual(body.argv, [String(assigned), '$(PORT)']);
    } finally {
      await agent.stop();
    }
  });

  it('an app that throws at start with a long stack: the error shows the message line, not only stack frames', async () => {
    const agent = agentFor('[node, argv-app.mjs]');
    await assert.rejects(agent.start(), (err: TrellisError) => {
      assert.equal(err.code, 'TRELLIS_E_WORKLOAD_EXITED');
      assert.match(err.message, /^workload echo \(replica 0\) exited during start: exit code 1; the error and the last lines of \S+echo-0\.app\.log:\n/);
      assert.match(err.message, /\n {2}RangeError \[ERR_SOCKET_BAD_PORT\]: .*Received type number \(NaN\)/);
      assert.match(err.message, /\n {2}\.\.\. \(\d+ more lines\)\n/);
      assert.match(err.message, /\n {2}Node\.js v\d+/, 'and the last lines');
      return true;
    });
  });

  it('a missing command is an error naming the workload and the command', async () => {
    const agent = agentFor('[no-such-binary-xyz, --flag]');
    await assert.rejects(agent.start(), (err: TrellisError) => {
      assert.equal(err.code, 'TRELLIS_E_COMMAND_NOT_FOUND');
      assert.match(err.message, /^workload echo: command not found: no-such-binary-xyz/);
      return true;
    });
  });

  it('a workload that exits during start is an error with its exit code and log', async () => {
    const agent = agentFor('[node, fail.mjs]');
    await assert.rejects(agent.start(), (err: TrellisError) => {
      assert.equal(err.code, 'TRELLIS_E_WORKLOAD_EXITED');
      assert.match(err.message, /^workload echo \(replica 0\) exited during start: exit code 7/);
      assert.match(err.message, /cannot open database: \/nope/);
      return true;
    });
    assert.equal(existsSync(pidFilePath(stateDir)), false, 'start() cleaned up after itself');
  });
});
