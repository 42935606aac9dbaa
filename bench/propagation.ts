/**
 * `npm run bench:propagation`: how fast a route change reaches every proxy.
 *
 * Starts a mesh with `trellis up` (one `echo` service with v1 and v2 subsets, a `client`
 * workload with --clients replicas and a `probe` caller, each with its own proxy), then applies an HTTPRoute whose
 * weights flip between v1 and v2, --changes times. For each change it measures the time from
 * the start of the apply until every proxy has acknowledged the new snapshot (a proxy applies a
 * snapshot before it acknowledges it, so from then on its new requests use the new route):
 *   api  PUT /api/v1/resources (what a program or controller does)
 *   cli  `trellis apply -f <file>` as a child process (includes Node start-up of the CLI)
 * and checks, after the last change, that a request through a client proxy follows the route.
 * Prints p50/p90/p99/max per mode; the last line is `propagation api_p50=.. api_p99=.. cli_p50=.. cli_p99=..` (ms).
 *
 * Flags: --clients <n> (default 8)  --changes <n> per mode (default 40)
 */
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { request } from 'undici';
import type { ProxyView } from '../src/api/registry.js';
import { cliEntry, packageRoot } from '../src/util/paths.js';
import { killAllSync, startChild, stopAll, waitForLine } from './children.js';
import { freePort, sleep } from './net-util.js';
import { Histogram } from './stats.js';

interface Options {
  clients: number;
  changes: number;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { clients: 8, changes: 40 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const n = Number(argv[i + 1]);
    if ((flag === '--clients' || flag === '--changes') && Number.isInteger(n) && n > 0) {
      o[flag === '--clients' ? 'clients' : 'changes'] = n;
      i++;
    } else {
      throw new Error(`unknown or bad flag ${String(flag)} (flags: --clients <n> --changes <n>)`);
    }
  }
  return o;
}

function meshYaml(clients: number, clientPort: number): string {
  const readiness = `
      readiness:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 1`;
  return `apiVersion: trellis.dev/v1alpha1
kind: Mesh
metadata:
  name: propagation
spec:
  trustDomain: bench.trellis.local
  controlPlane: { api: 127.0.0.1:0, push: 127.0.0.1:0 }
  accessLog: off
  services:
    - name: echo-v1
      selector: { app: echo, version: v1 }
    - name: echo-v2
      selector: { app: echo, version: v2 }
  workloads:
    - name: client
      command: [node, http-echo.mjs]
      replicas: ${clients}
      ports: [{ name: http, protocol: http }]${readiness}
      upstreams:
        - service: echo
          port: http
    # One more caller with a fixed outbound port, to check that requests follow the route.
    - name: probe
      command: [node, http-echo.mjs]
      ports: [{ name: http, protocol: http }]${readiness}
      upstreams:
        - service: echo
          port: http
          listen: 127.0.0.1:${clientPort}
    - name: echo-v1
      service: echo
      labels: { version: v1 }
      command: [node, http-echo.mjs]
      ports: [{ name: http, protocol: http }]${readiness}
    - name: echo-v2
      service: echo
      labels: { version: v2 }
      command: [node, http-echo.mjs]
      ports: [{ name: http, protocol: http }]${readiness}
`;
}

function route(v1: number, v2: number): string {
  return `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: flip
spec:
  parentRefs: [{ name: echo }]
  rules:
    - backendRefs:
        - { name: echo-v1, port: 80, weight: ${v1} }
        - { name: echo-v2, port: 80, weight: ${v2} }
`;
}

function routeResource(v1: number, v2: number): unknown {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'flip', namespace: 'default' },
    spec: {
      parentRefs: [{ name: 'echo' }],
      rules: [{ backendRefs: [{ name: 'echo-v1', port: 80, weight: v1 }, { name: 'echo-v2', port: 80, weight: v2 }] }],
    },
  };
}

/** `authorization` with the mesh's admin token (read once `up` has written it). */
let auth: Record<string, string> = {};

async function proxies(apiUrl: string): Promise<ProxyView[]> {
  const res = await request(`${apiUrl}/api/v1/proxies`, { headers: auth });
  return (await res.body.json()) as ProxyView[];
}

/**
 * Polls (every ms, loopback only) until the `callers` proxies whose config the change touched
 * (those given a version above `after`) have all acknowledged it. The echo proxies route
 * nothing, so a route change gives them no new snapshot.
 */
async function allAcked(apiUrl: string, after: number, callers: number, timeoutMs = 30_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const changed = (await proxies(apiUrl)).filter((p) => p.connected && (p.version ?? 0) > after);
    if (changed.length >= callers && changed.every((p) => p.ackedVersion === p.version)) {
      return Math.max(...changed.map((p) => p.version ?? 0));
    }
    if (performance.now() > deadline) throw new Error(`proxies did not acknowledge a version above ${after} within ${timeoutMs} ms`);
    await sleep(1);
  }
}

function runCli(args: string[], cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliEntry, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += String(d)));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(0) : reject(new Error(`trellis ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

function fmt(h: Histogram): string {
  const s = h.summary();
  return `n=${s.count} p50=${s.p50.toFixed(1)} p90=${s.p90.toFixed(1)} p99=${s.p99.toFixed(1)} max=${s.max.toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'trellis-propagation-'));
  process.on('exit', () => {
    killAllSync();
    rmSync(dir, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  try {
    copyFileSync(join(packageRoot, 'test', 'fixtures', 'http-echo.mjs'), join(dir, 'http-echo.mjs'));
    symlinkSync(join(packageRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
    const clientPort = await freePort();
    writeFileSync(join(dir, 'trellis.yaml'), meshYaml(o.clients, clientPort));
    const stateDir = join(dir, 'state');
    const up = startChild('trellis up', process.execPath, [cliEntry, 'up', dir, '--state-dir', stateDir], { cwd: dir });
    const ready = await waitForLine(up, /^ready api=(\S+)/m, 120_000, 'trellis up');
    const apiUrl = ready[1] as string;
    const token = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim();
    auth = { authorization: `Bearer ${token}` };
    const expected = o.clients + 3;
    // Let every proxy connect and settle before measuring.
    let version = 0;
    for (let i = 0; i < 600; i++) {
      const list = (await proxies(apiUrl)).filter((p) => p.connected && p.version === p.ackedVersion);
      if (list.length >= expected) {
        version = Math.max(...list.map((p) => p.ackedVersion ?? 0));
        break;
      }
      await sleep(100);
    }
    console.log(`mesh up: ${expected} proxies (${o.clients} clients, probe, echo-v1, echo-v2); ${o.changes} changes per mode`);

    const api = new Histogram(o.changes);
    const cli = new Histogram(o.changes);
    let flip = 0;
    const next = (): [number, number] => (flip++ % 2 === 0 ? [100, 0] : [0, 100]);
    for (let i = 0; i < o.changes; i++) {
      const [v1, v2] = next();
      const t0 = performance.now();
      const res = await request(`${apiUrl}/api/v1/resources`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ resources: [routeResource(v1, v2)] }),
      });
      if (res.statusCode !== 200) throw new Error(`PUT /api/v1/resources -> ${res.statusCode}: ${await res.body.text()}`);
      await res.body.dump();
      version = await allAcked(apiUrl, version, o.clients + 1);
      api.record(performance.now() - t0);
    }
    const file = join(dir, 'route.yaml');
    for (let i = 0; i < o.changes; i++) {
      const [v1, v2] = next();
      writeFileSync(file, route(v1, v2));
      const t0 = performance.now();
      await runCli(['apply', '-f', file, '--control-plane', apiUrl, '--state-dir', stateDir], dir);
      version = await allAcked(apiUrl, version, o.clients + 1);
      cli.record(performance.now() - t0);
    }
    // The last change flipped to (flip-1)'s weights: a request must follow it.
    const want = (flip - 1) % 2 === 0 ? 'echo-v1' : 'echo-v2';
    const check = await request(`http://127.0.0.1:${clientPort}/check`);
    const served = String(check.headers['x-echo-workload']);
    await check.body.dump();
    if (served !== want) throw new Error(`after the last change a request went to ${served}, expected ${want}`);

    console.log(`api (PUT -> all ${o.clients + 1} calling proxies acked): ${fmt(api)}`);
    console.log(`cli (trellis apply -> all ${o.clients + 1} calling proxies acked): ${fmt(cli)}`);
    const a = api.summary();
    const c = cli.summary();
    console.log(`propagation api_p50=${a.p50.toFixed(1)} api_p99=${a.p99.toFixed(1)} cli_p50=${c.p50.toFixed(1)} cli_p99=${c.p99.toFixed(1)}`);
  } finally {
    await stopAll();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
