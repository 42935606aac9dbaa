/**
 * `npm run bench:push-scale`: how fast one control plane gets a change to every proxy it
 * affects, and what that costs it, as the mesh grows.
 *
 * Starts a real control plane (`trellis control-plane`, `--store` passed through), simulated
 * agents that report a mesh (bench/push-scale/topology.ts) over the REST API and renew it
 * every `--heartbeat-ms` like real agents, and simulated proxies (push-scale/client-worker.ts,
 * in `--workers` child processes) holding real mTLS push streams that ACK every snapshot. Then
 * `--changes` changes, one at a time, cycling through four kinds:
 *   endpoint-hot  one replica of svc-000 (called by every workload) turns unhealthy or ready
 *   endpoint      the same for a random other service
 *   route-hot     an HTTPRoute on svc-000 changes (PUT /api/v1/resources)
 *   route         the same for a random other service
 * Each is timed from just before its PUT until every proxy whose snapshot it affects (the
 * callers' replicas, known from the topology) has ACKed a new version; a proxy the change does
 * not affect that gets a snapshot anyway is counted as an extra push. The control plane's RSS
 * is sampled from /proc throughout. Last, unless --no-real-proxy, one real proxy process
 * (`trellis proxy`) whose upstreams cover every cluster gets a snapshot with every endpoint of
 * the mesh: its V8 heap (peak and after a full GC) and how long it takes to apply and ACK a new
 * one (push-scale/heap-probe.ts).
 *
 * Last line: `push-scale proxies=<n> endpoints=<m> change_p50_ms=<x> change_p99_ms=<y> cp_rss_mb=<z>`
 * (with --curve, one such line per size: 100, 300, 1000 proxies).
 *
 * Flags: --proxies N (1000) --endpoints M (10 x proxies) --changes K (40) --workers W (2)
 *   --replicas R (10 per workload) --upstreams U (3 services per workload) --upstream-ports P (2)
 *   --heartbeat-ms MS (5000; 0 = none) --gap-ms MS (300, between changes) --store URL
 *   --curve --no-real-proxy --seed S
 *
 * `--store etcd://host:port[,...][/prefix]`: the control plane keeps its state in that etcd
 * (bring your own, e.g. `etcd --data-dir $(mktemp -d) --listen-client-urls http://127.0.0.1:23790
 * --advertise-client-urls http://127.0.0.1:23790 --listen-peer-urls http://127.0.0.1:23800`).
 * Each run gets a fresh key prefix under the URL's (`<prefix>/push-scale-<proxies>-<random>`),
 * and a CA seal key made for it, so runs and sizes do not see each other's state.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { ProxyBootstrap } from '../src/api/bootstrap.js';
import type { ProxyView } from '../src/api/registry.js';
import { requestCertificate } from '../src/proxy/control-client/certificates.js';
import { cliEntry, packageRoot } from '../src/util/paths.js';
import { killAllSync, outputTail, startChild, stopAll, stopChild } from './children.js';
import { freePort, sleep } from './net-util.js';
import { rssBytes } from './proc.js';
import type { AckEvent, WorkerMessage, WorkerStart } from './push-scale/client-worker.js';
import { prng, Topology } from './push-scale/topology.js';
import { Histogram } from './stats.js';

interface Options {
  proxies: number;
  endpoints: number | null;
  changes: number;
  workers: number;
  replicas: number;
  upstreams: number;
  upstreamPorts: number;
  heartbeatMs: number;
  gapMs: number;
  store: string | null;
  curve: boolean;
  realProxy: boolean;
  seed: number;
  /** Directory for a CPU profile of the control plane (--cp-prof DIR). */
  cpProf: string | null;
}

const KINDS = ['endpoint-hot', 'endpoint', 'route-hot', 'route'] as const;
type Kind = (typeof KINDS)[number];
const TRUST_DOMAIN = 'bench.local';
const LEASE_MS = 15_000;
const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

function parseOptions(argv: string[]): Options {
  const o: Options = { proxies: 1000, endpoints: null, changes: 40, workers: 2, replicas: 10, upstreams: 3, upstreamPorts: 2, heartbeatMs: 5000, gapMs: 300, store: null, curve: false, realProxy: true, seed: 1, cpProf: null };
  const ints: Record<string, keyof Options> = {
    '--proxies': 'proxies',
    '--endpoints': 'endpoints',
    '--changes': 'changes',
    '--workers': 'workers',
    '--replicas': 'replicas',
    '--upstreams': 'upstreams',
    '--upstream-ports': 'upstreamPorts',
    '--heartbeat-ms': 'heartbeatMs',
    '--gap-ms': 'gapMs',
    '--seed': 'seed',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    const key = ints[flag];
    if (key !== undefined) {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a whole number`);
      (o as unknown as Record<string, number>)[key] = n;
    } else if (flag === '--store') o.store = argv[++i] ?? null;
    else if (flag === '--cp-prof') o.cpProf = argv[++i] ?? null;
    else if (flag === '--curve') o.curve = true;
    else if (flag === '--no-real-proxy') o.realProxy = false;
    else throw new Error(`unknown flag ${flag} (see the comment at the top of bench/push-scale.ts)`);
  }
  return o;
}

/** Every ACK the simulated proxies report, and waiters for "these nodes ACKed a version above that". */
class AckBoard {
  readonly last = new Map<string, { version: number; t: number }>();
  readonly log: AckEvent[] = [];
  private waiters: (() => void)[] = [];

  add(items: AckEvent[]): void {
    for (const e of items) {
      this.last.set(e[0], { version: e[1], t: e[2] });
      this.log.push(e);
    }
    for (const w of this.waiters.splice(0)) w();
  }

  async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (Date.now() > deadline) return false;
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100).unref();
      });
    }
    return true;
  }
}

interface RunResult {
  proxies: number;
  endpoints: number;
  snapshotEndpoints: number;
  all: Histogram;
  byKind: Map<Kind, Histogram>;
  affectedByKind: Map<Kind, number>;
  /** Per kind: ms from the change's start until its PUT answered (the control plane answers once compiled and pushed), and until the first ACK. */
  putByKind: Map<Kind, Histogram>;
  firstAckByKind: Map<Kind, Histogram>;
  extraPushes: number;
  timeouts: number;
  cpRssPeakMb: number;
  cpRssSetupMb: number;
  realProxy: RealProxyResult | null;
}

interface RealProxyResult {
  endpoints: number;
  peakHeapMb: number;
  heapAfterGcMb: number;
  rssMb: number;
  applyMs: Histogram;
  cpRssAfterMb: number;
}

async function api(base: string, token: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await request(`${base}${path}`, {
    method: method as 'GET',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${method} ${path} -> ${res.statusCode}: ${text.slice(0, 300)}`);
  return text === '' ? null : (JSON.parse(text) as unknown);
}

/** `--store` for one run: an etcd URL gets a prefix of its own and a seal key for the CA; anything else passes through. */
function storeArgs(store: string, proxies: number, dir: string): string[] {
  if (!store.startsWith('etcd://')) return ['--store', store];
  const m = /^(etcd:\/\/[^/]+)(\/.*)?$/.exec(store);
  const base = (m?.[2] ?? '/trellis').replace(/\/+$/, '');
  const url = `${m?.[1] ?? store}${base}/push-scale-${proxies}-${randomBytes(3).toString('hex')}`;
  const key = join(dir, `seal-${proxies}.key`);
  writeFileSync(key, randomBytes(32), { mode: 0o600 });
  console.error(`[${proxies}] store ${url}`);
  return ['--store', url, '--ca-seal-key-file', key];
}

async function runOnce(o: Options, proxies: number, dir: string): Promise<RunResult> {
  const endpoints = o.endpoints ?? proxies * 10;
  const topo = new Topology({ proxies, endpoints, replicas: o.replicas, upstreams: o.upstreams, upstreamPorts: o.upstreamPorts, workloadsPerHost: 2, seed: o.seed }, TRUST_DOMAIN);
  const stateDir = join(dir, `state-${proxies}`);
  mkdirSync(stateDir, { recursive: true });
  const cpArgs = [cliEntry, 'control-plane', '--state-dir', stateDir, '--api', '127.0.0.1:0', '--push', '127.0.0.1:0', '--trust-domain', TRUST_DOMAIN, '--cert-ttl', '24h', '--log-level', 'warn', '--no-tracing'];
  if (o.store !== null) cpArgs.push(...storeArgs(o.store, proxies, dir));
  if (o.cpProf !== null) cpArgs.unshift('--cpu-prof', '--cpu-prof-dir', o.cpProf);
  const cp = startChild('control-plane', process.execPath, cpArgs);
  let info: { apiUrl: string; pushUrl: string } | null = null;
  for (let i = 0; i < 300 && info === null; i++) {
    try {
      info = JSON.parse(readFileSync(join(stateDir, 'control-plane.json'), 'utf8')) as { apiUrl: string; pushUrl: string };
    } catch {
      if (cp.exitCode !== null) throw new Error(`control plane exited\n${outputTail(cp)}`);
      await sleep(100);
    }
  }
  if (info === null) throw new Error(`control plane not up\n${outputTail(cp)}`);
  const { apiUrl } = info;
  // Agent reports and proxy tokens with the agent's token, resource changes with the admin's
  // (the API's access levels: src/control/api/routes.ts).
  const token = readFileSync(join(stateDir, 'agent-token'), 'utf8').trim();
  const adminToken = readFileSync(join(stateDir, 'admin-token'), 'utf8').trim();
  let rssPeak = 0;
  const sampler = setInterval(() => {
    const r = rssBytes(cp.pid as number);
    if (r !== null && r > rssPeak) rssPeak = r;
  }, 200);

  // Agents: every host's PUTs go through one queue, so a renewal never overtakes a change.
  const hostQueue = new Map<string, Promise<void>>();
  const putHost = (host: string): Promise<void> => {
    const next = (hostQueue.get(host) ?? Promise.resolve()).then(() => api(apiUrl, token, 'PUT', `/api/v1/agents/${host}`, topo.report(host, LEASE_MS)).then(() => {}));
    hostQueue.set(host, next.catch(() => {}));
    return next;
  };
  const queue = [...topo.hosts];
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let h = queue.shift(); h !== undefined; h = queue.shift()) await putHost(h);
  }));
  // Renewals like real agents (each host every heartbeatMs, spread out), from now on: setup
  // takes longer than a lease on a big mesh.
  let renewing = o.heartbeatMs > 0;
  const renewals = o.heartbeatMs > 0
    ? topo.hosts.map((h, i) =>
        setTimeout(function tick() {
          if (!renewing) return;
          void putHost(h).catch(() => {});
          setTimeout(tick, o.heartbeatMs).unref();
        }, (o.heartbeatMs * i) / topo.hosts.length).unref(),
      )
    : [];

  console.error(`[${proxies}] control plane up; ${topo.hosts.length} agents reported ${topo.services.length} workloads, ${topo.nodeCount} proxies, ${topo.endpointCount} endpoints`);

  // One certificate per workload identity, the way a proxy gets one (token, then CSR).
  const certs: WorkerStart['certs'] = {};
  let trustBundlePem: string[] = [];
  let cpIdentity = '';
  let pushUrl = info.pushUrl;
  const svcQueue = [...topo.services];
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let s = svcQueue.shift(); s !== undefined; s = svcQueue.shift()) {
      const t = (await api(apiUrl, token, 'POST', `/api/v1/agents/${s.host}/tokens`, { nodeId: s.nodeIds[0], identity: s.identity })) as { token: string; pushUrl: string; trustBundlePem: string[]; controlPlaneIdentity: string };
      trustBundlePem = t.trustBundlePem;
      cpIdentity = t.controlPlaneIdentity;
      pushUrl = t.pushUrl;
      const boot = { node: { id: s.nodeIds[0], identity: s.identity }, controlPlane: { pushUrl: t.pushUrl, trustBundlePem: t.trustBundlePem, identity: t.controlPlaneIdentity, token: t.token } } as unknown as ProxyBootstrap;
      const issued = await requestCertificate(boot, null, t.trustBundlePem);
      certs[s.identity] = { keyPem: issued.creds.keyPem, certChainPem: issued.creds.certChainPem };
    }
  }));

  // Simulated proxies, spread over the workers.
  const board = new AckBoard();
  const workerPath = fileURLToPath(new URL('./push-scale/client-worker.js', import.meta.url));
  const all = topo.services.flatMap((s) => s.nodeIds.map((nodeId) => ({ nodeId, identity: s.identity })));
  const workers: ChildProcess[] = [];
  const connected: Promise<void>[] = [];
  for (let w = 0; w < o.workers; w++) {
    const child = startChild(`sim-proxies-${w}`, process.execPath, [workerPath], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    workers.push(child);
    connected.push(
      new Promise((resolve, reject) => {
        child.on('message', (m: WorkerMessage) => {
          if (m.type === 'acks') board.add(m.items);
          else if (m.type === 'connected') resolve();
          else reject(new Error(`simulated proxies: ${m.message}`));
        });
        child.once('exit', (code) => reject(new Error(`simulated proxies exited (${code})\n${outputTail(child)}`)));
      }),
    );
    const mine = all.filter((_, i) => i % o.workers === w);
    child.send({ type: 'start', pushUrl, trustBundlePem, cpIdentity, certs, proxies: mine, pingIntervalMs: 5000 } satisfies WorkerStart);
  }
  const t0 = nowMs();
  await Promise.all(connected);
  console.error(`[${proxies}] ${all.length} simulated proxies connected and ACKed their first snapshot in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
  const cpRssSetupMb = (rssBytes(cp.pid as number) ?? 0) / 2 ** 20;

  await sleep(1000);
  const rand = prng(o.seed + 7);
  const others = topo.services.filter((s) => s.name !== 'svc-000' && (topo.callers.get(s.name)?.length ?? 0) > 0);
  const allHist = new Histogram(o.changes);
  const byKind = new Map<Kind, Histogram>(KINDS.map((k) => [k, new Histogram(o.changes)]));
  const affectedByKind = new Map<Kind, number>();
  const putByKind = new Map<Kind, Histogram>(KINDS.map((k) => [k, new Histogram(o.changes)]));
  const firstAckByKind = new Map<Kind, Histogram>(KINDS.map((k) => [k, new Histogram(o.changes)]));
  let extraPushes = 0;
  let timeouts = 0;
  for (let i = 0; i < o.changes; i++) {
    const kind = KINDS[i % KINDS.length] as Kind;
    const target = kind.endsWith('-hot') || others.length === 0 ? 'svc-000' : (others[Math.floor(rand() * others.length)] as (typeof others)[number]).name;
    const expected = topo.callers.get(target) ?? [];
    affectedByKind.set(kind, expected.length);
    const expectedSet = new Set(expected);
    const baseline = new Map(expected.map((n) => [n, board.last.get(n)?.version ?? 0]));
    const logFrom = board.log.length;
    const start = nowMs();
    if (kind.startsWith('endpoint')) await putHost(topo.flip(target, i));
    else await api(apiUrl, adminToken, 'PUT', '/api/v1/resources', { resources: [topo.route(target, i)] });
    putByKind.get(kind)?.record(nowMs() - start);
    const ok = await board.until(() => expected.every((n) => (board.last.get(n)?.version ?? 0) > (baseline.get(n) ?? 0)), 30_000);
    if (!ok) {
      timeouts++;
      console.error(`[${proxies}] change ${i} (${kind} ${target}) not ACKed by every affected proxy within 30 s`);
    } else {
      const times = expected.map((n) => board.last.get(n)?.t ?? start);
      const done = Math.max(...times, start);
      firstAckByKind.get(kind)?.record(Math.min(...times) - start);
      const ms = done - start;
      allHist.record(ms);
      byKind.get(kind)?.record(ms);
    }
    await sleep(o.gapMs);
    for (const e of board.log.slice(logFrom)) if (!expectedSet.has(e[0])) extraPushes++;
  }
  const cpRssPeakMb = rssPeak / 2 ** 20;

  const real = o.realProxy ? await measureRealProxy(topo, apiUrl, token, adminToken, dir, putHost) : null;
  renewing = false;
  for (const t of renewals) clearTimeout(t);
  clearInterval(sampler);
  for (const w of workers) {
    w.send({ type: 'stop' });
    await stopChild(w, 2000);
  }
  await stopChild(cp, 5000);
  return { putByKind, firstAckByKind, proxies: topo.nodeCount, endpoints: topo.endpointCount, snapshotEndpoints: topo.upstreamClusters(topo.services[1] ?? topo.services[0]!).length * o.replicas, all: allHist, byKind, affectedByKind, extraPushes, timeouts, cpRssPeakMb, cpRssSetupMb, realProxy: real ? { ...real, cpRssAfterMb: (rssPeak / 2 ** 20) } : null };
}

/**
 * One real proxy (`trellis proxy`, the agent's node flags) whose workload calls every cluster
 * of the mesh: its snapshot holds every endpoint. Heap from heap-probe.ts; apply time from the
 * PUT of an endpoint change to the control plane seeing its ACK (polled every 20 ms).
 */
async function measureRealProxy(topo: Topology, apiUrl: string, token: string, adminToken: string, dir: string, putHost: (h: string) => Promise<void>): Promise<Omit<RealProxyResult, 'cpRssAfterMb'>> {
  const nodeId = 'default/bigproxy/0';
  const identity = `spiffe://${TRUST_DOMAIN}/ns/default/sa/bigproxy`;
  const clusters = topo.services.flatMap((s) => topo.ports.map((p) => `default/${s.name}:${p}`));
  const report = {
    agentId: 'host-big',
    hostname: 'host-big',
    leaseMs: 600_000,
    workloads: [
      {
        namespace: 'default', name: 'bigproxy', service: 'bigproxy', serviceAccount: 'bigproxy', ports: [], upstreams: clusters, ingress: true,
        replicas: [{ replica: 0, nodeId, state: 'ready', restarts: 0, appPid: null, proxyPid: null, adminUrl: '', endpoints: [], lastExit: null }],
      },
    ],
  };
  await api(apiUrl, token, 'PUT', '/api/v1/agents/host-big', report);
  const t = (await api(apiUrl, token, 'POST', '/api/v1/agents/host-big/tokens', { nodeId, identity })) as { token: string; pushUrl: string; trustBundlePem: string[]; controlPlaneIdentity: string };
  const adminPort = await freePort();
  const boot: ProxyBootstrap = {
    node: { id: nodeId, namespace: 'default', workload: 'bigproxy', service: 'bigproxy', serviceAccount: 'bigproxy', replica: 0, identity },
    controlPlane: { pushUrl: t.pushUrl, trustBundlePem: t.trustBundlePem, identity: t.controlPlaneIdentity, token: t.token },
    admin: { host: '127.0.0.1', port: adminPort },
    inbound: [],
    outbound: [],
    drainTimeoutMs: 1000,
    accessLog: 'off',
    logLevel: 'warn',
  };
  const file = join(dir, 'bigproxy-bootstrap.json');
  writeFileSync(file, JSON.stringify(boot), { mode: 0o600 });
  const probe = fileURLToPath(new URL('./push-scale/heap-probe.js', import.meta.url));
  const proxy = startChild('real-proxy', process.execPath, ['--max-semi-space-size=1', '--expose-gc', '--import', probe, cliEntry, 'proxy', '--bootstrap', file], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const heap = (): Promise<{ peakHeapUsed: number; heapUsedAfterGc: number; rss: number }> =>
    new Promise((resolve) => {
      proxy.once('message', (m: { peakHeapUsed: number; heapUsedAfterGc: number; rss: number }) => resolve(m));
      proxy.send({ type: 'heap' });
    });
  const acked = async (): Promise<number | null> => {
    const list = (await api(apiUrl, adminToken, 'GET', '/api/v1/proxies')) as ProxyView[];
    return list.find((p) => p.nodeId === nodeId)?.ackedVersion ?? null;
  };
  const start = Date.now();
  while ((await acked()) === null) {
    if (proxy.exitCode !== null || Date.now() - start > 60_000) throw new Error(`real proxy did not ACK its first snapshot\n${outputTail(proxy)}`);
    await sleep(100);
  }
  let peak = (await heap()).peakHeapUsed;
  const applyMs = new Histogram(8);
  for (let i = 0; i < 5; i++) {
    const before = (await acked()) ?? 0;
    const t0 = nowMs();
    await putHost(topo.flip(topo.services[i % topo.services.length]!.name, 1000 + i));
    while (((await acked()) ?? 0) <= before) await sleep(20);
    applyMs.record(nowMs() - t0);
    peak = Math.max(peak, (await heap()).peakHeapUsed);
    await sleep(300);
  }
  const final = await heap();
  await stopChild(proxy, 3000);
  return { endpoints: topo.endpointCount, peakHeapMb: Math.max(peak, final.peakHeapUsed) / 2 ** 20, heapAfterGcMb: final.heapUsedAfterGc / 2 ** 20, rssMb: final.rss / 2 ** 20, applyMs };
}

const f1 = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');

function printRun(r: RunResult): void {
  console.log(`\n${r.proxies} proxies, ${r.endpoints} endpoints (a caller's snapshot: ~${r.snapshotEndpoints} endpoints)`);
  console.log('| change | affected proxies | n | p50 ms | p90 ms | p99 ms | max ms | PUT answered, p50 ms | first ACK, p50 ms |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [k, h] of r.byKind) {
    console.log(`| ${k} | ${r.affectedByKind.get(k) ?? 0} | ${h.count} | ${f1(h.percentile(50))} | ${f1(h.percentile(90))} | ${f1(h.percentile(99))} | ${f1(h.max())} | ${f1(r.putByKind.get(k)?.percentile(50) ?? NaN)} | ${f1(r.firstAckByKind.get(k)?.percentile(50) ?? NaN)} |`);
  }
  console.log(`| all | | ${r.all.count} | ${f1(r.all.percentile(50))} | ${f1(r.all.percentile(90))} | ${f1(r.all.percentile(99))} | ${f1(r.all.max())} | | |`);
  console.log(`extra pushes (to proxies a change did not affect): ${r.extraPushes}; changes not ACKed in 30 s: ${r.timeouts}`);
  console.log(`control plane RSS: ${f1(r.cpRssSetupMb)} MB after setup, peak ${f1(r.cpRssPeakMb)} MB during the changes`);
  if (r.realProxy !== null) {
    const p = r.realProxy;
    console.log(`real proxy with every endpoint (${p.endpoints}) in its snapshot: heap peak ${f1(p.peakHeapMb)} MB, ${f1(p.heapAfterGcMb)} MB after GC, RSS ${f1(p.rssMb)} MB; new snapshot applied and ACKed in p50 ${f1(p.applyMs.percentile(50))} / max ${f1(p.applyMs.max())} ms; control plane RSS peak ${f1(p.cpRssAfterMb)} MB`);
  }
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'trellis-push-scale-'));
  process.on('exit', () => {
    killAllSync();
    rmSync(dir, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  const sizes = o.curve ? [100, 300, o.proxies] : [o.proxies];
  const results: RunResult[] = [];
  try {
    for (const n of sizes) {
      const r = await runOnce({ ...o, realProxy: o.realProxy && n === sizes.at(-1), endpoints: o.curve ? null : o.endpoints }, n, dir);
      results.push(r);
      printRun(r);
    }
  } finally {
    await stopAll();
  }
  const out = join(packageRoot, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  const json = results.map((r) => ({
    proxies: r.proxies,
    endpoints: r.endpoints,
    p50: r.all.percentile(50),
    p99: r.all.percentile(99),
    byKind: Object.fromEntries([...r.byKind].map(([k, h]) => [k, { n: h.count, p50: h.percentile(50), p99: h.percentile(99), max: h.max(), affected: r.affectedByKind.get(k) }])),
    extraPushes: r.extraPushes,
    timeouts: r.timeouts,
    cpRssPeakMb: r.cpRssPeakMb,
    realProxy: r.realProxy === null ? null : { ...r.realProxy, applyMs: { p50: r.realProxy.applyMs.percentile(50), max: r.realProxy.applyMs.max() } },
    options: o,
  }));
  writeFileSync(join(out, `push-scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`), JSON.stringify(json, null, 2));
  for (const r of results) {
    console.log(`push-scale proxies=${r.proxies} endpoints=${r.endpoints} change_p50_ms=${f1(r.all.percentile(50))} change_p99_ms=${f1(r.all.percentile(99))} cp_rss_mb=${f1(r.cpRssPeakMb)}`);
  }
  if (results.some((r) => r.timeouts > 0)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exitCode = 1;
});
